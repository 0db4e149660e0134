//! NDJSON framing and Ollama chunk decoding.
//!
//! [`LineSplitter`] turns arbitrary network reads into complete lines: a line (and so
//! a UTF-8 character) split across reads is reassembled before it is decoded, and a
//! line longer than the bound is an error instead of unbounded memory.
//! [`decode_chunk`] decodes one line into a borrowed [`WireChunk`];
//! [`StreamDecoder`] decodes a stream's lines the same way, faster for a line that
//! repeats the shape of one before it.

use std::borrow::Cow;

use serde::Deserialize;
use thiserror::Error;

use super::call::ServerFields;
use crate::plain_json;

/// Default bound on one NDJSON line (16 MiB): far above any real chunk, far below
/// what would exhaust memory.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// A line grew past the configured bound without a newline.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("an NDJSON line exceeded {max} bytes without a newline")]
pub struct LineTooLong {
    /// The bound that was exceeded.
    pub max: usize,
}

/// Splits a byte stream into newline-terminated lines.
///
/// Guarantees: lines are yielded in order, without the trailing `\n` (and `\r`);
/// empty lines are skipped; bytes are never reinterpreted, so a multi-byte
/// character split across reads arrives whole; memory held is bounded by
/// `max_line` plus one read.
#[derive(Debug)]
pub struct LineSplitter {
    pending: Vec<u8>,
    max_line: usize,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE_BYTES)
    }
}

impl LineSplitter {
    /// A splitter that rejects lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Self {
            pending: Vec::new(),
            max_line,
        }
    }

    /// Feeds one read. Calls `on_line` for every line completed by it; stops at the
    /// first `Err` from `on_line` and returns it (wrapped in `Ok(Err)`), so callers
    /// can end a stream early. `Err(LineTooLong)` when a line passes the bound.
    pub fn push<E>(
        &mut self,
        mut data: &[u8],
        mut on_line: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Result<(), E>, LineTooLong> {
        while let Some(pos) = memchr_newline(data) {
            let (head, rest) = (&data[..pos], &data[pos + 1..]);
            data = rest;
            let outcome = if self.pending.is_empty() {
                self.check_len(head.len())?;
                emit(head, &mut on_line)
            } else {
                self.check_len(self.pending.len() + head.len())?;
                self.pending.extend_from_slice(head);
                let line = std::mem::take(&mut self.pending);
                let outcome = emit(&line, &mut on_line);
                self.pending = line;
                self.pending.clear();
                outcome
            };
            if outcome.is_err() {
                return Ok(outcome);
            }
        }
        self.check_len(self.pending.len() + data.len())?;
        self.pending.extend_from_slice(data);
        Ok(Ok(()))
    }

    /// Bytes received after the last newline (a final line without terminator, or a
    /// torn line when the stream was cut). Empties the buffer.
    pub fn take_remainder(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    fn check_len(&self, len: usize) -> Result<(), LineTooLong> {
        if len > self.max_line {
            Err(LineTooLong { max: self.max_line })
        } else {
            Ok(())
        }
    }
}

fn emit<E>(line: &[u8], on_line: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    on_line(line)
}

fn memchr_newline(data: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', data)
}

/// Deserializes an optional string, borrowing it from the input when it has no
/// escapes. (`#[serde(borrow)]` alone does not borrow through `Option<Cow<str>>`:
/// serde would allocate every text piece.)
pub(crate) fn borrowed_opt_str<'de, D>(d: D) -> Result<Option<Cow<'de, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_str(V)
        }
    }
    d.deserialize_option(V)
}

