//! The ingest's helper thread, started by the process's first parallel ingest and
//! kept, parked, for the next ones: a later ingest wakes it instead of creating a
//! thread (70–130 µs on this project's VMs before a new thread runs, plus its
//! creation and exit).

use std::any::Any;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use super::{load, FileKind, IngestOptions, ParseOutcome};

/// The files of one ingest, taken in turn from `next` by the calling thread and
/// the helper.
pub(super) struct Batch {
    /// (index into the corpus's files, full path) of each file to read.
    jobs: Vec<(usize, PathBuf)>,
    /// The kind of each job's file.
    kinds: Vec<FileKind>,
    /// The ingest's options (the size cap).
    opts: IngestOptions,
    next: AtomicUsize,
}

/// What one thread loaded: (index into the corpus's files, (size, outcome)).
pub(super) type Loaded = Vec<(usize, (u64, ParseOutcome))>;

/// The helper's answer: what it loaded, or the panic that stopped it.
type Answer = Result<Loaded, Box<dyn Any + Send>>;

impl Batch {
    pub(super) fn new(
        jobs: Vec<(usize, PathBuf)>,
        kinds: Vec<FileKind>,
        opts: IngestOptions,
    ) -> Self {
        Batch {
            jobs,
            kinds,
            opts,
            next: AtomicUsize::new(0),
        }
    }

    /// Loads files until none is left untaken, with one read buffer for all of them.
    pub(super) fn work(&self) -> Loaded {
        let mut done = Vec::new();
        let mut buf = Vec::new();
        loop {
            let j = self.next.fetch_add(1, Ordering::Relaxed);
            let Some((i, path)) = self.jobs.get(j) else {
                return done;
            };
            done.push((*i, load(path, self.kinds[j], &self.opts, &mut buf)));
        }
    }
}

/// The kept helper: where to send it a batch.
struct Helper {
    to: Sender<(Arc<Batch>, SyncSender<Answer>)>,
}

/// The process's helper, once started (`None` before, or if it could not start).
/// Held by one ingest at a time; an ingest that finds it held uses a thread of its own.
static HELPER: Mutex<Option<Helper>> = Mutex::new(None);

/// Loads `batch` on the calling thread and on one other: the kept helper when it is
/// free, else a thread of this call's own. Every job is loaded exactly once, in
/// whichever thread took it; a panic in the other thread is resumed here.
pub(super) fn load_on_two(batch: Arc<Batch>) -> (Loaded, Loaded) {
    let Ok(mut held) = HELPER.try_lock() else {
        return on_own_thread(&batch);
    };
    if held.is_none() {
        *held = start();
    }
    let Some(helper) = held.as_ref() else {
        return on_own_thread(&batch);
    };
    let (reply, answer) = mpsc::sync_channel(1);
    if helper.to.send((Arc::clone(&batch), reply)).is_err() {
        *held = None;
        return on_own_thread(&batch);
    }
    let mine = batch.work();
    match answer.recv() {
        Ok(Ok(theirs)) => (mine, theirs),
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        // The helper is gone (it cannot be, short of a panic outside a batch): what it
        // took and did not hand back is loaded here.
        Err(_) => {
            *held = None;
            let theirs = unclaimed(&batch, &mine);
            (mine, theirs)
        }
    }
}

/// The jobs of `batch` that are not in `mine`, loaded on this thread.
fn unclaimed(batch: &Batch, mine: &Loaded) -> Loaded {
    let done: std::collections::HashSet<usize> = mine.iter().map(|(i, _)| *i).collect();
    let mut buf = Vec::new();
    batch
        .jobs
        .iter()
        .zip(&batch.kinds)
        .filter(|((i, _), _)| !done.contains(i))
        .map(|((i, path), kind)| (*i, load(path, *kind, &batch.opts, &mut buf)))
        .collect()
}

/// Starts the kept helper; `None` when no thread can be had.
fn start() -> Option<Helper> {
    let (to, from) = mpsc::channel();
    std::thread::Builder::new()
        .name("ingest".into())
        .spawn(move || serve(from))
        .ok()?;
    Some(Helper { to })
}

/// The helper's loop: one batch at a time, until the process ends.
fn serve(from: Receiver<(Arc<Batch>, SyncSender<Answer>)>) {
    while let Ok((batch, reply)) = from.recv() {
        // `work`'s read buffer lives for the batch only: nothing is held while the
        // helper waits.
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| batch.work()));
        drop(batch);
        let _ = reply.send(answer);
    }
}

/// Loads `batch` on the calling thread and a scoped thread of this call's own (the
/// calling thread alone when none can be had).
fn on_own_thread(batch: &Batch) -> (Loaded, Loaded) {
    std::thread::scope(|s| {
        let helper = std::thread::Builder::new()
            .name("ingest".into())
            .spawn_scoped(s, || batch.work());
        let mine = batch.work();
        let theirs = match helper {
            Ok(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            // No thread to be had: the counter leaves nothing undone by this one.
            Err(_) => Vec::new(),
        };
        (mine, theirs)
    })
}
