//! The measuring loop: sends requests on the plan's schedule from one thread with a
//! current-thread runtime, and hands each finished request to the sink.
//!
//! Timing rules (see the module docs of [`super`]): one monotonic origin; intended
//! times are offsets from it, fixed before the request goes out; a late request is
//! sent anyway and its lateness kept; with a ceiling the wait for a slot is measured
//! separately and is part of the latency; in a closed loop the intended time is the
//! moment the worker became free (plus think time).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use tokio::sync::{Notify, Semaphore};

use super::clock::{mono_ns, Timer};
use super::record::{RequestRecord, RunEnd};
use super::recorder::{run_on_own_thread, Recorder};
use super::sink::SinkTx;
use crate::client::{LlmClient, PreparedCall};

/// How requests are offered.
#[derive(Debug, Clone)]
pub enum Mode {
    /// `concurrency` workers; each sends its next request when its previous one
    /// ended plus `think_ns`.
    Closed {
        /// Workers.
        concurrency: u32,
        /// Pause between a worker's requests, ns.
        think_ns: u64,
        /// Stop after this many requests in all (`None`: only the duration bounds).
        requests: Option<u64>,
        /// No request is started at or after this offset (`None`: only the count
        /// bounds).
        duration_ns: Option<u64>,
        /// A shard `(index, count)` of a sharded run: only the workers `w` with
        /// `w % count == index` run here, and a worker's sends take the global
        /// seqs `j · count + index` (so `requests` bounds the whole run).
        shard: Option<(u32, u32)>,
    },
    /// Requests at the precomputed intended offsets, optionally at most
    /// `max_concurrency` in flight (a request waits for a slot; the wait is part of
    /// its latency).
    Open {
        /// Intended send offsets, ns from the origin, non-decreasing.
        intended: Arc<Vec<u64>>,
        /// Ceiling on requests in flight.
        max_concurrency: Option<u32>,
        /// The global sequence number of each intended send (a shard keeps every
        /// N-th arrival of the global schedule); `None`: the index in `intended`.
        seqs: Option<Arc<Vec<u64>>>,
    },
    /// Agent sessions (`load --workload agent`), run by
    /// [`super::session_engine`] ([`super::run_load`] dispatches; this engine sends
    /// nothing for them).
    Sessions(Box<SessionPlan>),
}

/// An agent workload's sessions: what they are made of and how they are offered.
#[derive(Debug, Clone)]
pub struct SessionPlan {
    /// What sessions are made of.
    pub workload: super::session_engine::Workload,
    /// Tool time between turns.
    pub think: super::think::Think,
    /// Seed of the tool-time draws.
    pub seed: u64,
    /// How sessions are offered.
    pub mode: super::session_engine::SessionMode,
    /// A shard `(index, count)` of a sharded run: only this shard's whole
    /// sessions run here (see [`super::session_engine::SessionConfig::shard`]).
    pub shard: Option<(u32, u32)>,
}

/// Everything the engine needs for one run.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The client (one connection pool for the run).
    pub client: LlmClient,
    /// Requests, used in turn: request `seq` sends `prompts[seq % len]`. Not empty.
    pub prompts: Arc<Vec<PreparedCall>>,
    /// How load is offered.
    pub mode: Mode,
    /// Which requests are warm-up.
    pub warmup: super::record::Warmup,
    /// The origin on CLOCK_MONOTONIC ([`mono_ns`]); the engine waits for it.
    pub origin_mono_ns: u64,
    /// Set to stop offering load: no request is sent after it is seen (requests in
    /// flight finish and are recorded). `None`: the plan runs to its end.
    pub stop: Option<Arc<AtomicBool>>,
}

/// Live counters for a progress line, updated by the engine thread.
#[derive(Debug, Default)]
pub struct Progress {
    /// Requests sent.
    pub sent: AtomicU64,
    /// Requests finished (ok or failed).
    pub done: AtomicU64,
    /// Requests failed.
    pub failed: AtomicU64,
    /// Requests in flight now.
    pub in_flight: AtomicU64,
    /// p99 of the scheduler lag over the last second, ns.
    pub lag_p99_ns: AtomicU64,
}

struct Shared {
    cfg: EngineConfig,
    rec: Rc<Recorder>,
    /// Dispatched and not finished (includes requests waiting for a slot).
    outstanding: Cell<u64>,
    next_seq: Cell<u64>,
    idle: Notify,
    slots: Option<Semaphore>,
}

/// Runs the plan on a new thread and returns the client's accounts once every
/// request has finished and been handed to `sink`. Errors only when the thread or
/// its runtime cannot start.
pub fn run_engine(
    cfg: EngineConfig,
    sink: SinkTx,
    progress: Arc<Progress>,
) -> std::io::Result<RunEnd> {
    run_on_own_thread("agentbench-load", (cfg, sink, progress), |(c, s, p)| {
        drive(c, s, p)
    })
}