/// One decoded Ollama stream object (generate or chat), borrowing from the line.
///
/// Every metric field is optional: Ollama omits zero values (`omitempty`), and
/// absent stays absent here.
#[derive(Debug, Default, Deserialize)]
pub struct WireChunk<'a> {
    /// `/api/generate` text piece.
    #[serde(borrow, default, deserialize_with = "borrowed_opt_str")]
    pub response: Option<Cow<'a, str>>,
    /// `/api/chat` message.
    #[serde(borrow, default)]
    pub message: Option<WireMessage<'a>>,
    /// `true` on the final object.
    #[serde(default)]
    pub done: bool,
    /// Why generation stopped (stop | length | load | unload).
    #[serde(borrow, default, deserialize_with = "borrowed_opt_str")]
    pub done_reason: Option<Cow<'a, str>>,
    /// Server-side error, possibly sent mid-stream with HTTP 200.
    #[serde(borrow, default, deserialize_with = "borrowed_opt_str")]
    pub error: Option<Cow<'a, str>>,
    /// Nanoseconds from request receipt to response end.
    #[serde(default)]
    pub total_duration: Option<u64>,
    /// Nanoseconds spent loading the model.
    #[serde(default)]
    pub load_duration: Option<u64>,
    /// Prompt tokens evaluated (absent when the prompt was cached).
    #[serde(default)]
    pub prompt_eval_count: Option<u64>,
    /// Nanoseconds spent evaluating the prompt.
    #[serde(default)]
    pub prompt_eval_duration: Option<u64>,
    /// Tokens generated.
    #[serde(default)]
    pub eval_count: Option<u64>,
    /// Nanoseconds spent generating.
    #[serde(default)]
    pub eval_duration: Option<u64>,
}

/// The `message` object of a chat chunk.
#[derive(Debug, Default, Deserialize)]
pub struct WireMessage<'a> {
    /// Text piece.
    #[serde(borrow, default, deserialize_with = "borrowed_opt_str")]
    pub content: Option<Cow<'a, str>>,
    /// Reasoning text of thinking models; recorded apart from the content.
    #[serde(borrow, default, deserialize_with = "borrowed_opt_str")]
    pub thinking: Option<Cow<'a, str>>,
}

impl<'a> WireChunk<'a> {
    /// The content text this chunk carries (generate `response` or chat
    /// `message.content`), or `""`.
    pub fn content(&self) -> &str {
        if let Some(text) = &self.response {
            return text;
        }
        self.message
            .as_ref()
            .and_then(|m| m.content.as_deref())
            .unwrap_or("")
    }

    /// The server's final fields, exactly as present on the wire.
    pub fn server_fields(&self) -> ServerFields {
        ServerFields {
            total_duration: self.total_duration,
            load_duration: self.load_duration,
            prompt_eval_count: self.prompt_eval_count,
            prompt_eval_duration: self.prompt_eval_duration,
            eval_count: self.eval_count,
            eval_duration: self.eval_duration,
            done_reason: self.done_reason.as_deref().map(str::to_string),
            usage: None,
            timings: None,
        }
    }
}

/// Why a line could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The line is not UTF-8.
    #[error("line is not valid UTF-8 (at byte {valid_up_to})")]
    InvalidUtf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
    /// The line is not a JSON object of the expected shape.
    #[error("malformed JSON line: {0}")]
    Malformed(String),
}

/// Decodes one NDJSON line. Never panics on any input.
///
/// The result (value or error) is always exactly [`decode_chunk_serde`]'s, text
/// fields borrowed or owned alike: a line of the common shape (plain JSON, see
/// `plain_json`; escapes in its strings included) is read once, without serde,
/// allocating only for a text field that has escapes; anything else is handed to
/// serde_json.
pub fn decode_chunk(line: &[u8]) -> Result<WireChunk<'_>, DecodeError> {
    let mut chunk = WireChunk::default();
    decode_chunk_into(line, &mut chunk)?;
    Ok(chunk)
}

/// [`decode_chunk`] into `out` (whatever it held before): the same value or error,
/// without moving the decoded chunk (a quarter KiB) out of the decoder and into the
/// caller's frame at every line. On `Err`, `out` holds no meaning.
pub fn decode_chunk_into<'a>(line: &'a [u8], out: &mut WireChunk<'a>) -> Result<(), DecodeError> {
    // The plain reader fills in only the fields the line has.
    *out = WireChunk::default();
    let mut sink = ChunkSink::new(out);
    if plain_json::read_bytes(line, &mut sink).is_none() {
        *out = decode_chunk_serde(line)?;
    }
    Ok(())
}

