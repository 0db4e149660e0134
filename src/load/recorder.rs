//! What both measuring loops ([`super::engine`] for requests,
//! [`super::session_engine`] for agent sessions) share on their one thread: the
//! thread and its current-thread runtime, the run's origin and stop flag, the
//! accounts of every send (sent, in flight, peak, last end, the last second's lag
//! for the progress line) and the batching of finished records to the sink.
//!
//! Invariants: a send is accounted by [`Recorder::begin_send`] at its t0 and ended
//! by [`Recorder::finish`], which hands the record on; every record handed on
//! reaches the sink by the time [`Recorder::flush`] returns; the client's CPU time
//! is the measuring thread's from the origin to the last record.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::clock::{mono_ns, thread_cpu_ns, tighten_timer_slack, Timer};
use super::engine::Progress;
use super::record::{RequestRecord, RunEnd};
use super::sink::SinkTx;

/// Records are handed to the sink in batches of at most this many, or every
/// [`BATCH_EVERY`], whichever comes first.
const BATCH_MAX: usize = 256;
const BATCH_EVERY: Duration = Duration::from_millis(20);

/// Runs `drive(cfg)` on a new thread named `name`, with a current-thread runtime
/// and a local task set (the measuring loop's tasks never leave that thread), and
/// returns what it returns. Errors only when the thread or its runtime cannot start
/// or the loop panicked.
pub(super) fn run_on_own_thread<C, F, Fut>(name: &str, cfg: C, drive: F) -> std::io::Result<RunEnd>
where
    C: Send + 'static,
    F: FnOnce(C) -> Fut + Send + 'static,
    Fut: Future<Output = std::io::Result<RunEnd>> + 'static,
{
    let what = name.to_string();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            tighten_timer_slack();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, drive(cfg))
        })?
        .join()
        .map_err(|_| std::io::Error::other(format!("the thread {what} panicked")))?
}

/// A send as [`Recorder::begin_send`] accounted it.
pub(super) struct Send0 {
    /// The call's t0.
    pub t0: Instant,
    /// The send time, ns from the origin (never before the intended time).
    pub sent_ns: u64,
    /// The wait for a slot, clamped to the time between intended and sent.
    pub slot_wait_ns: u64,
}

/// The accounts and the record batch of one measuring loop (single-threaded).
pub(super) struct Recorder {
    origin_mono_ns: u64,
    stop: Option<Arc<AtomicBool>>,
    sink: SinkTx,
    progress: Arc<Progress>,
    batch: RefCell<Vec<RequestRecord>>,
    in_flight: Cell<u64>,
    peak_in_flight: Cell<u64>,
    sent: Cell<u64>,
    last_end_ns: Cell<u64>,
    lag: RefCell<hdrhistogram::Histogram<u64>>,
    cpu0: Cell<u64>,
}

impl Recorder {
    /// A recorder for a run whose origin is `origin_mono_ns` on CLOCK_MONOTONIC.
    pub fn new(
        origin_mono_ns: u64,
        stop: Option<Arc<AtomicBool>>,
        sink: SinkTx,
        progress: Arc<Progress>,
    ) -> Self {
        Recorder {
            origin_mono_ns,
            stop,
            sink,
            progress,
            batch: RefCell::new(Vec::with_capacity(BATCH_MAX)),
            in_flight: Cell::new(0),
            peak_in_flight: Cell::new(0),
            sent: Cell::new(0),
            last_end_ns: Cell::new(0),
            lag: RefCell::new(crate::metrics::hdr::new_histogram()),
            cpu0: Cell::new(thread_cpu_ns()),
        }
    }

    /// The caller asked the run to stop: nothing more is sent.
    pub fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// The origin on CLOCK_MONOTONIC, ns.
    pub fn origin(&self) -> u64 {
        self.origin_mono_ns
    }

    /// Now, ns from the origin (0 before it).
    pub fn now_ns(&self) -> u64 {
        mono_ns().saturating_sub(self.origin_mono_ns)
    }