async fn drive(
    cfg: EngineConfig,
    sink: SinkTx,
    progress: Arc<Progress>,
) -> std::io::Result<RunEnd> {
    let slots = match &cfg.mode {
        Mode::Open {
            max_concurrency: Some(n),
            ..
        } => Some(Semaphore::new(*n as usize)),
        _ => None,
    };
    let rec = Rc::new(Recorder::new(
        cfg.origin_mono_ns,
        cfg.stop.clone(),
        sink,
        progress,
    ));
    let shared = Rc::new(Shared {
        cfg,
        rec: rec.clone(),
        outstanding: Cell::new(0),
        next_seq: Cell::new(0),
        idle: Notify::new(),
        slots,
    });
    let (mut timer, ticker) = rec.start().await?;
    match shared.cfg.mode.clone() {
        Mode::Open { intended, seqs, .. } => {
            open_loop(
                &shared,
                &mut timer,
                &intended,
                seqs.as_deref().map(|v| &v[..]),
            )
            .await
        }
        Mode::Closed {
            concurrency,
            think_ns,
            requests,
            duration_ns,
            shard,
        } => {
            let shard = shard.unwrap_or((0, 1));
            let workers: Vec<_> = (0..concurrency)
                .filter(|&w| super::shard::is_mine(u64::from(w), shard))
                .map(|w| {
                    let s = shared.clone();
                    tokio::task::spawn_local(async move {
                        worker(s, w, think_ns, requests, duration_ns, shard).await
                    })
                })
                .collect();
            for w in workers {
                let _ = w.await;
            }
        }
        Mode::Sessions(_) => {}
    }
    ticker.abort();
    Ok(rec.run_end())
}

async fn open_loop(shared: &Rc<Shared>, timer: &mut Timer, intended: &[u64], seqs: Option<&[u64]>) {
    let origin = shared.rec.origin();
    for (i, &at) in intended.iter().enumerate() {
        let seq = seqs.map_or(i as u64, |s| s[i]);
        let late = mono_ns() >= origin + at;
        timer.wait_until(origin + at).await;
        if shared.rec.stopped() {
            break;
        }
        shared.outstanding.set(shared.outstanding.get() + 1);
        let s = shared.clone();
        tokio::task::spawn_local(async move {
            let rec = send(&s, seq, 0, at).await;
            finish(&s, rec);
            s.outstanding.set(s.outstanding.get() - 1);
            if s.outstanding.get() == 0 {
                s.idle.notify_one();
            }
        });
        if late && i % 32 == 31 {
            // Far behind: let the requests already in flight make progress.
            tokio::task::yield_now().await;
        }
    }
    while shared.outstanding.get() > 0 {
        shared.idle.notified().await;
    }
}

async fn worker(
    shared: Rc<Shared>,
    worker: u32,
    think_ns: u64,
    requests: Option<u64>,
    duration_ns: Option<u64>,
    shard: (u32, u32),
) {
    let mut timer = match Timer::new() {
        Ok(t) => t,
        Err(_) => return,
    };
    let mut intended = 0u64;
    loop {
        if think_ns > 0 {
            timer.wait_until(shared.rec.origin() + intended).await;
        }
        if duration_ns.is_some_and(|d| intended >= d) || shared.rec.stopped() {
            return;
        }
        let local = shared.next_seq.get();
        let seq = super::shard::global_seq(local, shard);
        if requests.is_some_and(|k| seq >= k) {
            return;
        }
        shared.next_seq.set(local + 1);
        let rec = send(&shared, seq, worker, intended).await;
        let end = rec.last_seen_ns();
        finish(&shared, rec);
        intended = end + think_ns;
    }
}

/// Waits for a slot when there is a ceiling, sends, and returns the record.
async fn send(shared: &Rc<Shared>, seq: u64, worker: u32, intended_ns: u64) -> RequestRecord {
    let mut slot_wait_ns = 0;
    let _permit = match &shared.slots {
        Some(sem) => {
            let w0 = shared.rec.now_ns();
            let permit = sem.acquire().await.ok();
            slot_wait_ns = shared.rec.now_ns().saturating_sub(w0);
            permit
        }
        None => None,
    };
    let prompts = &shared.cfg.prompts;
    let prompt = (seq % prompts.len() as u64) as usize;
    let begun = shared.rec.begin_send(intended_ns, slot_wait_ns);
    let call = shared
        .cfg
        .client
        .call_prepared(&prompts[prompt], begun.t0)
        .await;
    RequestRecord {
        seq,
        worker,
        prompt: prompt as u32,
        warmup: shared.cfg.warmup.excludes(intended_ns, seq),
        intended_ns,
        sent_ns: begun.sent_ns,
        slot_wait_ns: begun.slot_wait_ns,
        turn: None,
        call,
    }
}

fn finish(shared: &Rc<Shared>, rec: RequestRecord) {
    shared.rec.finish(rec);
}
