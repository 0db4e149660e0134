//! The session engine: agent sessions (chains of turns with tool time between
//! them) offered as load, on the same design as [`super::engine`] (one thread, a
//! current-thread runtime, timerfd waits, records streamed to the sink).
//!
//! Timing rule (see [`super::session`]): a session's first turn is intended at the
//! session's intended start (closed loop: the moment its slot became free; open
//! loop: its arrival on the seeded schedule); turn k+1 is intended at turn k's real
//! end (its last byte seen) plus the tool time before turn k+1. A session holds its
//! slot (closed loop) or its concurrency permit (open loop with
//! `--max-concurrency`) through its tool time. A turn that fails ends its session:
//! its remaining turns are not sent. A finished session is dropped at once: memory
//! does not grow with the number of sessions.
//!
//! Every request body is rendered before its t0 (building a conversation is not
//! part of the measured call).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio::sync::{Notify, Semaphore};

use super::clock::{mono_ns, Timer};
use super::engine::Progress;
use super::record::{RequestRecord, RunEnd};
use super::recorder::{run_on_own_thread, Recorder};
use super::session::{SessionScript, TurnInput, TurnRef, TurnScript};
use super::shard::{global_seq, is_mine};
use super::sink::SinkTx;
use super::think::Think;
use crate::client::{Endpoint, LlmClient, Message, PreparedCall, RequestSettings};
use crate::ingest::DataSummary;

/// How many trailing characters of the previous answer a chat follow-up quotes.
pub const FOLLOW_UP_CHARS: usize = 200;

/// The follow-up rule, in words (recorded in the header).
pub const FOLLOW_UP_RULE: &str =
    "\"Go on from: \" followed by the last 200 characters of the previous answer";

/// A chat session's follow-up user message, built from the previous answer:
/// `Go on from: ` and the answer's last [`FOLLOW_UP_CHARS`] characters (the whole
/// answer when shorter). Deterministic.
pub fn follow_up(answer: &str) -> String {
    let n = answer.chars().count();
    let tail: String = answer
        .chars()
        .skip(n.saturating_sub(FOLLOW_UP_CHARS))
        .collect();
    format!("Go on from: {tail}")
}

/// What the sessions are made of.
#[derive(Debug, Clone)]
pub enum Workload {
    /// Chat sessions: turn 0 sends `first` as the user message; each later turn
    /// sends the whole conversation so far plus [`follow_up`] of the last answer.
    Chat {
        /// Turns per session (≥ 1).
        turns: u32,
        /// Turn 0's user message.
        first: Arc<str>,
    },
    /// The agent workflow: turn 0 the analysis call (`analysis` prompt), turn 1 the
    /// report call whose prompt is built from the analysis answer exactly as
    /// `agentbench run` builds it (`parse_analysis`, then `report_prompt` with
    /// `summary`). Both are single prompts on the run's endpoint.
    Workflow {
        /// The analysis prompt.
        analysis: Arc<str>,
        /// The corpus summary the report prompt is built from.
        summary: Arc<DataSummary>,
    },
    /// Given scripts (e.g. imported from a trace): session `i` runs
    /// `scripts[i % len]` as it is, tool times included (the scripts' `start_ns` are
    /// not read here: an open loop's arrivals come from [`SessionMode::Open`]).
    /// A [`TurnInput::WorkflowReport`] turn in a script has no corpus summary at
    /// hand and is sent as [`follow_up`] of the previous answer. Not empty.
    Scripts(Arc<Vec<SessionScript>>),
}

impl Workload {
    /// Turns each session plans.
    pub fn turns(&self) -> u32 {
        match self {
            Workload::Chat { turns, .. } => *turns,
            Workload::Workflow { .. } => 2,
            Workload::Scripts(s) => s.iter().map(|s| s.turns.len() as u32).max().unwrap_or(0),
        }
    }

    /// Session `session`'s script, its tool times drawn from `think` with `seed`.
    pub fn script(&self, session: u64, think: &Think, seed: u64) -> SessionScript {
        if let Workload::Scripts(s) = self {
            return s[(session % s.len() as u64) as usize].clone();
        }
        let think_of = |k: u32| {
            if k == 0 {
                0
            } else {
                think.draw(seed, session, k)
            }
        };
        let turns = match self {
            Workload::Chat { turns, first } => (0..*turns)
                .map(|k| TurnScript {
                    think_ns: think_of(k),
                    input: if k == 0 {
                        TurnInput::Message(first.to_string())
                    } else {
                        TurnInput::FollowUp
                    },
                    max_tokens: None,
                })
                .collect(),
            Workload::Workflow { analysis, .. } => vec![
                TurnScript {
                    think_ns: 0,
                    input: TurnInput::Prompt(analysis.to_string()),
                    max_tokens: None,
                },
                TurnScript {
                    think_ns: think_of(1),
                    input: TurnInput::WorkflowReport,
                    max_tokens: None,
                },
            ],
            Workload::Scripts(_) => Vec::new(),
        };
        SessionScript {
            start_ns: None,
            turns,
        }
    }
}

