//! A [`Trace`] as the session engine's scripts.

use crate::load::session::{SessionScript, TurnInput, TurnScript};

use super::synth::synth_prompt;
use super::{Trace, TraceError, TraceRequest, TraceSession};

impl Trace {
    /// The sessions as [`SessionScript`]s for the session engine, ordered by start
    /// (ties in file order).
    ///
    /// Times: a session starts at `(t + first request's think_time − earliest such
    /// start) × time_scale` (ms → ns; 2.0 replays twice as slow, 0.5 twice as
    /// fast), so the trace's first session starts at 0; every later request waits
    /// `think_time × time_scale` after the previous request's end. Sub-agent
    /// requests are flattened into their session, depth first: right after the
    /// request that started them, before the session's next request (the parent
    /// waits for its sub-agent). Each turn sends [`TurnInput::Prompt`] with the
    /// prompt synthesised from its `hash_ids` ([`synth_prompt`]) and
    /// `max_tokens = out`.
    ///
    /// Memory: every prompt is built, [`Trace::prompt_bytes`] bytes in all.
    pub fn to_scripts(&self, time_scale: f64) -> Result<Vec<SessionScript>, TraceError> {
        if !(time_scale.is_finite() && time_scale > 0.0) {
            return Err(TraceError::TimeScale(time_scale));
        }
        let starts = self
            .sessions
            .iter()
            .map(|s| s.first_send_ms())
            .collect::<Vec<_>>();
        let origin = starts.iter().copied().min().unwrap_or(0);
        let mut scripts = Vec::with_capacity(self.sessions.len());
        for (s, start) in self.sessions.iter().zip(starts) {
            let start_ns = scaled_ns(start - origin, time_scale, s, "start")?;
            scripts.push(SessionScript {
                start_ns: Some(start_ns),
                turns: self.turns(s, time_scale)?,
            });
        }
        scripts.sort_by_key(|s| s.start_ns);
        Ok(scripts)
    }

    fn turns(&self, s: &TraceSession, scale: f64) -> Result<Vec<TurnScript>, TraceError> {
        let mut flat = Vec::new();
        flatten(&s.requests, &mut flat);
        flat.iter()
            .enumerate()
            .map(|(i, r)| {
                let think = if i == 0 { 0 } else { r.think_ms };
                Ok(TurnScript {
                    think_ns: scaled_ns(think, scale, s, "think time")?,
                    input: TurnInput::Prompt(self.prompt(s, r)?),
                    max_tokens: Some(u32::try_from(r.output_tokens).unwrap_or(u32::MAX)),
                })
            })
            .collect()
    }

    fn prompt(&self, s: &TraceSession, r: &TraceRequest) -> Result<String, TraceError> {
        synth_prompt(&r.hash_ids, r.input_tokens, self.block_tokens).ok_or_else(|| {
            TraceError::BlockCount {
                session: s.id.clone(),
                input_tokens: r.input_tokens,
                block_tokens: self.block_tokens,
                expected: super::blocks_for(r.input_tokens, self.block_tokens),
                got: r.hash_ids.len(),
            }
        })
    }
}

impl TraceSession {
    /// When the session's first request is sent, ms on the trace's clock: `t` plus
    /// the first request's `think_time`.
    pub fn first_send_ms(&self) -> u64 {
        let think = self.requests.first().map_or(0, |r| r.think_ms);
        self.start_ms.saturating_add(think)
    }
}

/// Depth first: each request, then its sub-agent's requests.
fn flatten<'a>(reqs: &'a [TraceRequest], out: &mut Vec<&'a TraceRequest>) {
    for r in reqs {
        out.push(r);
        flatten(&r.subagent, out);
    }
}

fn scaled_ns(ms: u64, scale: f64, s: &TraceSession, what: &'static str) -> Result<u64, TraceError> {
    let exact = (scale == 1.0).then(|| ms.checked_mul(1_000_000));
    let ns = (ms as f64 * 1e6 * scale).round();
    match exact {
        Some(Some(ns)) => Ok(ns),
        None if ns < u64::MAX as f64 => Ok(ns as u64),
        _ => Err(TraceError::TimeOverflow {
            session: s.id.clone(),
            what,
            ms,
            scale,
        }),
    }
}
