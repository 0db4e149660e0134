//! OpenAI-compatible streams: Server-Sent Events framing and chunk decoding.
//!
//! The body is split into lines by the same [`LineSplitter`](super::ndjson::LineSplitter)
//! as Ollama's NDJSON (so an event spanning reads, or a character split across reads,
//! arrives whole, and a line past the bound is an error). [`decode_sse_line`] then reads
//! one line: `data: {json}` (a chunk), `data: [DONE]` (the end), `error: …` (llama.cpp's
//! older mid-stream error line), comments (`: …`) and the other SSE fields (`event`,
//! `id`, `retry`), which carry nothing the harness records.
//!
//! [`SseDecoder`] decodes a stream's lines as [`decode_sse_line`] does, faster for a
//! `data:` line that repeats the shape of one before it (see
//! [`StreamDecoder`](super::ndjson::StreamDecoder), which does the same for NDJSON).
//!
//! Limitation, on purpose: each `data:` line is decoded on its own. SSE allows one event's
//! data to span several `data:` lines (joined by `\n`); no OpenAI-compatible server splits
//! a JSON chunk that way, and such a stream is reported as a malformed line, never
//! silently misread.

use std::borrow::Cow;

use serde::Deserialize;

use super::call::{LlamaTimings, Usage};
use super::ndjson::{borrowed_opt_str, keep_spare, DecodeError};
use crate::plain_json::{self, Kept, Skeleton, Unfit, SKELETON_MAX_STRINGS};

/// One decoded SSE line.
#[derive(Debug)]
pub enum SseLine<'a> {
    /// A `data:` line holding a chunk.
    Chunk(OpenAiChunk<'a>),
    /// `data: [DONE]`: the stream is complete.
    Done,
    /// A server error: a `data:` payload with a non-null `error`, or an `error:` line.
    Error(String),
    /// A comment or another SSE field (`event`, `id`, `retry`): nothing to record.
    Other,
}

/// One OpenAI-compatible stream chunk (`chat.completion.chunk` or `text_completion`),
/// borrowing its text from the line.
#[derive(Debug, Default, Deserialize)]
pub struct OpenAiChunk<'a> {
    /// The choices; the harness asks for one (`n` = 1). Empty in the usage chunk.
    #[serde(borrow, default)]
    pub choices: Option<Vec<Choice<'a>>>,
    /// Token counts (the last chunk, with `stream_options.include_usage`).
    #[serde(default)]
    pub usage: Option<Usage>,
    /// llama.cpp's server timings.
    #[serde(default)]
    pub timings: Option<LlamaTimings>,
    /// A server error object (`{"message": …}`) or string.
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

/// One element of `choices`.
#[derive(Debug, Default, Deserialize)]
pub struct Choice<'a> {
    /// `/v1/completions` text piece.
    #[serde(borrow, default, deserialize_with = "borrowed_opt_str")]
    pub text: Option<Cow<'a, str>>,
    /// `/v1/chat/completions` delta.
    #[serde(borrow, default)]
    pub delta: Option<Delta<'a>>,
    /// Why generation stopped (stop | length | …), on the last content chunk.
    #[serde(borrow, default, deserialize_with = "borrowed_opt_str")]
    pub finish_reason: Option<Cow<'a, str>>,
}

/// The `delta` of a chat chunk.
#[derive(Debug, Default, Deserialize)]
pub struct Delta<'a> {
    /// Text piece.
    #[serde(borrow, default, deserialize_with = "borrowed_opt_str")]
    pub content: Option<Cow<'a, str>>,
    /// Reasoning text (llama.cpp, vLLM: `reasoning_content`); recorded apart.
    #[serde(borrow, default, deserialize_with = "borrowed_opt_str")]
    pub reasoning_content: Option<Cow<'a, str>>,
}

