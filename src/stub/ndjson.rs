//! Body building shared by both stubs: Ollama's JSON lines and the OpenAI-compatible SSE
//! events (llama.cpp's shape: a content chunk per piece, a chunk with `finish_reason`, a
//! usage chunk with empty `choices` carrying `usage` and `timings`, then
//! `data: [DONE]`), pre-rendered once per stub.
//!
//! A [`Compiled`] profile holds every constant part of every line, so rendering a response
//! only copies bytes and splices in the model name, the `created_at` timestamp and the
//! final metrics.

use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::profile::StubProfile;
use crate::client::{Endpoint, Protocol};

/// The route a generation request came in on: a protocol ([`Protocol`]) and a kind of
/// call ([`Endpoint`], generate or chat), as one value because the stub's bodies differ
/// by both; the pieces differ only in how content is wrapped.
///
/// A distinct type from the client's [`Endpoint`], which is protocol-free (it is what
/// `records.jsonl` stores as a call's `endpoint`); [`Route::new`], [`Route::protocol`]
/// and [`Route::endpoint`] convert between the two, so the pair cannot drift.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /api/generate`: content in `"response"`, final line has `"context"`.
    Generate,
    /// `POST /api/chat`: content in `"message":{"role":"assistant","content":...}`.
    Chat,
    /// `POST /v1/completions`: SSE, content in `choices[0].text`.
    Completions,
    /// `POST /v1/chat/completions`: SSE, content in `choices[0].delta.content`.
    ChatCompletions,
}

impl Route {
    /// The route of a call of kind `endpoint` in `protocol`.
    pub fn new(protocol: Protocol, endpoint: Endpoint) -> Self {
        match (protocol, endpoint) {
            (Protocol::Ollama, Endpoint::Generate) => Route::Generate,
            (Protocol::Ollama, Endpoint::Chat) => Route::Chat,
            (Protocol::OpenAi, Endpoint::Generate) => Route::Completions,
            (Protocol::OpenAi, Endpoint::Chat) => Route::ChatCompletions,
        }
    }

    /// The protocol this route belongs to.
    pub fn protocol(self) -> Protocol {
        if self.is_openai() {
            Protocol::OpenAi
        } else {
            Protocol::Ollama
        }
    }

    /// The kind of call (generate or chat), whatever the protocol.
    pub fn endpoint(self) -> Endpoint {
        match self {
            Route::Generate | Route::Completions => Endpoint::Generate,
            Route::Chat | Route::ChatCompletions => Endpoint::Chat,
        }
    }

    /// The URL path, as the client builds it ([`Endpoint::path_for`]).
    pub fn path(self) -> &'static str {
        self.endpoint().path_for(self.protocol())
    }

    /// Every route, Ollama's first.
    pub const ALL: [Route; 4] = [
        Route::Generate,
        Route::Chat,
        Route::Completions,
        Route::ChatCompletions,
    ];

    /// The route served at URL `path`, if any.
    pub fn of_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.path() == path)
    }

    /// `true` for the OpenAI-compatible endpoints.
    pub fn is_openai(self) -> bool {
        matches!(self, Route::Completions | Route::ChatCompletions)
    }

    /// The `Content-Type` of a streamed reply.
    pub fn stream_content_type(self) -> &'static str {
        if self.is_openai() {
            "text/event-stream"
        } else {
            "application/x-ndjson"
        }
    }

    fn openai_head(self) -> (&'static str, &'static str) {
        match self {
            Route::ChatCompletions => ("chatcmpl-agentbench-stub", "chat.completion.chunk"),
            _ => ("cmpl-agentbench-stub", "text_completion"),
        }
    }
}