    /// Waits on a new timer until the origin, then starts the client's CPU account
    /// and the flusher ([`Recorder::flusher`]); returns the timer (for the loop's
    /// own waits) and the flusher's handle (abort it once the loop is done).
    pub async fn start(self: &Rc<Self>) -> std::io::Result<(Timer, tokio::task::JoinHandle<()>)> {
        let mut timer = Timer::new()?;
        timer.wait_until(self.origin_mono_ns).await;
        self.cpu0.set(thread_cpu_ns());
        let ticker = tokio::task::spawn_local(self.clone().flusher());
        Ok((timer, ticker))
    }

    /// Takes the t0 of a send intended at `intended_ns` (after waiting
    /// `slot_wait_ns` for a slot) and accounts it: sent, in flight, peak, lag.
    pub fn begin_send(&self, intended_ns: u64, slot_wait_ns: u64) -> Send0 {
        let t0 = Instant::now();
        let sent_ns = self.now_ns().max(intended_ns);
        let slot_wait_ns = slot_wait_ns.min(sent_ns - intended_ns);
        let sent = self.sent.get() + 1;
        self.sent.set(sent);
        self.progress.sent.store(sent, Ordering::Relaxed);
        let active = self.in_flight.get() + 1;
        self.in_flight.set(active);
        if active > self.peak_in_flight.get() {
            self.peak_in_flight.set(active);
        }
        self.progress.in_flight.store(active, Ordering::Relaxed);
        let lag_us = (sent_ns - intended_ns - slot_wait_ns) / 1_000;
        let _ = self.lag.borrow_mut().record(lag_us.max(1));
        Send0 {
            t0,
            sent_ns,
            slot_wait_ns,
        }
    }

    /// Ends a send's accounts and hands its record on to the sink (batched).
    pub fn finish(&self, rec: RequestRecord) {
        let left = self.in_flight.get().saturating_sub(1);
        self.in_flight.set(left);
        let p = &self.progress;
        p.in_flight.store(left, Ordering::Relaxed);
        p.done.fetch_add(1, Ordering::Relaxed);
        if !rec.call.is_ok() {
            p.failed.fetch_add(1, Ordering::Relaxed);
        }
        let end = rec.last_seen_ns();
        if end > self.last_end_ns.get() {
            self.last_end_ns.set(end);
        }
        let mut batch = self.batch.borrow_mut();
        batch.push(rec);
        if batch.len() >= BATCH_MAX {
            let full = std::mem::replace(&mut *batch, Vec::with_capacity(BATCH_MAX));
            self.sink.send_batch(full);
        }
    }

    /// Hands the partial batch to the sink.
    pub fn flush(&self) {
        let mut batch = self.batch.borrow_mut();
        if !batch.is_empty() {
            let full = std::mem::replace(&mut *batch, Vec::with_capacity(BATCH_MAX));
            self.sink.send_batch(full);
        }
    }

    /// Hands partial batches to the sink every [`BATCH_EVERY`] and publishes the
    /// last second's lag p99; runs until aborted.
    pub async fn flusher(self: Rc<Self>) {
        let mut tick = tokio::time::interval(BATCH_EVERY);
        let per_second = (1000 / BATCH_EVERY.as_millis()).max(1) as u32;
        let mut n = 0u32;
        loop {
            tick.tick().await;
            self.flush();
            n += 1;
            if n.is_multiple_of(per_second) {
                let mut lag = self.lag.borrow_mut();
                if !lag.is_empty() {
                    let p99 = lag.value_at_quantile(0.99) * 1_000;
                    self.progress.lag_p99_ns.store(p99, Ordering::Relaxed);
                    lag.reset();
                }
            }
        }
    }

    /// The client's accounts once the last record was handed on (flushes first).
    pub fn run_end(&self) -> RunEnd {
        self.flush();
        let stopped_early = self.stopped().then(|| {
            "stopped before the plan's end (the caller asked; see the run's report)".to_string()
        });
        RunEnd {
            wall_ns: self.last_end_ns.get(),
            client_cpu_ns: thread_cpu_ns().saturating_sub(self.cpu0.get()),
            process_cpu_ns: super::clock::process_cpu_ns(),
            sent: self.sent.get(),
            peak_in_flight: self.peak_in_flight.get(),
            stopped_early,
            writer: None,
        }
    }
}