/// How sessions are offered.
#[derive(Debug, Clone)]
pub enum SessionMode {
    /// `slots` slots; each runs sessions back to back (the next session's intended
    /// start is the previous one's last turn end) and holds its slot through tool
    /// time.
    Closed {
        /// Slots (≥ 1).
        slots: u32,
        /// No session starts at or after this offset, ns.
        duration_ns: Option<u64>,
        /// Sessions to start in all (when sharded: in the whole run; it bounds the
        /// session ids).
        jobs: Option<u64>,
    },
    /// Sessions arrive at these intended offsets (the seeded schedule); at most
    /// `max_concurrency` sessions in flight when set (a session waits for a permit
    /// and holds it through its tool time; the wait is part of its first turn's
    /// latency, in `slot_wait_ns`).
    Open {
        /// Arrival offsets of the whole run, ns from the origin, non-decreasing:
        /// session `k` arrives at `arrivals[k]` (a shard starts only its own
        /// sessions, see [`SessionConfig::shard`]).
        arrivals: Arc<Vec<u64>>,
        /// Ceiling on sessions in flight (of this process, when sharded).
        max_concurrency: Option<u32>,
    },
}

/// Everything the session engine needs for one run.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The client.
    pub client: LlmClient,
    /// Model requested.
    pub model: String,
    /// Options sent with every turn.
    pub settings: RequestSettings,
    /// Endpoint of single-prompt turns (workflow; chat turns always use chat).
    pub endpoint: Endpoint,
    /// What sessions are made of.
    pub workload: Workload,
    /// Tool time between turns.
    pub think: Think,
    /// Seed of the tool-time draws.
    pub seed: u64,
    /// How sessions are offered.
    pub mode: SessionMode,
    /// A shard `(index, count)` of a sharded run (`None`: unsharded, `(0, 1)`).
    /// Whole sessions are sharded by session id, so every session's id, intended
    /// start and think times are those of the unsharded run: open loop, only the
    /// arrivals `k` with `k mod count == index` start here, as session `k`; closed
    /// loop, only the slots `w` with `w mod count == index` run here, and their
    /// sessions take the ids `j · count + index` (`jobs` bounds the ids, so the
    /// whole run). Request seqs are numbered the same way (`j · count + index`),
    /// so they are unique across the shards.
    pub shard: Option<(u32, u32)>,
    /// Which sessions are warm-up (by intended start and session id).
    pub warmup: super::record::Warmup,
    /// The origin on CLOCK_MONOTONIC.
    pub origin_mono_ns: u64,
    /// Set to stop: no turn is sent after it is seen.
    pub stop: Option<Arc<AtomicBool>>,
}

struct Shared {
    cfg: SessionConfig,
    rec: Rc<Recorder>,
    /// Sessions started and not ended (open loop).
    outstanding: Cell<u64>,
    next_seq: Cell<u64>,
    next_session: Cell<u64>,
    /// [`SessionConfig::shard`], `(0, 1)` when unsharded.
    shard: (u32, u32),
    idle: Notify,
    permits: Option<Semaphore>,
}

/// Runs the sessions on a new thread and returns the client's accounts once every
/// session has ended and its records been handed to `sink`. Errors only when the
/// thread or its runtime cannot start.
pub fn run_sessions(
    cfg: SessionConfig,
    sink: SinkTx,
    progress: Arc<Progress>,
) -> std::io::Result<RunEnd> {
    run_on_own_thread("agentbench-sessions", (cfg, sink, progress), |(c, s, p)| {
        drive(c, s, p)
    })
}