/// Decodes one NDJSON line with serde_json alone: the reference that
/// [`decode_chunk`] matches, value for value and error for error.
pub fn decode_chunk_serde(line: &[u8]) -> Result<WireChunk<'_>, DecodeError> {
    serde_json::from_slice(line).map_err(|e| match std::str::from_utf8(line) {
        Err(u) => DecodeError::InvalidUtf8 {
            valid_up_to: u.valid_up_to(),
        },
        Ok(_) => DecodeError::Malformed(e.to_string()),
    })
}

/// The line as the plain reader alone decodes it (`None` where [`decode_chunk_into`]
/// hands it to serde_json): for the tests that check which lines take which path.
#[cfg(test)]
fn decode_plain(line: &[u8]) -> Option<WireChunk<'_>> {
    let mut chunk = WireChunk::default();
    plain_json::read_bytes(line, &mut ChunkSink::new(&mut chunk))?;
    Some(chunk)
}

/// Where a value read by [`ChunkSink`] goes: a field of [`WireChunk`] or
/// [`WireMessage`], or nowhere (a key serde would ignore).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Slot {
    #[default]
    Ignored,
    Response,
    Message,
    Done,
    DoneReason,
    Error,
    TotalDuration,
    LoadDuration,
    PromptEvalCount,
    PromptEvalDuration,
    EvalCount,
    EvalDuration,
    Content,
    Thinking,
}

impl Slot {
    /// The slot of a top-level key (serde's field names; an escaped key is
    /// compared unescaped, as serde compares it). Dispatches on the length and the
    /// first byte, then compares the one candidate whole.
    fn top(key: &str) -> Slot {
        let key = key.as_bytes();
        // Each candidate compared against a constant of its length: a few word
        // compares, no `memcmp` call.
        match (key.len(), key.first()) {
            (8, Some(b'r')) if key == b"response" => Slot::Response,
            (7, Some(b'm')) if key == b"message" => Slot::Message,
            (4, Some(b'd')) if key == b"done" => Slot::Done,
            (11, Some(b'd')) if key == b"done_reason" => Slot::DoneReason,
            (5, Some(b'e')) if key == b"error" => Slot::Error,
            (14, Some(b't')) if key == b"total_duration" => Slot::TotalDuration,
            (13, Some(b'l')) if key == b"load_duration" => Slot::LoadDuration,
            (17, Some(b'p')) if key == b"prompt_eval_count" => Slot::PromptEvalCount,
            (20, Some(b'p')) if key == b"prompt_eval_duration" => Slot::PromptEvalDuration,
            (10, Some(b'e')) if key == b"eval_count" => Slot::EvalCount,
            (13, Some(b'e')) if key == b"eval_duration" => Slot::EvalDuration,
            _ => Slot::Ignored,
        }
    }

    /// The slot of a key inside `message`.
    fn message(key: &str) -> Slot {
        match key {
            "content" => Slot::Content,
            "thinking" => Slot::Thinking,
            _ => Slot::Ignored,
        }
    }

    /// This slot's bit in [`ChunkSink::seen`].
    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// Builds a [`WireChunk`] from [`plain_json::read`]'s values, as serde's derived
/// `Deserialize` would, and stops (so serde_json decides) wherever serde would
/// fail or decide differently: a root that is not an object, a repeated field, a
/// value of the wrong type, a number that is not a plain non-negative integer.
struct ChunkSink<'c, 'a> {
    /// The chunk being filled ([`WireChunk::default`] at the start).
    chunk: &'c mut WireChunk<'a>,
    /// Containers open (1 inside the root object).
    depth: usize,
    /// Whether the container open at depth 2 is `message`.
    in_message: bool,
    /// The field the next value at depth 1 (or in `message`) fills.
    slot: Slot,
    /// Fields already seen (serde rejects a repeated one).
    seen: u16,
}

impl<'c, 'a> ChunkSink<'c, 'a> {
    fn new(chunk: &'c mut WireChunk<'a>) -> Self {
        Self {
            chunk,
            depth: 0,
            in_message: false,
            slot: Slot::default(),
            seen: 0,
        }
    }