/// Seconds since the Unix epoch (OpenAI's `created`).
fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `"timings":{...}` in llama.cpp's shape and units (ms) from the stub's timings:
/// `prompt_ms` = load + prompt evaluation (arrival → first chunk), `predicted_ms` =
/// first → last chunk.
fn write_timings(buf: &mut Vec<u8>, t: &ServerTimings) {
    let ms = |ns: u64| ns as f64 / 1e6;
    let _ = write!(
        buf,
        "\"timings\":{{\"cache_n\":0,\"prompt_n\":{},\"prompt_ms\":{:.3},\"predicted_n\":{},\"predicted_ms\":{:.3}}}",
        t.prompt_eval_count,
        ms(t.load_duration + t.prompt_eval_duration),
        t.eval_count,
        ms(t.eval_duration)
    );
}

fn write_usage(buf: &mut Vec<u8>, t: &ServerTimings) {
    let _ = write!(
        buf,
        "\"usage\":{{\"prompt_tokens\":{},\"completion_tokens\":{},\"total_tokens\":{}}}",
        t.prompt_eval_count,
        t.eval_count,
        t.prompt_eval_count + t.eval_count
    );
}

/// Server-side numbers of one generation, as reported in the final line (durations in ns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerTimings {
    /// Request arrival to final line.
    pub total_duration: u64,
    /// Simulated (paced) or real request-parsing (instant) load time.
    pub load_duration: u64,
    /// Prompt size in pseudo-tokens: (prompt + system bytes) / 4 for generate, (message
    /// contents + 8 bytes per message) / 4 for chat; rounded up, at least 1.
    pub prompt_eval_count: u64,
    /// Prompt evaluation time.
    pub prompt_eval_duration: u64,
    /// Content chunks sent.
    pub eval_count: u64,
    /// First to last content chunk (paced) or body rendering time (instant).
    pub eval_duration: u64,
}

/// Nanoseconds in `d`, saturating at `u64::MAX`.
pub fn nanos(d: Duration) -> u64 {
    crate::clock::nanos(d)
}

/// A `created_at` timestamp: RFC 3339, UTC, nanoseconds, e.g.
/// `2026-11-27T23:34:59.123456789Z` (always 30 bytes).
#[derive(Clone, Copy)]
pub struct Stamp([u8; 30]);

impl Stamp {
    /// The timestamp of `t` (times before 1970 are clamped to the epoch; years past 9999
    /// are not supported).
    pub fn new(t: SystemTime) -> Self {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let secs = d.as_secs();
        let (y, mo, da) = civil_from_days((secs / 86_400) as i64);
        let sod = secs % 86_400;
        let mut b = *b"0000-00-00T00:00:00.000000000Z";
        put(&mut b[0..4], y.clamp(0, 9999) as u64);
        put(&mut b[5..7], mo as u64);
        put(&mut b[8..10], da as u64);
        put(&mut b[11..13], sod / 3600);
        put(&mut b[14..16], sod / 60 % 60);
        put(&mut b[17..19], sod % 60);
        put(&mut b[20..29], d.subsec_nanos() as u64);
        Stamp(b)
    }

    /// The current time.
    pub fn now() -> Self {
        Stamp::new(SystemTime::now())
    }

    /// The timestamp as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.0).unwrap_or("1970-01-01T00:00:00.000000000Z")
    }
}

