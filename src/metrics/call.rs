//! Per-call metrics derived from a [`CallRecord`].

use std::time::Duration;

use crate::client::CallRecord;

/// Read-only view of one call's derived metrics. Each accessor documents its
/// definition; `None` means undefined for this call (failed, too few tokens, a
/// server field absent), never zero.
#[derive(Debug, Clone, Copy)]
pub struct CallMetrics<'a> {
    rec: &'a CallRecord,
}

fn d(ns: u64) -> Duration {
    Duration::from_nanos(ns)
}

fn ratio(count: Option<u64>, ns: Option<u64>) -> Option<f64> {
    match (count, ns) {
        (Some(c), Some(n)) if n > 0 => Some(c as f64 / (n as f64 / 1e9)),
        _ => None,
    }
}

impl<'a> CallMetrics<'a> {
    /// Wraps a record.
    pub fn new(rec: &'a CallRecord) -> Self {
        Self { rec }
    }

    /// The record viewed.
    pub fn record(&self) -> &'a CallRecord {
        self.rec
    }

    /// TTFT = first non-empty content chunk received − t0 (includes queueing, load,
    /// prefill and network). Defined for completed calls with at least one chunk.
    pub fn ttft(&self) -> Option<Duration> {
        if !self.rec.is_ok() {
            return None;
        }
        self.rec.chunk_ns.first().copied().map(d)
    }

    /// E2E = final chunk received − t0. Completed calls only.
    pub fn e2e(&self) -> Option<Duration> {
        if !self.rec.is_ok() {
            return None;
        }
        self.rec.end_ns.map(d)
    }

    /// ITL = gaps between consecutive content chunks (chunk level: a chunk may hold
    /// several tokens). Empty for failed calls and calls with < 2 chunks.
    pub fn itl(&self) -> impl Iterator<Item = Duration> + 'a {
        let ok = self.rec.is_ok();
        self.rec
            .chunk_ns
            .windows(2)
            .filter(move |_| ok)
            .map(|w| d(w[1].saturating_sub(w[0])))
    }

    /// Output tokens: the server's count when present (`eval_count`, llama.cpp's
    /// `predicted_n` or `usage.completion_tokens`; see
    /// [`ServerFields::decode_count`](crate::client::ServerFields::decode_count)), else
    /// the number of content chunks (one token per chunk, as Ollama streams).
    pub fn output_tokens(&self) -> Option<u64> {
        if !self.rec.is_ok() {
            return None;
        }
        Some(
            self.rec
                .server
                .decode_count()
                .unwrap_or(self.rec.chunk_ns.len() as u64),
        )
    }

    /// TPOT = (E2E − TTFT) / (output_tokens − 1); undefined for ≤ 1 token.
    pub fn tpot(&self) -> Option<Duration> {
        let (e2e, ttft, n) = (self.e2e()?, self.ttft()?, self.output_tokens()?);
        if n <= 1 {
            return None;
        }
        Some(e2e.saturating_sub(ttft) / u32::try_from(n - 1).ok()?)
    }

    /// Decode tok/s (server) = eval_count / eval_duration (llama.cpp: predicted_n /
    /// predicted_ms).
    pub fn decode_tps(&self) -> Option<f64> {
        if !self.rec.is_ok() {
            return None;
        }
        ratio(self.rec.server.decode_count(), self.rec.server.decode_ns())
    }

    /// Prefill tok/s (server) = prompt_eval_count / prompt_eval_duration (llama.cpp:
    /// prompt_n / prompt_ms).
    pub fn prefill_tps(&self) -> Option<f64> {
        if !self.rec.is_ok() {
            return None;
        }
        ratio(
            self.rec.server.prefill_count(),
            self.rec.server.prefill_ns(),
        )
    }

    /// Output tok/s (client) = output_tokens / E2E.
    pub fn output_tps(&self) -> Option<f64> {
        let e2e = self.e2e()?;
        ratio(self.output_tokens(), Some(e2e.as_nanos() as u64))
    }

    /// The client's own CPU time for a completed call
    /// ([`CallCost::cpu_ns`](crate::client::CallCost::cpu_ns)); `None` for a failed
    /// call and when it was not measured.
    pub fn client_cpu(&self) -> Option<std::time::Duration> {
        if !self.rec.is_ok() {
            return None;
        }
        self.rec.cost.cpu_ns.map(std::time::Duration::from_nanos)
    }

    /// Client overhead = E2E (client) − server time, in nanoseconds. Server time is
    /// Ollama's `total_duration`, or llama.cpp's `prompt_ms + predicted_ms` (see
    /// [`ServerFields::server_ns`](crate::client::ServerFields::server_ns)); undefined
    /// when the server sends neither (Ollama's `/v1`, vLLM). Also undefined when
    /// negative: a server that claims more time than the whole call took has timings
    /// that cannot be right, so the call is kept out of every client-overhead
    /// statistic (it stays in the records) and is reported by
    /// [`Self::negative_client_overhead_ns`] instead.
    pub fn client_overhead_ns(&self) -> Option<i64> {
        self.signed_client_overhead_ns().filter(|&ns| ns >= 0)
    }

    /// E2E − server time when it is negative (the server claims a longer duration
    /// than the client measured for the whole call): for warnings, never a sample.
    pub fn negative_client_overhead_ns(&self) -> Option<i64> {
        self.signed_client_overhead_ns().filter(|&ns| ns < 0)
    }

    fn signed_client_overhead_ns(&self) -> Option<i64> {
        let e2e = i64::try_from(self.e2e()?.as_nanos()).ok()?;
        let total = i64::try_from(self.rec.server.server_ns()?).ok()?;
        Some(e2e - total)
    }

    /// Whether the server loaded the model for this call: `load_duration > threshold`.
    /// An absent `load_duration` counts as 0 (Ollama omits zeros). `None` for a call
    /// without a final object (nothing to classify). Derived, never stored.
    pub fn loaded_model(&self, threshold: Duration) -> Option<bool> {
        self.rec.end_ns?;
        let load = self.rec.server.load_duration.unwrap_or(0);
        Some(u128::from(load) > threshold.as_nanos())
    }

    /// Unaccounted server time = total_duration − (load + prompt_eval + eval), in
    /// signed nanoseconds; absent parts count as 0 (Ollama omits zeros). Undefined
    /// without Ollama's `total_duration` (llama.cpp's server time is the sum of its
    /// parts by construction).
    pub fn unaccounted_server_ns(&self) -> Option<i64> {
        let s = &self.rec.server;
        let total = i64::try_from(s.total_duration?).ok()?;
        let parts = [s.load_duration, s.prompt_eval_duration, s.eval_duration]
            .iter()
            .map(|p| p.unwrap_or(0) as i64)
            .sum::<i64>();
        Some(total - parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{CallError, Endpoint, ErrorKind, RequestSettings, ServerFields};

    pub(crate) fn record(chunks: &[u64], end: u64, server: ServerFields) -> CallRecord {
        CallRecord {
            endpoint: Endpoint::Generate,
            model: "m".into(),
            settings: RequestSettings::default(),
            prompt_sha256: String::new(),
            prompt_bytes: 0,
            started_unix_ns: 0,
            http_status: Some(200),
            headers_ns: Some(1),
            chunk_ns: chunks.to_vec(),
            end_ns: Some(end),
            bytes: Some(0),
            lines: chunks.len() as u64 + 1,
            response: String::new(),
            thinking: String::new(),
            server,
            error: None,
            attempt: 1,
            retried_errors: Vec::new(),
            cost: Default::default(),
        }
    }

    #[test]
    fn definitions_follow_the_reference() {
        let server = ServerFields {
            total_duration: Some(900_000_000),
            load_duration: Some(100_000_000),
            prompt_eval_count: Some(50),
            prompt_eval_duration: Some(200_000_000),
            eval_count: Some(4),
            eval_duration: Some(500_000_000),
            done_reason: Some("stop".into()),
            ..ServerFields::default()
        };
        let r = record(
            &[300_000_000, 400_000_000, 600_000_000, 900_000_000],
            1_000_000_000,
            server,
        );
        let m = CallMetrics::new(&r);
        assert_eq!(m.ttft(), Some(Duration::from_millis(300)));
        assert_eq!(m.e2e(), Some(Duration::from_millis(1000)));
        let itl: Vec<_> = m.itl().map(|d| d.as_millis()).collect();
        assert_eq!(itl, vec![100, 200, 300]);
        assert_eq!(m.tpot(), Some(Duration::from_nanos(700_000_000 / 3)));
        assert_eq!(m.decode_tps(), Some(8.0));
        assert_eq!(m.prefill_tps(), Some(250.0));
        assert_eq!(m.output_tps(), Some(4.0));
        assert_eq!(m.client_overhead_ns(), Some(100_000_000));
        assert_eq!(m.unaccounted_server_ns(), Some(100_000_000));
    }

    #[test]
    fn llama_cpp_timings_map_to_the_same_definitions() {
        use crate::client::{LlamaTimings, Usage};
        let server = ServerFields {
            done_reason: Some("length".into()),
            usage: Some(Usage {
                prompt_tokens: Some(60),
                completion_tokens: Some(4),
                total_tokens: Some(64),
            }),
            timings: Some(LlamaTimings {
                cache_n: Some(10),
                prompt_n: Some(50),
                prompt_ms: Some(200.0),
                predicted_n: Some(4),
                predicted_ms: Some(500.0),
            }),
            ..ServerFields::default()
        };
        let r = record(
            &[300_000_000, 400_000_000, 600_000_000, 900_000_000],
            1_000_000_000,
            server,
        );
        let m = CallMetrics::new(&r);
        assert_eq!(m.decode_tps(), Some(8.0));
        assert_eq!(m.prefill_tps(), Some(250.0));
        assert_eq!(m.output_tokens(), Some(4));
        assert_eq!(
            m.client_overhead_ns(),
            Some(300_000_000),
            "E2E − (prompt_ms + predicted_ms)"
        );
        assert_eq!(m.unaccounted_server_ns(), None, "no total_duration sent");
        // Ollama's /v1 and vLLM: usage only → counts, no server timings.
        let usage_only = ServerFields {
            usage: Some(Usage {
                completion_tokens: Some(7),
                ..Usage::default()
            }),
            ..ServerFields::default()
        };
        let r = record(&[10, 20], 30, usage_only);
        let m = CallMetrics::new(&r);
        assert_eq!(m.output_tokens(), Some(7));
        assert_eq!(m.decode_tps(), None);
        assert_eq!(m.client_overhead_ns(), None);
    }

    #[test]
    fn a_failed_call_yields_no_samples() {
        let mut r = record(&[10, 20], 30, ServerFields::default());
        r.error = Some(CallError {
            kind: ErrorKind::Truncated,
            message: String::new(),
        });
        let m = CallMetrics::new(&r);
        assert_eq!(m.ttft(), None);
        assert_eq!(m.e2e(), None);
        assert_eq!(m.itl().count(), 0);
        assert_eq!(m.decode_tps(), None);
        assert_eq!(m.output_tokens(), None);
    }

    #[test]
    fn absent_server_fields_make_figures_undefined_not_zero() {
        let r = record(&[10], 20, ServerFields::default());
        let m = CallMetrics::new(&r);
        assert_eq!(m.decode_tps(), None);
        assert_eq!(m.client_overhead_ns(), None);
        assert_eq!(m.tpot(), None, "one token: TPOT undefined");
        assert_eq!(m.output_tokens(), Some(1));
    }
}