impl<'a> OpenAiChunk<'a> {
    fn first(&self) -> Option<&Choice<'a>> {
        self.choices.as_ref()?.first()
    }

    /// The content text of the first choice (completion `text` or chat
    /// `delta.content`), or `""`.
    pub fn content(&self) -> &str {
        let Some(c) = self.first() else { return "" };
        if let Some(t) = &c.text {
            return t;
        }
        c.delta
            .as_ref()
            .and_then(|d| d.content.as_deref())
            .unwrap_or("")
    }

    /// The reasoning text of the first choice, or `""`.
    pub fn reasoning(&self) -> &str {
        self.first()
            .and_then(|c| c.delta.as_ref())
            .and_then(|d| d.reasoning_content.as_deref())
            .unwrap_or("")
    }

    /// The first choice's `finish_reason`, when set.
    pub fn finish_reason(&self) -> Option<&str> {
        self.first()?.finish_reason.as_deref()
    }
}

/// The message of an error value: a string, or an object's `message` (else the object
/// as JSON).
pub fn error_message(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(o) => match o.get("message").and_then(|m| m.as_str()) {
            Some(m) => m.to_string(),
            None => v.to_string(),
        },
        other => other.to_string(),
    }
}

/// Decodes one SSE line (without its line terminator; empty lines never reach it).
/// Never panics on any input.
pub fn decode_sse_line(line: &[u8]) -> Result<SseLine<'_>, DecodeError> {
    if line.first() == Some(&b':') {
        return Ok(SseLine::Other);
    }
    let (field, value) = match memchr::memchr(b':', line) {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &line[line.len()..]),
    };
    let value = value.strip_prefix(b" ").unwrap_or(value);
    match field {
        b"data" => {
            if value.trim_ascii() == b"[DONE]" {
                return Ok(SseLine::Done);
            }
            let chunk: OpenAiChunk<'_> =
                serde_json::from_slice(value).map_err(|e| match std::str::from_utf8(value) {
                    Err(u) => DecodeError::InvalidUtf8 {
                        valid_up_to: u.valid_up_to() + (line.len() - value.len()),
                    },
                    Ok(_) => DecodeError::Malformed(e.to_string()),
                })?;
            match &chunk.error {
                Some(v) if !v.is_null() => Ok(SseLine::Error(error_message(v))),
                _ => Ok(SseLine::Chunk(chunk)),
            }
        }
        b"error" => {
            let text = String::from_utf8_lossy(value);
            let message = serde_json::from_slice::<serde_json::Value>(value)
                .map(|v| error_message(v.get("error").unwrap_or(&v)))
                .unwrap_or_else(|_| text.trim().to_string());
            Ok(SseLine::Error(message))
        }
        b"event" | b"id" | b"retry" => Ok(SseLine::Other),
        _ => Err(DecodeError::Malformed(format!(
            "not a Server-Sent Events line (field {:?}; expected data:, event:, id:, retry: or a comment)",
            String::from_utf8_lossy(&field[..field.len().min(40)])
        ))),
    }
}

/// Decodes the lines of one OpenAI-compatible stream, in order.
///
/// Guarantee: every line gets exactly [`decode_sse_line`]'s value or error, text
/// fields borrowed or owned alike, whatever lines came before it. After a `data:`
/// chunk has been decoded by serde_json, its shape is kept when it has one a later
/// line can repeat: the payload is plain JSON with every string borrowed (at most
/// `plain_json::SKELETON_MAX_STRINGS`), no `error`, at most one choice, and each text field
/// the chunk keeps is one of those strings. A later line with the same bytes outside
/// those strings' contents, and in each of them a string the plain reader accepts,
/// is then the same JSON with other strings (`plain_json::Skeleton`); serde's
/// derived decoding of these types reads a string's contents only into the text
/// fields (no field is an enum or a `Value` once `error` is absent), and the plain
/// reader unescapes a string as serde_json does, so filling the kept fields with
/// the new strings gives serde_json's result. (Where the plain reader is stricter,
/// a lone surrogate in a field serde_json skips unread, the line does not fit and
/// serde_json reads it.) It holds no allocation but, once given one back by
/// [`SseDecoder::recycle`], one `String` of at most
/// [`StreamDecoder::SPARE_MAX`](super::ndjson::StreamDecoder::SPARE_MAX) bytes to
/// unescape a later line's text into. A stream whose lines never
/// repeat a shape (a field that changes at every chunk) stops keeping shapes after
/// [`SseDecoder::GIVE_UP`] kept in a row without a line fitting one.
#[derive(Default)]
pub struct SseDecoder {
    shape: Option<SseShape>,
    /// Shapes kept since a line last fitted one.
    kept_in_vain: u8,
    given: Given,
}