    /// Whether a value at the current depth fills [`Self::slot`]; `false` inside
    /// an ignored value. `None` for a value that is not in an object (the root).
    fn fills_slot(&self) -> Option<bool> {
        match self.depth {
            0 => None,
            1 => Some(true),
            2 => Some(self.in_message),
            _ => Some(false),
        }
    }

    /// Stores a text field (`null` is `None`); `None` when the slot takes no text.
    fn text(&mut self, value: Option<Cow<'a, str>>) -> Option<()> {
        match self.slot {
            Slot::Ignored => {}
            Slot::Response => self.chunk.response = value,
            Slot::DoneReason => self.chunk.done_reason = value,
            Slot::Error => self.chunk.error = value,
            Slot::Content => self.message()?.content = value,
            Slot::Thinking => self.message()?.thinking = value,
            _ => return None,
        }
        Some(())
    }

    /// Takes an object key: the slot the next value fills; `None` for a field
    /// serde would reject as repeated.
    fn field(&mut self, key: &str) -> Option<()> {
        let slot = match (self.depth, self.in_message) {
            (1, _) => Slot::top(key),
            (2, true) => Slot::message(key),
            _ => return Some(()),
        };
        if slot != Slot::Ignored {
            if self.seen & slot.bit() != 0 {
                return None;
            }
            self.seen |= slot.bit();
        }
        self.slot = slot;
        Some(())
    }

    /// The message being filled.
    fn message(&mut self) -> Option<&mut WireMessage<'a>> {
        self.chunk.message.as_mut()
    }

    /// The `Option<u64>` field of a numeric slot.
    fn count(&mut self) -> Option<&mut Option<u64>> {
        let c = &mut *self.chunk;
        Some(match self.slot {
            Slot::TotalDuration => &mut c.total_duration,
            Slot::LoadDuration => &mut c.load_duration,
            Slot::PromptEvalCount => &mut c.prompt_eval_count,
            Slot::PromptEvalDuration => &mut c.prompt_eval_duration,
            Slot::EvalCount => &mut c.eval_count,
            Slot::EvalDuration => &mut c.eval_duration,
            _ => return None,
        })
    }
}

impl<'a> plain_json::Sink<'a> for ChunkSink<'_, 'a> {
    fn null(&mut self) -> Option<()> {
        if !self.fills_slot()? {
            return Some(());
        }
        match self.slot {
            Slot::Message if !self.in_message => {
                self.chunk.message = None;
                Some(())
            }
            Slot::Done => None,
            _ => match self.count() {
                Some(count) => {
                    *count = None;
                    Some(())
                }
                None => self.text(None),
            },
        }
    }

    fn bool(&mut self, value: bool) -> Option<()> {
        if !self.fills_slot()? {
            return Some(());
        }
        match self.slot {
            Slot::Ignored => Some(()),
            Slot::Done => {
                self.chunk.done = value;
                Some(())
            }
            _ => None,
        }
    }

    fn num(&mut self, value: f64, integer: bool) -> Option<()> {
        if !self.fills_slot()? || self.slot == Slot::Ignored {
            return Some(());
        }
        // A non-negative integer of at most 15 digits: exactly serde's u64.
        if !integer || value.is_sign_negative() {
            return None;
        }
        *self.count()? = Some(value as u64);
        Some(())
    }

    fn str(&mut self, value: &'a str) -> Option<()> {
        if !self.fills_slot()? {
            return Some(());
        }
        self.text(Some(Cow::Borrowed(value)))
    }

    fn str_owned(&mut self, value: String) -> Option<()> {
        if !self.fills_slot()? {
            return Some(());
        }
        self.text(Some(Cow::Owned(value)))
    }

    fn key(&mut self, key: &'a str) -> Option<()> {
        self.field(key)
    }

    fn key_owned(&mut self, key: String) -> Option<()> {
        // serde matches a field name after unescaping it, as here.
        self.field(&key)
    }

    fn open(&mut self, object: bool) -> Option<usize> {
        match self.depth {
            0 if !object => return None,
            1 => match self.slot {
                Slot::Ignored => {}
                Slot::Message if object => {
                    self.in_message = true;
                    self.chunk.message = Some(WireMessage::default());
                }
                _ => return None,
            },
            2 if self.in_message && self.slot != Slot::Ignored => return None,
            _ => {}
        }
        self.depth += 1;
        Some(self.depth)
    }