fn put(dst: &mut [u8], mut v: u64) {
    for slot in dst.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `t` formatted as RFC 3339 in UTC with nanoseconds, e.g. `2026-11-27T23:34:59.123456789Z`
/// (always 30 bytes; times before 1970 are clamped to the epoch).
pub fn rfc3339_nanos(t: SystemTime) -> String {
    Stamp::new(t).as_str().to_owned()
}

/// `s` as the inside of a JSON string literal (no surrounding quotes).
pub fn json_escape(s: &str) -> String {
    let q = serde_json::to_string(s).unwrap_or_default();
    q.get(1..q.len().saturating_sub(1)).unwrap_or("").to_owned()
}

/// A profile compiled for serving: pieces escaped, lines pre-rendered, schedule computed.
#[derive(Debug)]
pub struct Compiled {
    /// The profile this was compiled from.
    pub profile: StubProfile,
    /// Per model: `{"model":"<name>","created_at":"`.
    heads: Vec<String>,
    /// Per chunk, generate: `","response":"<piece>","done":false}\n`.
    gen_tails: Vec<String>,
    /// Per chunk, chat: `","message":{"role":"assistant","content":"<piece>"},"done":false}\n`.
    chat_tails: Vec<String>,
    /// Per chunk, `/v1/completions`: `"text":"<piece>","finish_reason":null}]}\n\n`.
    oai_text_tails: Vec<String>,
    /// Per chunk, `/v1/chat/completions`:
    /// `"delta":{"content":"<piece>"},"finish_reason":null}]}\n\n`.
    oai_chat_tails: Vec<String>,
    /// Per model: the name, escaped.
    names: Vec<String>,
    /// Per chunk: the piece, escaped.
    escaped: Vec<String>,
    /// Offsets from arrival of each content chunk.
    pub schedule: Vec<Duration>,
    /// Simulated load (clamped to the TTFT).
    pub load: Duration,
}

const CONTEXT: &str = "[2,105,2364,107,3048,563,506,1962]";

impl Compiled {
    /// Compiles `profile`; fails with a message if it is not servable.
    pub fn new(profile: StubProfile) -> Result<Self, String> {
        profile.validate()?;
        let pieces = profile.pieces();
        let escaped: Vec<String> = pieces.iter().map(|p| json_escape(p)).collect();
        let heads = profile
            .models
            .iter()
            .map(|m| format!("{{\"model\":\"{}\",\"created_at\":\"", json_escape(&m.name)))
            .collect();
        let gen_tails = escaped
            .iter()
            .map(|e| format!("\",\"response\":\"{e}\",\"done\":false}}\n"))
            .collect();
        let chat_tails = escaped
            .iter()
            .map(|e| {
                format!(
                    "\",\"message\":{{\"role\":\"assistant\",\"content\":\"{e}\"}},\"done\":false}}\n"
                )
            })
            .collect();
        let oai_text_tails = escaped
            .iter()
            .map(|e| format!("\"text\":\"{e}\",\"finish_reason\":null}}]}}\n\n"))
            .collect();
        let oai_chat_tails = escaped
            .iter()
            .map(|e| format!("\"delta\":{{\"content\":\"{e}\"}},\"finish_reason\":null}}]}}\n\n"))
            .collect();
        let names = profile
            .models
            .iter()
            .map(|m| json_escape(&m.name))
            .collect();
        let schedule = profile.pacing.schedule(pieces.len());
        let load = profile.effective_load();
        Ok(Compiled {
            heads,
            gen_tails,
            chat_tails,
            oai_text_tails,
            oai_chat_tails,
            names,
            escaped,
            schedule,
            load,
            profile,
        })
    }

    /// Number of content chunks a full response has.
    pub fn chunks(&self) -> usize {
        self.escaped.len()
    }

    fn tails(&self, ep: Route) -> &[String] {
        match ep {
            Route::Generate => &self.gen_tails,
            Route::Chat => &self.chat_tails,
            Route::Completions => &self.oai_text_tails,
            Route::ChatCompletions => &self.oai_chat_tails,
        }
    }

    /// Appends `{"id":…,"object":…,"created":…,"model":"<name>",` (an OpenAI object's
    /// head; `data: ` before it when `sse`).
    fn push_openai_head(
        &self,
        buf: &mut Vec<u8>,
        ep: Route,
        model: usize,
        sse: bool,
        object: Option<&str>,
    ) {
        let (id, chunk_object) = ep.openai_head();
        if sse {
            buf.extend_from_slice(b"data: ");
        }
        let _ = write!(
            buf,
            "{{\"id\":\"{id}\",\"object\":\"{}\",\"created\":{},\"model\":\"{}\",",
            object.unwrap_or(chunk_object),
            unix_secs(),
            self.names[model]
        );
    }

    /// Appends content line `i` (0-based) for `model` to `buf` (an SSE event for the
    /// OpenAI-compatible endpoints).
    pub fn push_chunk(&self, buf: &mut Vec<u8>, ep: Route, model: usize, ts: &Stamp, i: usize) {
        if ep.is_openai() {
            self.push_openai_head(buf, ep, model, true, None);
            buf.extend_from_slice(b"\"choices\":[{\"index\":0,");
            buf.extend_from_slice(self.tails(ep)[i].as_bytes());
            return;
        }
        buf.extend_from_slice(self.heads[model].as_bytes());
        buf.extend_from_slice(&ts.0);
        buf.extend_from_slice(self.tails(ep)[i].as_bytes());
    }

    /// Appends content lines `0..n` for `model`, all with timestamp `ts`, reserving room for
    /// the final line too.
    pub fn push_chunks(&self, buf: &mut Vec<u8>, ep: Route, model: usize, ts: &Stamp, n: usize) {
        if ep.is_openai() {
            for i in 0..n {
                self.push_chunk(buf, ep, model, ts, i);
            }
            return;
        }
        let head = self.heads[model].as_bytes();
        let tails = &self.tails(ep)[..n];
        let len: usize = tails.iter().map(|t| t.len()).sum::<usize>() + n * (head.len() + 30);
        buf.reserve(len + 400);
        for t in tails {
            buf.extend_from_slice(head);
            buf.extend_from_slice(&ts.0);
            buf.extend_from_slice(t.as_bytes());
        }
    }

    /// The first `n` pieces, escaped and concatenated (the content of a non-streamed reply).
    pub fn content(&self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.escaped[..n].iter().map(|e| e.len()).sum());
        for e in &self.escaped[..n] {
            out.extend_from_slice(e.as_bytes());
        }
        out
    }

    /// Appends the final `done:true` object. `content` = `Some(escaped)` (from
    /// [`Compiled::content`]) puts that text in it (a non-streamed reply, no trailing
    /// newline); `None` leaves the content empty and ends the line with `\n` (the last line
    /// of a stream).
    #[allow(clippy::too_many_arguments)] // flat on purpose: a hot path with plain inputs
    pub fn push_final(
        &self,
        buf: &mut Vec<u8>,
        ep: Route,
        model: usize,
        ts: &Stamp,
        done_reason: &str,
        t: &ServerTimings,
        content: Option<&[u8]>,
    ) {
        if ep.is_openai() {
            return self.push_openai_final(buf, ep, model, done_reason, t, content);
        }
        buf.extend_from_slice(self.heads[model].as_bytes());
        buf.extend_from_slice(&ts.0);
        match ep {
            Route::Chat => {
                buf.extend_from_slice(b"\",\"message\":{\"role\":\"assistant\",\"content\":\"")
            }
            _ => buf.extend_from_slice(b"\",\"response\":\""),
        }
        if let Some(text) = content {
            buf.extend_from_slice(text);
        }
        if ep == Route::Chat {
            buf.push(b'"');
            buf.push(b'}');
        } else {
            buf.push(b'"');
        }
        let _ = write!(buf, ",\"done\":true,\"done_reason\":\"{done_reason}\"");
        if ep == Route::Generate {
            let _ = write!(buf, ",\"context\":{CONTEXT}");
        }
        let _ = write!(
            buf,
            ",\"total_duration\":{},\"load_duration\":{},\"prompt_eval_count\":{},\
             \"prompt_eval_duration\":{},\"eval_count\":{},\"eval_duration\":{}}}",
            t.total_duration,
            t.load_duration,
            t.prompt_eval_count,
            t.prompt_eval_duration,
            t.eval_count,
            t.eval_duration
        );
        if content.is_none() {
            buf.push(b'\n');
        }
    }

    /// The end of an OpenAI-compatible reply. Streamed (`content` = `None`): a chunk with
    /// an empty piece and `finish_reason`, a usage chunk (`choices: []`, `usage`,
    /// llama.cpp's `timings`), and `data: [DONE]`. Not streamed: one `text_completion` /
    /// `chat.completion` object with the whole (escaped) content, usage and timings.
    fn push_openai_final(
        &self,
        buf: &mut Vec<u8>,
        ep: Route,
        model: usize,
        done_reason: &str,
        t: &ServerTimings,
        content: Option<&[u8]>,
    ) {
        let chat = ep == Route::ChatCompletions;
        match content {
            None => {
                self.push_openai_head(buf, ep, model, true, None);
                buf.extend_from_slice(b"\"choices\":[{\"index\":0,");
                if chat {
                    buf.extend_from_slice(b"\"delta\":{},");
                } else {
                    buf.extend_from_slice(b"\"text\":\"\",");
                }
                let _ = write!(buf, "\"finish_reason\":\"{done_reason}\"}}]}}\n\n");
                self.push_openai_head(buf, ep, model, true, None);
                buf.extend_from_slice(b"\"choices\":[],");
                write_usage(buf, t);
                buf.push(b',');
                write_timings(buf, t);
                buf.extend_from_slice(b"}\n\ndata: [DONE]\n\n");
            }
            Some(text) => {
                let object = if chat {
                    "chat.completion"
                } else {
                    "text_completion"
                };
                self.push_openai_head(buf, ep, model, false, Some(object));
                buf.extend_from_slice(b"\"choices\":[{\"index\":0,");
                if chat {
                    buf.extend_from_slice(b"\"message\":{\"role\":\"assistant\",\"content\":\"");
                } else {
                    buf.extend_from_slice(b"\"text\":\"");
                }
                buf.extend_from_slice(text);
                buf.push(b'"');
                if chat {
                    buf.push(b'}');
                }
                let _ = write!(buf, ",\"finish_reason\":\"{done_reason}\"}}],");
                write_usage(buf, t);
                buf.push(b',');
                write_timings(buf, t);
                buf.push(b'}');
            }
        }
    }

    /// The reply to an empty prompt (or empty `messages`): `done:true` with `done_reason`
    /// `load` or `unload`, no text and no metrics, as Ollama sends it. (The
    /// OpenAI-compatible endpoints have no load requests; they get an empty completion.)
    pub fn load_reply(&self, ep: Route, model: usize, ts: &Stamp, reason: &str) -> Vec<u8> {
        let mut buf = Vec::with_capacity(160);
        if ep.is_openai() {
            self.push_openai_final(
                &mut buf,
                ep,
                model,
                "stop",
                &ServerTimings::default(),
                Some(b""),
            );
            return buf;
        }
        buf.extend_from_slice(self.heads[model].as_bytes());
        buf.extend_from_slice(&ts.0);
        match ep {
            Route::Chat => {
                buf.extend_from_slice(b"\",\"message\":{\"role\":\"assistant\",\"content\":\"\"}")
            }
            _ => buf.extend_from_slice(b"\",\"response\":\""),
        }
        if ep == Route::Generate {
            buf.push(b'"');
        }
        let _ = write!(buf, ",\"done\":true,\"done_reason\":\"{reason}\"}}");
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_client_endpoints_agree() {
        let all = [
            (Route::Generate, "/api/generate"),
            (Route::Chat, "/api/chat"),
            (Route::Completions, "/v1/completions"),
            (Route::ChatCompletions, "/v1/chat/completions"),
        ];
        for (route, path) in all {
            assert_eq!(route.path(), path);
            assert_eq!(Route::of_path(path), Some(route));
            assert_eq!(Route::new(route.protocol(), route.endpoint()), route);
            assert_eq!(route.is_openai(), route.protocol() == Protocol::OpenAi);
        }
    }

    #[test]
    fn stamps() {
        let t = UNIX_EPOCH + Duration::new(1_795_822_499, 123_456_789);
        assert_eq!(rfc3339_nanos(t), "2026-11-27T23:34:59.123456789Z");
        assert_eq!(rfc3339_nanos(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        // 2000-02-29 (leap day) and 2024-12-31.
        assert_eq!(
            rfc3339_nanos(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(
            rfc3339_nanos(UNIX_EPOCH + Duration::from_secs(1_735_689_599)),
            "2024-12-31T23:59:59.000000000Z"
        );
    }

    #[test]
    fn openai_events_parse_with_the_client_decoder() {
        use crate::client::sse::{decode_sse_line, SseLine};
        let text = "a \"quoted\"\n line é";
        let c = Compiled::new(StubProfile::default().with_text(text)).unwrap();
        let ts = Stamp::now();
        for ep in [Route::Completions, Route::ChatCompletions] {
            let mut buf = Vec::new();
            c.push_chunks(&mut buf, ep, 0, &ts, c.chunks());
            let t = ServerTimings {
                total_duration: 9_000_000,
                load_duration: 1_000_000,
                prompt_eval_count: 12,
                prompt_eval_duration: 2_000_000,
                eval_count: c.chunks() as u64,
                eval_duration: 5_000_000,
            };
            c.push_final(&mut buf, ep, 0, &ts, "length", &t, None);
            let body = std::str::from_utf8(&buf).unwrap();
            assert!(body.ends_with("\n\ndata: [DONE]\n\n"), "{body}");
            let (mut got, mut done, mut usage, mut timings, mut reason) =
                (String::new(), false, None, None, None);
            for line in body.lines().filter(|l| !l.is_empty()) {
                match decode_sse_line(line.as_bytes()).unwrap() {
                    SseLine::Chunk(ch) => {
                        got.push_str(ch.content());
                        reason = ch.finish_reason().map(str::to_string).or(reason);
                        usage = ch.usage.or(usage);
                        timings = ch.timings.or(timings);
                    }
                    SseLine::Done => done = true,
                    other => panic!("{other:?}"),
                }
            }
            assert!(done);
            assert_eq!(got, text);
            assert_eq!(reason.as_deref(), Some("length"));
            assert_eq!(usage.unwrap().completion_tokens, Some(c.chunks() as u64));
            let tm = timings.unwrap();
            assert_eq!(tm.prompt_ms, Some(3.0), "load + prompt evaluation");
            assert_eq!(tm.predicted_ms, Some(5.0));
            let mut one = Vec::new();
            c.push_final(
                &mut one,
                ep,
                0,
                &ts,
                "stop",
                &t,
                Some(&c.content(c.chunks())),
            );
            let v: serde_json::Value = serde_json::from_slice(&one).unwrap();
            let whole = match ep {
                Route::Completions => v["choices"][0]["text"].as_str().unwrap(),
                _ => v["choices"][0]["message"]["content"].as_str().unwrap(),
            };
            assert_eq!(whole, text);
        }
    }

    #[test]
    fn lines_parse() {
        let c = Compiled::new(StubProfile::default().with_text("a \"quoted\"\n line é")).unwrap();
        let ts = Stamp::now();
        for ep in [Route::Generate, Route::Chat] {
            let mut buf = Vec::new();
            c.push_chunks(&mut buf, ep, 0, &ts, c.chunks());
            let t = ServerTimings::default();
            c.push_final(&mut buf, ep, 0, &ts, "stop", &t, None);
            let mut text = String::new();
            for line in std::str::from_utf8(&buf).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let piece = match ep {
                    Route::Generate => v["response"].as_str().unwrap(),
                    _ => v["message"]["content"].as_str().unwrap(),
                };
                text.push_str(piece);
            }
            assert_eq!(text, "a \"quoted\"\n line é");
            let mut one = Vec::new();
            c.push_final(
                &mut one,
                ep,
                0,
                &ts,
                "stop",
                &t,
                Some(&c.content(c.chunks())),
            );
            let v: serde_json::Value = serde_json::from_slice(&one).unwrap();
            assert_eq!(v["done"], true);
            for r in ["load", "unload"] {
                let v: serde_json::Value =
                    serde_json::from_slice(&c.load_reply(ep, 0, &ts, r)).unwrap();
                assert_eq!(v["done_reason"], r);
            }
        }
    }
}