/// What [`SseDecoder::recycle`] took back for later lines.
#[derive(Default)]
struct Given {
    /// A text's `String` to unescape the next escaped text into.
    text: Option<String>,
    /// A chunk's `choices` list, emptied: the next kept line's list goes into its
    /// allocation instead of a new one (one allocation and free a line less).
    choices: Vec<Choice<'static>>,
}

impl SseDecoder {
    /// Shapes kept in a row without a fitting line, after which no more are kept.
    pub const GIVE_UP: u8 = 8;

    /// A decoder that has seen no line.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes back the text `chunk` unescaped into a `String` of its own (its first
    /// choice's `text`, else its delta's `content`), as
    /// [`StreamDecoder::recycle`](super::ndjson::StreamDecoder::recycle), and its
    /// `choices` list, emptied, for the next kept line's list.
    pub fn recycle(&mut self, chunk: OpenAiChunk<'_>) {
        let Some(mut choices) = chunk.choices else {
            return;
        };
        if let Some(choice) = choices.drain(..).next() {
            let content = choice.delta.and_then(|d| d.content);
            keep_spare(&mut self.given.text, choice.text.or(content));
        }
        self.given.choices = emptied(choices);
    }

    /// Decodes `line` as [`decode_sse_line`] does.
    pub fn decode<'a>(&mut self, line: &'a [u8]) -> Result<SseLine<'a>, DecodeError> {
        let given = &mut self.given;
        if let Some(chunk) = self
            .shape
            .as_ref()
            .and_then(|shape| shape.read(line, given))
        {
            self.kept_in_vain = 0;
            return Ok(SseLine::Chunk(chunk));
        }
        let decoded = decode_sse_line(line)?;
        if let SseLine::Chunk(chunk) = &decoded {
            if self.kept_in_vain < Self::GIVE_UP {
                if let Some(shape) = SseShape::new(line, chunk) {
                    self.shape = Some(shape);
                    self.kept_in_vain += 1;
                }
            }
        }
        Ok(decoded)
    }

    /// Whether `line` fits the kept shape (for the tests that check which lines
    /// take which path).
    #[cfg(test)]
    fn fits(&self, line: &[u8]) -> bool {
        self.shape
            .as_ref()
            .is_some_and(|s| s.read(line, &mut Given::default()).is_some())
    }
}

/// Where one open string of a kept chunk goes.
#[derive(Clone, Copy, Default)]
enum SseTarget {
    #[default]
    Nowhere,
    Text,
    Content,
    Reasoning,
    FinishReason,
}

/// A kept `data:` line: its prefix (`data:` or `data: `), the skeleton of its
/// payload, where each string went and what the fixed text decoded to.
struct SseShape {
    prefix: [u8; 6],
    prefix_len: usize,
    skeleton: Skeleton,
    /// The open strings the chunk keeps and the field each fills.
    kept: Kept<SseTarget>,
    /// `None`: no `choices`; `Some(None)`: an empty list; `Some(Some(delta))`: one
    /// choice, with a `delta` object or not.
    choices: Option<Option<bool>>,
    usage: Option<Usage>,
    timings: Option<LlamaTimings>,
}