async fn drive(
    cfg: SessionConfig,
    sink: SinkTx,
    progress: Arc<Progress>,
) -> std::io::Result<RunEnd> {
    let permits = match &cfg.mode {
        SessionMode::Open {
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
    let shard = cfg.shard.unwrap_or((0, 1));
    let shared = Rc::new(Shared {
        cfg,
        rec: rec.clone(),
        outstanding: Cell::new(0),
        next_seq: Cell::new(0),
        next_session: Cell::new(0),
        shard,
        idle: Notify::new(),
        permits,
    });
    let (mut timer, ticker) = rec.start().await?;
    match shared.cfg.mode.clone() {
        SessionMode::Open { arrivals, .. } => open_loop(&shared, &mut timer, &arrivals).await,
        SessionMode::Closed {
            slots,
            duration_ns,
            jobs,
        } => {
            let tasks: Vec<_> = (0..slots)
                .filter(|&slot| is_mine(u64::from(slot), shard))
                .map(|slot| {
                    let s = shared.clone();
                    tokio::task::spawn_local(
                        async move { slot_loop(s, slot, duration_ns, jobs).await },
                    )
                })
                .collect();
            for t in tasks {
                let _ = t.await;
            }
        }
    }
    ticker.abort();
    Ok(rec.run_end())
}

async fn open_loop(shared: &Rc<Shared>, timer: &mut Timer, arrivals: &[u64]) {
    let origin = shared.rec.origin();
    let mine = arrivals
        .iter()
        .enumerate()
        .filter(|(k, _)| is_mine(*k as u64, shared.shard));
    for (i, (session, &at)) in mine.enumerate() {
        let late = mono_ns() >= origin + at;
        timer.wait_until(origin + at).await;
        if shared.rec.stopped() {
            break;
        }
        shared.outstanding.set(shared.outstanding.get() + 1);
        let s = shared.clone();
        tokio::task::spawn_local(async move {
            let mut wait_ns = 0;
            let _permit = match &s.permits {
                Some(sem) => {
                    let w0 = s.rec.now_ns();
                    let p = sem.acquire().await.ok();
                    wait_ns = s.rec.now_ns().saturating_sub(w0);
                    p
                }
                None => None,
            };
            let mut timer = None;
            run_session(&s, &mut timer, session as u64, 0, at, wait_ns).await;
            s.outstanding.set(s.outstanding.get() - 1);
            if s.outstanding.get() == 0 {
                s.idle.notify_one();
            }
        });
        if late && i % 32 == 31 {
            tokio::task::yield_now().await;
        }
    }
    while shared.outstanding.get() > 0 {
        shared.idle.notified().await;
    }
}

async fn slot_loop(shared: Rc<Shared>, slot: u32, duration_ns: Option<u64>, jobs: Option<u64>) {
    let mut timer = None;
    let mut start = 0u64;
    loop {
        if duration_ns.is_some_and(|d| start >= d) || shared.rec.stopped() {
            return;
        }
        let local = shared.next_session.get();
        let session = global_seq(local, shared.shard);
        if jobs.is_some_and(|j| session >= j) {
            return;
        }
        shared.next_session.set(local + 1);
        start = run_session(&shared, &mut timer, session, slot, start, 0).await;
    }
}

/// One session's state between turns (dropped when the session ends).
struct Conversation {
    /// Chat: the messages so far.
    messages: Vec<Message>,
    /// The context the server saw by the end of the previous turn: its prompt
    /// text followed by its answer.
    context: String,
    /// The previous turn's answer.
    answer: String,
}

/// Runs session `session` on `slot` from its intended start `start_ns`; returns
/// the moment its last turn ended (the slot is free again then). `wait_ns`: the
/// wait for a concurrency permit before its first turn.
async fn run_session(
    shared: &Rc<Shared>,
    timer: &mut Option<Timer>,
    session: u64,
    slot: u32,
    start_ns: u64,
    wait_ns: u64,
) -> u64 {
    let cfg = &shared.cfg;
    let script = cfg.workload.script(session, &cfg.think, cfg.seed);
    let planned = script.turns.len() as u32;
    let mut conv = Conversation {
        messages: Vec::new(),
        context: String::new(),
        answer: String::new(),
    };
    let mut end_ns = start_ns;
    for (k, turn) in script.turns.iter().enumerate() {
        let k = k as u32;
        let intended_ns = if k == 0 {
            start_ns
        } else {
            end_ns + turn.think_ns
        };
        if k > 0 && turn.think_ns > 0 {
            if timer.is_none() {
                match Timer::new() {
                    Ok(t) => *timer = Some(t),
                    Err(_) => return end_ns,
                }
            }
            if let Some(t) = timer.as_mut() {
                t.wait_until(shared.rec.origin() + intended_ns).await;
            }
        }
        if shared.rec.stopped() {
            break;
        }
        let (call, prompt_text) = render(cfg, &mut conv, turn);
        let shared_prefix_bytes = if k == 0 {
            0
        } else {
            common_prefix(&prompt_text, &conv.context) as u64
        };
        let turn_ref = TurnRef {
            session,
            turn: k,
            turns: planned,
            session_intended_ns: start_ns,
            think_ns: if k == 0 { 0 } else { turn.think_ns },
            shared_prefix_bytes,
            prompt_text_bytes: prompt_text.len() as u64,
        };
        let slot_wait = if k == 0 { wait_ns } else { 0 };
        let rec = send(shared, &call, slot, intended_ns, slot_wait, turn_ref).await;
        end_ns = rec.last_seen_ns();
        let ok = rec.call.is_ok();
        let answer = if ok {
            rec.call.response.clone()
        } else {
            String::new()
        };
        finish(shared, rec);
        if !ok {
            break;
        }
        conv.context = prompt_text;
        conv.context.push_str(&answer);
        if matches!(turn.input, TurnInput::Message(_) | TurnInput::FollowUp) {
            conv.messages.push(Message::assistant(answer.clone()));
        }
        conv.answer = answer;
    }
    end_ns
}

/// Renders a turn's request (before its t0): the prepared call and its prompt
/// text (chat: every message's content concatenated in order).
/// A turn's `max_tokens`, when set, replaces the run's output bound.
fn render(
    cfg: &SessionConfig,
    conv: &mut Conversation,
    turn: &TurnScript,
) -> (PreparedCall, String) {
    let input = &turn.input;
    let bounded;
    let settings = match turn.max_tokens {
        Some(n) => {
            let mut s = cfg.settings.clone();
            s.options.num_predict = Some(i64::from(n));
            bounded = s;
            &bounded
        }
        None => &cfg.settings,
    };
    let single = |prompt: &str, endpoint: Endpoint| {
        cfg.client.prepare_call(&crate::client::CallRequest {
            endpoint,
            model: &cfg.model,
            prompt,
            settings,
        })
    };
    match input {
        TurnInput::Message(_) | TurnInput::FollowUp => {
            let text = match input {
                TurnInput::Message(m) => m.clone(),
                _ => follow_up(&conv.answer),
            };
            conv.messages.push(Message::user(text));
            let call = cfg
                .client
                .prepare_chat(&cfg.model, &conv.messages, settings);
            let text: String = conv.messages.iter().map(|m| m.content.as_str()).collect();
            (call, text)
        }
        TurnInput::Prompt(p) => (single(p, cfg.endpoint), p.clone()),
        TurnInput::WorkflowReport => {
            let prompt = match &cfg.workload {
                Workload::Workflow { summary, .. } => crate::prompt::report_prompt(
                    &crate::prompt::parse_analysis(&conv.answer),
                    summary,
                ),
                Workload::Chat { .. } | Workload::Scripts(_) => follow_up(&conv.answer),
            };
            (single(&prompt, cfg.endpoint), prompt)
        }
    }
}

/// Length in bytes of the longest common prefix of `a` and `b`.
pub fn common_prefix(a: &str, b: &str) -> usize {
    a.as_bytes()
        .iter()
        .zip(b.as_bytes())
        .take_while(|(x, y)| x == y)
        .count()
}

async fn send(
    shared: &Rc<Shared>,
    call: &PreparedCall,
    slot: u32,
    intended_ns: u64,
    slot_wait_ns: u64,
    turn: TurnRef,
) -> RequestRecord {
    let local = shared.next_seq.get();
    shared.next_seq.set(local + 1);
    let seq = global_seq(local, shared.shard);
    let begun = shared.rec.begin_send(intended_ns, slot_wait_ns);
    let record = shared.cfg.client.call_prepared(call, begun.t0).await;
    RequestRecord {
        seq,
        worker: slot,
        prompt: 0,
        warmup: shared
            .cfg
            .warmup
            .excludes(turn.session_intended_ns, turn.session),
        intended_ns,
        sent_ns: begun.sent_ns,
        slot_wait_ns: begun.slot_wait_ns,
        turn: Some(turn),
        call: record,
    }
}

fn finish(shared: &Rc<Shared>, rec: RequestRecord) {
    shared.rec.finish(rec);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_up_quotes_the_answer_tail() {
        assert_eq!(follow_up("abc"), "Go on from: abc");
        let long: String = "é".repeat(300);
        assert_eq!(follow_up(&long), format!("Go on from: {}", "é".repeat(200)));
    }

    #[test]
    fn chat_scripts_have_seeded_think_times() {
        let w = Workload::Chat {
            turns: 3,
            first: "hi".into(),
        };
        let t = Think::Exp { mean_ns: 1_000 };
        let a = w.script(4, &t, 9);
        assert_eq!(a, w.script(4, &t, 9));
        assert_eq!(a.turns.len(), 3);
        assert_eq!(a.turns[0].think_ns, 0);
        assert_eq!(a.turns[0].input, TurnInput::Message("hi".into()));
        assert_eq!(a.turns[2].input, TurnInput::FollowUp);
        assert_eq!(a.turns[1].think_ns, t.draw(9, 4, 1));
    }

    #[test]
    fn common_prefix_counts_bytes() {
        assert_eq!(common_prefix("abcd", "abxd"), 2);
        assert_eq!(common_prefix("", "a"), 0);
        assert_eq!(common_prefix("ab", "ab"), 2);
    }
}
