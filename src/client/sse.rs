//! OpenAI-compatible streams: Server-Sent Events framing and chunk decoding.
//!
//! The body is split into lines by the same [`LineSplitter`](super::ndjson::LineSplitter)
//! as Ollama's NDJSON (so an event spanning reads, or a character split across reads,
//! arrives whole, and a line past the bound is an error). [`decode_sse_line`] then reads
//! one line: `data: {json}` (a chunk), `data: [DONE]` (the end), `error: …` (llama.cpp's
//! older mid-stream error line), comments (`: …`) and the other SSE fields (`event`,
//! `id`, `retry`), which carry nothing the harness records.
//!
//! Limitation, on purpose: each `data:` line is decoded on its own. SSE allows one event's
//! data to span several `data:` lines (joined by `\n`); no OpenAI-compatible server splits
//! a JSON chunk that way, and such a stream is reported as a malformed line, never
//! silently misread.

use std::borrow::Cow;

use serde::Deserialize;

use super::call::{LlamaTimings, Usage};
use super::ndjson::{borrowed_opt_str, DecodeError};

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