impl SseShape {
    /// The shape of `line`, which [`decode_sse_line`] decoded to `chunk`; `None`
    /// when it is not one a later line can repeat (see [`SseDecoder`]).
    fn new(line: &[u8], chunk: &OpenAiChunk<'_>) -> Option<Self> {
        let prefix_len = if line.starts_with(b"data: ") {
            6
        } else if line.starts_with(b"data:") {
            5
        } else {
            return None;
        };
        if chunk.error.is_some() {
            return None;
        }
        let payload = &line[prefix_len..];
        let spans = plain_json::string_spans(payload)?;
        let spans = spans.as_slice();
        let skeleton = Skeleton::new(payload, spans)?;
        let mut kept = Kept::new();
        let choices = match chunk.choices.as_deref() {
            None => None,
            Some([]) => Some(None),
            Some([choice]) => {
                let delta = choice.delta.as_ref();
                let fields = [
                    (&choice.text, SseTarget::Text),
                    (delta.map_or(&None, |d| &d.content), SseTarget::Content),
                    (
                        delta.map_or(&None, |d| &d.reasoning_content),
                        SseTarget::Reasoning,
                    ),
                    (&choice.finish_reason, SseTarget::FinishReason),
                ];
                for (field, target) in fields {
                    if let Some(text) = field {
                        kept.push(plain_json::span_of(payload, spans, text)?, target)?;
                    }
                }
                Some(Some(delta.is_some()))
            }
            Some(_) => return None,
        };
        let mut prefix = [0; 6];
        prefix[..prefix_len].copy_from_slice(&line[..prefix_len]);
        Some(SseShape {
            prefix,
            prefix_len,
            skeleton,
            kept,
            choices,
            usage: chunk.usage.clone(),
            timings: chunk.timings.clone(),
        })
    }

    /// The chunk of `line` if it fits this shape, in what `given` holds.
    fn read<'a>(&self, line: &'a [u8], given: &mut Given) -> Option<OpenAiChunk<'a>> {
        let payload = line.strip_prefix(&self.prefix[..self.prefix_len])?;
        let mut texts = [""; SKELETON_MAX_STRINGS];
        match self.skeleton.fit(payload, &mut texts) {
            Ok(()) => self.fill(&mut texts, &mut given.choices),
            Err(Unfit::NotPlain { place, at }) => {
                self.read_unescaping(payload, texts, (place, at), given)
            }
            Err(Unfit::Differs) => None,
        }
    }

    /// [`SseShape::read`] for a payload whose open string at `from` (as the plain
    /// fit left it, with `plain` the strings before it) is not plain. The first
    /// escaped text goes into `given`'s `String` if it holds one.
    #[cold]
    #[inline(never)]
    fn read_unescaping<'a>(
        &self,
        payload: &'a [u8],
        plain: [&'a str; SKELETON_MAX_STRINGS],
        from: (usize, usize),
        given: &mut Given,
    ) -> Option<OpenAiChunk<'a>> {
        let mut texts = plain.map(Cow::Borrowed);
        self.skeleton
            .fit_unescaping(payload, &mut texts, from, &mut given.text)?;
        self.fill(&mut texts, &mut given.choices)
    }

    /// The kept chunk, the kept texts taken out of `texts`, its choice in the
    /// allocation of `list` (taken) when it has one.
    #[inline(always)]
    fn fill<'a, T: Into<Cow<'a, str>> + Default>(
        &self,
        texts: &mut [T; SKELETON_MAX_STRINGS],
        list: &mut Vec<Choice<'static>>,
    ) -> Option<OpenAiChunk<'a>> {
        let choices = match self.choices {
            None => None,
            Some(None) => Some(Vec::new()),
            Some(Some(delta)) => {
                let mut choice = Choice {
                    delta: delta.then(Delta::default),
                    ..Choice::default()
                };
                for (place, target) in self.kept.iter() {
                    let text = Some(std::mem::take(&mut texts[place]).into());
                    match target {
                        SseTarget::Nowhere => {}
                        SseTarget::Text => choice.text = text,
                        SseTarget::Content => choice.delta.as_mut()?.content = text,
                        SseTarget::Reasoning => choice.delta.as_mut()?.reasoning_content = text,
                        SseTarget::FinishReason => choice.finish_reason = text,
                    }
                }
                let mut choices: Vec<Choice<'a>> = std::mem::take(list);
                choices.push(choice);
                Some(choices)
            }
        };
        Some(OpenAiChunk {
            choices,
            usage: self.usage.clone(),
            timings: self.timings.clone(),
            error: None,
        })
    }
}