    fn close(&mut self, _object: bool, _mark: usize) -> Option<()> {
        self.depth -= 1;
        if self.depth == 1 {
            self.in_message = false;
        }
        Some(())
    }
}

mod shape;
pub(crate) use shape::keep_spare;
pub use shape::StreamDecoder;

#[cfg(test)]
mod differential;

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(reads: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for r in reads {
            s.push::<()>(r, |l| {
                out.push(l.to_vec());
                Ok(())
            })
            .unwrap()
            .unwrap();
        }
        out
    }

    #[test]
    fn lines_survive_every_split_point() {
        let stream =
            "{\"response\":\"h\u{e9}\"}\n\r\n{\"response\":\"\u{1F600}\"}\r\n{\"done\":true}\n";
        let bytes = stream.as_bytes();
        let whole = split_all(&[bytes]);
        assert_eq!(whole.len(), 3);
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let parts = split_all(&[&bytes[..i], &bytes[i..j], &bytes[j..]]);
                assert_eq!(parts, whole, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn overlong_line_is_an_error_not_growth() {
        let mut s = LineSplitter::new(8);
        assert!(s.push::<()>(b"12345", |_| Ok(())).unwrap().is_ok());
        assert_eq!(
            s.push::<()>(b"6789", |_| Ok(())).unwrap_err(),
            LineTooLong { max: 8 }
        );
        let mut s = LineSplitter::new(8);
        assert!(s.push::<()>(b"123456789\n", |_| Ok(())).is_err());
    }

    #[test]
    fn callback_error_stops_the_stream() {
        let mut s = LineSplitter::default();
        let mut seen = 0;
        let r = s.push(b"a\nb\nc\n", |_| {
            seen += 1;
            if seen == 2 {
                Err("stop")
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Ok(Err("stop")));
        assert_eq!(seen, 2);
    }

    #[test]
    fn decodes_generate_chat_final_and_error_lines() {
        let c = decode_chunk(br#"{"model":"m","created_at":"x","response":"hi","done":false}"#)
            .unwrap();
        assert_eq!(c.content(), "hi");
        assert!(!c.done);
        let c = decode_chunk(br#"{"message":{"role":"assistant","content":"yo"},"done":false}"#)
            .unwrap();
        assert_eq!(c.content(), "yo");
        assert!(
            matches!(c.message.unwrap().content, Some(Cow::Borrowed(_))),
            "no allocation"
        );
        let c = decode_chunk(br#"{"response":"a\nb","done":false}"#).unwrap();
        assert_eq!(c.content(), "a\nb");
        assert!(
            matches!(c.response, Some(Cow::Owned(_))),
            "escapes are decoded"
        );
        let c = decode_chunk(br#"{"response":null,"done":false}"#).unwrap();
        assert_eq!(c.content(), "");
        assert!(
            decode_chunk(br#"{"response":5}"#).is_err(),
            "a number is not text"
        );
        let c = decode_chunk(
            br#"{"response":"","done":true,"done_reason":"stop","eval_count":3,"eval_duration":100}"#,
        )
        .unwrap();
        let f = c.server_fields();
        assert_eq!(f.eval_count, Some(3));
        assert_eq!(f.total_duration, None, "absent stays absent");
        assert_eq!(f.done_reason.as_deref(), Some("stop"));
        let c = decode_chunk(br#"{"error":"model ran out of memory"}"#).unwrap();
        assert_eq!(c.error.as_deref(), Some("model ran out of memory"));
    }

    #[test]
    fn bad_lines_are_classified() {
        assert!(matches!(
            decode_chunk(b"{\"response\":\"\xff\"}"),
            Err(DecodeError::InvalidUtf8 { valid_up_to: 13 })
        ));
        assert!(matches!(
            decode_chunk(b"{\"response\":"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            decode_chunk(b"[1,2]"),
            Err(DecodeError::Malformed(_))
        ));
    }
}