/// `list` emptied, as a list of another lifetime, in the same allocation: an
/// emptied `Vec`'s items collected through an adapter into a `Vec` of a type of
/// the same size and alignment reuse its buffer (std's in-place collection), so
/// nothing is allocated or freed here.
// `filter(|_| false)`, which clippy suggests, keeps the lifetime: the point here is
// the other item type.
#[allow(clippy::unnecessary_filter_map)]
fn emptied(list: Vec<Choice<'_>>) -> Vec<Choice<'static>> {
    list.into_iter().filter_map(|_| None).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(line: &[u8]) -> OpenAiChunk<'_> {
        match decode_sse_line(line).unwrap() {
            SseLine::Chunk(c) => c,
            other => panic!("not a chunk: {other:?}"),
        }
    }

    #[test]
    fn a_recycled_text_is_unescaped_into() {
        let mut decoder = SseDecoder::new();
        let plain = br#"data: {"choices":[{"index":0,"delta":{"content":"a"}}]}"#;
        decoder.decode(plain).unwrap();
        let mut given = String::with_capacity(3000);
        given.push_str("old");
        decoder.recycle(OpenAiChunk {
            choices: Some(vec![Choice {
                text: None,
                delta: Some(Delta {
                    content: Some(Cow::Owned(given)),
                    ..Delta::default()
                }),
                finish_reason: None,
            }]),
            ..OpenAiChunk::default()
        });
        let escaped = br#"data: {"choices":[{"index":0,"delta":{"content":"a\"b"}}]}"#;
        let SseLine::Chunk(c) = decoder.decode(escaped).unwrap() else {
            panic!("not a chunk");
        };
        assert_eq!(c.content(), "a\"b");
        let delta = c.choices.as_ref().unwrap()[0].delta.as_ref().unwrap();
        match &delta.content {
            Some(Cow::Owned(text)) => assert!(text.capacity() >= 3000, "{}", text.capacity()),
            other => panic!("not unescaped into an owned text: {other:?}"),
        }
    }

    #[test]
    fn a_recycled_choices_list_holds_the_next_kept_lines_choice() {
        let mut decoder = SseDecoder::new();
        let first = br#"data: {"choices":[{"index":0,"delta":{"content":"a"}}]}"#;
        decoder.decode(first).unwrap();
        let SseLine::Chunk(c) = decoder.decode(first).unwrap() else {
            panic!("not a chunk");
        };
        let at = c.choices.as_ref().unwrap().as_ptr() as usize;
        decoder.recycle(c);
        let second = br#"data: {"choices":[{"index":0,"delta":{"content":"bc"}}]}"#;
        let SseLine::Chunk(c) = decoder.decode(second).unwrap() else {
            panic!("not a chunk");
        };
        assert_eq!(c.content(), "bc");
        let choices = c.choices.as_ref().unwrap();
        assert_eq!(choices.len(), 1);
        assert_eq!(choices.as_ptr() as usize, at, "the list was not reused");
        // A chunk without choices leaves the kept list as it is.
        decoder.recycle(c);
        decoder.recycle(OpenAiChunk::default());
        let SseLine::Chunk(c) = decoder.decode(second).unwrap() else {
            panic!("not a chunk");
        };
        assert_eq!(c.choices.as_ref().unwrap().as_ptr() as usize, at);
    }

    #[test]
    fn decodes_chat_completion_usage_and_timings() {
        let c = chunk(
            br#"data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}"#,
        );
        assert_eq!(c.content(), "hi");
        assert!(matches!(
            c.choices.as_ref().unwrap()[0]
                .delta
                .as_ref()
                .unwrap()
                .content,
            Some(Cow::Borrowed(_))
        ));
        assert_eq!(c.finish_reason(), None);
        let c = chunk(br#"data:{"choices":[{"text":"a\nb","index":0,"finish_reason":"length"}]}"#);
        assert_eq!(c.content(), "a\nb");
        assert_eq!(c.finish_reason(), Some("length"));
        let c = chunk(
            br#"data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13},"timings":{"prompt_n":9,"prompt_ms":12.5,"predicted_n":4,"predicted_ms":40.25,"predicted_per_second":99.4}}"#,
        );
        assert_eq!(c.content(), "");
        assert_eq!(c.usage.as_ref().unwrap().completion_tokens, Some(4));
        let t = c.timings.unwrap();
        assert_eq!((t.prompt_n, t.predicted_n), (Some(9), Some(4)));
        assert_eq!(t.predicted_ms, Some(40.25));
        let c = chunk(br#"data: {"choices":[{"delta":{"reasoning_content":"hmm"}}]}"#);
        assert_eq!((c.content(), c.reasoning()), ("", "hmm"));
    }

    #[test]
    fn done_errors_comments_and_other_fields() {
        assert!(matches!(
            decode_sse_line(b"data: [DONE]").unwrap(),
            SseLine::Done
        ));
        assert!(matches!(
            decode_sse_line(b"data:[DONE] ").unwrap(),
            SseLine::Done
        ));
        assert!(matches!(
            decode_sse_line(b": keep-alive").unwrap(),
            SseLine::Other
        ));
        assert!(matches!(
            decode_sse_line(b"event: message").unwrap(),
            SseLine::Other
        ));
        match decode_sse_line(br#"data: {"error":{"message":"boom","type":"server_error"}}"#) {
            Ok(SseLine::Error(m)) => assert_eq!(m, "boom"),
            other => panic!("{other:?}"),
        }
        match decode_sse_line(br#"error: {"code":500,"message":"kv cache full"}"#) {
            Ok(SseLine::Error(m)) => assert_eq!(m, "kv cache full"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode_sse_line(br#"data: {"choices":[],"error":null}"#).unwrap(),
            SseLine::Chunk(_)
        ));
    }

    /// Everything a decode result says, whether each text field borrows included.
    fn view(r: &Result<SseLine<'_>, DecodeError>) -> String {
        let borrowed = |c: &Option<Cow<'_, str>>| matches!(c, Some(Cow::Borrowed(_)));
        let flags = match r {
            Ok(SseLine::Chunk(c)) => c
                .choices
                .iter()
                .flatten()
                .map(|ch| {
                    let d = ch.delta.as_ref();
                    (
                        borrowed(&ch.text),
                        borrowed(&ch.finish_reason),
                        d.map(|d| (borrowed(&d.content), borrowed(&d.reasoning_content))),
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        format!("{r:?} {flags:?}")
    }

    /// Asserts that a decoder that has just decoded `before` says about `line` what
    /// `decode_sse_line` says.
    fn same_after(before: &[u8], line: &[u8]) {
        let mut decoder = SseDecoder::new();
        let _ = decoder.decode(before);
        assert_eq!(
            view(&decoder.decode(line)),
            view(&decode_sse_line(line)),
            "line {:?} after {:?}",
            String::from_utf8_lossy(line),
            String::from_utf8_lossy(before)
        );
    }

    /// The stub's completion and chat streams (1000 chunks each, the escapes of its
    /// text included), each through one decoder.
    fn stub_lines(path: &str) -> Vec<Vec<u8>> {
        let responder = crate::stub::OllamaResponder::new(
            crate::stub::StubProfile::default().with_chunks(1000),
        )
        .unwrap();
        let body = if path.ends_with("chat/completions") {
            r#"{"model":"gemma3:latest","messages":[{"role":"user","content":"x"}],"stream":true}"#
        } else {
            r#"{"model":"gemma3:latest","prompt":"x","stream":true}"#
        };
        let reply = responder.handle("POST", path, body.as_bytes());
        assert_eq!(reply.status, 200);
        reply
            .body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    }

    #[test]
    fn streams_decode_as_line_by_line_and_repeated_shapes_fit() {
        for path in ["/v1/completions", "/v1/chat/completions"] {
            let lines = stub_lines(path);
            let mut decoder = SseDecoder::new();
            let mut fitted = 0;
            for line in &lines {
                fitted += usize::from(decoder.fits(line));
                assert_eq!(view(&decoder.decode(line)), view(&decode_sse_line(line)));
            }
            let first_plain = lines.iter().position(|l| !l.contains(&b'\\')).unwrap();
            assert!(lines[first_plain + 1..].iter().any(|l| l.contains(&b'\\')));
            // Every line after the first plain one, escaped text included, but the
            // final chunk (its finish_reason), the usage chunk and `data: [DONE]`.
            assert_eq!(fitted, lines.len() - first_plain - 4, "{path}");
        }
        let first = br#"data: {"id":"a","created":1,"choices":[{"index":0,"text":"x","finish_reason":null}]}"#;
        let mut decoder = SseDecoder::new();
        decoder.decode(first).unwrap();
        for (line, fits) in [
            (&br#"data: {"id":"b","created":1,"choices":[{"index":0,"text":"","finish_reason":null}]}"#[..], true),
            (br#"data: {"id":"a","created":2,"choices":[{"index":0,"text":"x","finish_reason":null}]}"#, false),
            (br#"data: {"id":"a","created":1,"choices":[{"index":0,"text":"x","finish_reason":"stop"}]}"#, false),
            (br#"data: {"id":"a","created":1,"choices":[{"index":0,"text":"x\n","finish_reason":null}]}"#, true),
            (br#"data: {"id":"a","created":1,"choices":[{"index":0,"text":"x\q","finish_reason":null}]}"#, false),
            (br#"data: {"id":"a","created":1,"choices":[{"index":0,"text":"x\"}","finish_reason":null}]}"#, true),
            (br#"data:{"id":"a","created":1,"choices":[{"index":0,"text":"x","finish_reason":null}]}"#, false),
            (br#"event: {"id":"a","created":1,"choices":[{"index":0,"text":"x","finish_reason":null}]}"#, false),
        ] {
            assert_eq!(decoder.fits(line), fits, "{}", String::from_utf8_lossy(line));
            same_after(first, line);
        }
        // A field that changes at every chunk: shapes stop being kept, lines still
        // decode as line by line.
        let mut decoder = SseDecoder::new();
        for created in 0..20 {
            let line = format!(r#"data: {{"created":{created},"choices":[{{"text":"x"}}]}}"#);
            assert_eq!(
                view(&decoder.decode(line.as_bytes())),
                view(&decode_sse_line(line.as_bytes()))
            );
        }
        assert_eq!(decoder.kept_in_vain, SseDecoder::GIVE_UP);
    }

    /// Bytes a mutation inserts: JSON's structure, escapes, digits, letters of the
    /// literals and of `data`, whitespace, control and non-UTF-8 bytes.
    const ALPHABET: &[u8] = b"{}[]\":,\\/ \t0123456789-.etrufalsndDA[]\x00\x1f\xc3\xa9\xff";

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn mutated_lines_decode_as_line_by_line_after_their_base(
            base in proptest::sample::select(vec![
                r#"data: {"id":"cmpl-1","object":"text_completion","created":1796436097,"model":"m","choices":[{"index":0,"text":" benchmark corpus","finish_reason":null}]}"#,
                r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hé😀","reasoning_content":"r"},"finish_reason":null}]}"#,
                r#"data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13},"timings":{"prompt_n":9,"prompt_ms":12.5}}"#,
                r#"data:{"choices":[{"text":"a","finish_reason":"length","logprobs":{"tokens":["a"]}}],"error":null}"#,
            ]),
            edits in proptest::collection::vec(
                (0..4u8, proptest::prelude::any::<usize>(), proptest::sample::select(ALPHABET)),
                1..4,
            ),
        ) {
            let mut line = base.as_bytes().to_vec();
            for (kind, at, byte) in edits {
                let i = at % (line.len() + 1);
                match kind {
                    0 if i < line.len() => { line.remove(i); }
                    1 => line.insert(i, byte),
                    2 if i < line.len() => line[i] = byte,
                    3 => line.truncate(i),
                    _ => {}
                }
            }
            same_after(base.as_bytes(), &line);
            same_after(&line, &line);
        }
    }

    #[test]
    fn bad_lines_are_classified() {
        assert!(matches!(
            decode_sse_line(br#"{"response":"x","done":false}"#),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            decode_sse_line(b"data: {\"choices\":"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            decode_sse_line(b"data: {\"choices\":[{\"text\":\"\xff\"}]}"),
            Err(DecodeError::InvalidUtf8 { .. })
        ));
        assert!(matches!(
            decode_sse_line(br#"data: {"choices":[{"text":5}]}"#),
            Err(DecodeError::Malformed(_))
        ));
    }
}
