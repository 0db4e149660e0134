//! `agentbench merge-runs`: the shards of a sharded load run → one run.
//!
//! Checks first, refusing with the offending folder named: every folder is a shard
//! of the same run (harness build, backend, model, settings, prompts, plan — seed,
//! schedule hash, rate, the agent plan field by field (session kind, turns, think
//! time, …) — shard count and requested start all agree; a field's
//! odd one out is named, judged against the value most folders hold), no shard is
//! missing and none is given twice. A shard whose origin was more than
//! `--max-skew` off the shared start is reported (a warning, named), not refused.
//!
//! Then each shard's request lines are copied as they are into `OUT/records.jsonl`
//! under a merged header (the plan with one [`ShardRow`] per shard) and a merged
//! end line, one line at a time. Each line is parsed once and folded into its
//! shard's analysis and into the merged run's, in the merged file's order, by the
//! same streaming [`Analyser`] that [`super::analyse_file`] runs over a file, so
//! the merged figures are exactly what `analyse_file(OUT/records.jsonl)` gives
//! (`agentbench report` on the merged file renders the same page; tests/shards.rs
//! checks it); [`super::output::write_outputs`] renders them as for a single run.
//! So the merged percentiles are the percentiles of the union of the shards'
//! records (HDR precision), an agent run's job (session) figures are those of the
//! union's sessions (a session runs whole on one shard, and the job analysis keys
//! its state by session id, so the shards' order does not matter), the per-second
//! rows and the interval log are the sums
//! of the shards' per-second histograms (that is what analysing the union
//! computes), and memory is the histograms plus one record, whatever the number of
//! records.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::analyse::{Analyser, LoadAnalysis};
use super::output::{OutputError, OutputPaths};
use super::record::{
    LoadHeader, LoadLine, LoadReadError, RequestRecord, RunEnd, ShardRow, WriterAccount,
};

/// How the record writer starts a request line.
const REQUEST_PREFIX: &[u8] = br#"{"kind":"request","#;

/// Default `--max-skew`: 5 ms.
pub const DEFAULT_MAX_SKEW_NS: u64 = 5_000_000;

/// How to merge.
#[derive(Debug, Clone, Copy)]
pub struct MergeOptions {
    /// A shard whose origin is further than this from the requested start is
    /// reported, ns.
    pub max_skew_ns: u64,
}

impl Default for MergeOptions {
    fn default() -> Self {
        MergeOptions {
            max_skew_ns: DEFAULT_MAX_SKEW_NS,
        }
    }
}

/// What [`merge_runs`] made.
#[derive(Debug, Clone)]
pub struct MergeOutcome {
    /// OUT/records.jsonl.
    pub records: PathBuf,
    /// The files written from it.
    pub outputs: OutputPaths,
    /// The merged analysis (its header's plan holds the per-shard rows).
    pub analysis: LoadAnalysis,
    /// Warnings (clock skew, skipped lines, interrupted shards), each naming the
    /// shard; also in the summary and the report.
    pub warnings: Vec<String>,
}

/// Merging failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A folder is not a shard of the same run as the others.
    #[error("{}: {why}", folder.display())]
    Refused {
        /// The offending folder.
        folder: PathBuf,
        /// Why, naming the field and the others' value.
        why: String,
    },
    /// A shard index has no folder.
    #[error("shard {index}/{count} is missing: the folders given hold shards {given}")]
    Missing {
        /// The missing index.
        index: u32,
        /// Shards in the run.
        count: u32,
        /// The indices given.
        given: String,
    },
    /// Reading a shard failed.
    #[error(transparent)]
    Read(#[from] LoadReadError),
    /// Writing the merged records failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing the outputs failed.
    #[error(transparent)]
    Output(#[from] OutputError),
}

struct Shard {
    folder: PathBuf,
    records: PathBuf,
    header: LoadHeader,
}

fn records_of(folder: &Path) -> PathBuf {
    if folder.is_dir() {
        folder.join("records.jsonl")
    } else {
        folder.to_path_buf()
    }
}

fn read_header(folder: &Path) -> Result<Shard, MergeError> {
    let records = records_of(folder);
    let refuse = |why: String| MergeError::Refused {
        folder: folder.to_path_buf(),
        why,
    };
    let file = File::open(&records)
        .map_err(|e| refuse(format!("cannot read {}: {e}", records.display())))?;
    let mut first = Vec::new();
    BufReader::new(file)
        .read_until(b'\n', &mut first)
        .map_err(|e| refuse(format!("cannot read {}: {e}", records.display())))?;
    let header = match serde_json::from_slice::<LoadLine>(&first) {
        Ok(LoadLine::LoadHeader(h)) => *h,
        _ => {
            return Err(refuse(
                "not the records of `agentbench load` (line 1 is no load header)".into(),
            ))
        }
    };
    if header.plan.shard.is_none() {
        return Err(refuse(
            "not a shard: run `agentbench load` with --shard I/N --start-at TIME (or under srun / an Indexed Job)".into(),
        ));
    }
    Ok(Shard {
        folder: folder.to_path_buf(),
        records,
        header,
    })
}

/// The fields that must agree, as (name, value) per shard.
fn identity(h: &LoadHeader) -> Vec<(String, String)> {
    let mut out = vec![
        (
            "harness version".to_string(),
            format!(
                "{} {} {} ({})",
                h.harness.name,
                h.harness.version,
                h.harness.git_commit.as_deref().unwrap_or("unknown commit"),
                h.harness.profile
            ),
        ),
        ("record schema".into(), h.schema_version.to_string()),
        ("backend URL".into(), h.backend.url.clone()),
        ("protocol".into(), h.backend.protocol.clone()),
        ("endpoint".into(), j(&h.backend.endpoint)),
        ("stub".into(), j(&h.backend.stub)),
        ("model".into(), h.model.clone()),
        ("settings".into(), j(&h.settings)),
        ("prompts".into(), j(&h.prompts)),
    ];
    if let Some(s) = &h.plan.shard {
        out.push(("shard count".into(), s.count.to_string()));
        out.push((
            "requested start (unix ns)".into(),
            s.start_unix_ns.to_string(),
        ));
    }
    let mut plan = serde_json::to_value(&h.plan).unwrap_or_default();
    if let Some(m) = plan.as_object_mut() {
        m.remove("shard");
        m.remove("shards");
        for (k, v) in m {
            match (k.as_str(), v.as_object()) {
                // An agent plan field by field, so that a refusal names it
                // (`agent turns 2 differs from 3 in …`).
                ("agent", Some(agent)) => {
                    for (ak, av) in agent {
                        out.push((format!("agent {}", ak.replace('_', " ")), av.to_string()));
                    }
                }
                ("schedule", _) => out.push(("schedule (count, hash)".into(), v.to_string())),
                _ => out.push((k.replace('_', " "), v.to_string())),
            }
        }
    }
    out
}

/// serde_json of anything serialisable, as a compact string.
fn j<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Refuses unless every shard belongs with the others; the odd one out of each
/// field (against the value most shards hold, ties to the first given) is named.
fn check_together(shards: &[Shard]) -> Result<(), MergeError> {
    let ids: Vec<Vec<(String, String)>> = shards.iter().map(|s| identity(&s.header)).collect();
    let mut fields: Vec<&str> = Vec::new();
    for id in &ids {
        for (k, _) in id {
            if !fields.contains(&k.as_str()) {
                fields.push(k);
            }
        }
    }
    let value = |i: usize, f: &str| {
        ids[i]
            .iter()
            .find(|(k, _)| k == f)
            .map_or_else(|| "(absent)".to_string(), |(_, v)| v.clone())
    };
    let mut problems: Vec<(usize, String)> = Vec::new();
    for f in fields {
        let mut counts: Vec<(String, usize, usize)> = Vec::new(); // value, count, first shard
        for i in 0..shards.len() {
            let v = value(i, f);
            match counts.iter_mut().find(|(x, _, _)| *x == v) {
                Some(c) => c.1 += 1,
                None => counts.push((v, 1, i)),
            }
        }
        if counts.len() < 2 {
            continue;
        }
        let (reference, _, ref_i) = counts
            .iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))
            .cloned()
            .unwrap_or_default();
        for i in 0..shards.len() {
            let v = value(i, f);
            if v != reference {
                problems.push((
                    i,
                    format!(
                        "{f} {v} differs from {reference} in {}",
                        shards[ref_i].folder.display()
                    ),
                ));
            }
        }
    }
    if let Some((first, _)) = problems.first() {
        let first = *first;
        let lines: Vec<String> = problems
            .iter()
            .map(|(i, why)| {
                if *i == first {
                    why.clone()
                } else {
                    format!("{}: {why}", shards[*i].folder.display())
                }
            })
            .collect();
        return Err(MergeError::Refused {
            folder: shards[first].folder.clone(),
            why: format!(
                "does not belong with the other shards (refusing to merge):\n  {}",
                lines.join("\n  ")
            ),
        });
    }
    Ok(())
}

/// Refuses a folder given twice, or two folders holding the same shard; names a
/// missing shard.
fn check_complete(shards: &[Shard]) -> Result<(), MergeError> {
    let mut seen_paths: Vec<(PathBuf, &Path)> = Vec::new();
    for s in shards {
        let canon = std::fs::canonicalize(&s.records).unwrap_or_else(|_| s.records.clone());
        if let Some((_, first)) = seen_paths.iter().find(|(p, _)| *p == canon) {
            return Err(MergeError::Refused {
                folder: s.folder.clone(),
                why: format!("given twice (also as {})", first.display()),
            });
        }
        seen_paths.push((canon, &s.folder));
    }
    let mut by_index: BTreeMap<u32, &Path> = BTreeMap::new();
    let mut count = 0;
    for s in shards {
        let info = s
            .header
            .plan
            .shard
            .as_ref()
            .expect("checked by read_header");
        count = info.count;
        if let Some(first) = by_index.insert(info.index, &s.folder) {
            return Err(MergeError::Refused {
                folder: s.folder.clone(),
                why: format!(
                    "duplicates shard {}/{} of {} (the same shard twice would count its requests twice)",
                    info.index,
                    info.count,
                    first.display()
                ),
            });
        }
    }
    if let Some(index) = (0..count).find(|i| !by_index.contains_key(i)) {
        let given: Vec<String> = by_index
            .iter()
            .map(|(i, f)| format!("{i} ({})", f.display()))
            .collect();
        return Err(MergeError::Missing {
            index,
            count,
            given: given.join(", "),
        });
    }
    Ok(())
}

/// One shard read (pass 1): every line parsed once and folded into the shard's own
/// analysis and the merged one (`union`); returns the shard's analysis, its end
/// line, and the line numbers (1-based) that are not request lines to copy.
fn analyse_shard(
    shard: &Shard,
    union: &mut Analyser,
) -> Result<(LoadAnalysis, Option<RunEnd>, Vec<usize>), MergeError> {
    let io = |source| LoadReadError::Io {
        path: shard.records.clone(),
        source,
    };
    let mut reader = BufReader::with_capacity(1 << 20, File::open(&shard.records).map_err(io)?);
    let mut analyser = Analyser::new(shard.header.clone());
    let mut end = None;
    let mut skipped = Vec::new();
    let mut not_copied = vec![1];
    let mut line = Vec::with_capacity(4096);
    let mut n = 0usize;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(io)? == 0 {
            break;
        }
        n += 1;
        if n == 1 {
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            not_copied.push(n);
            continue;
        }
        // A request line parsed as a RequestRecord directly (its "kind" field is
        // ignored): serde's internally tagged LoadLine would first buffer the whole
        // object, which doubles the cost of the merge's one parse.
        let parsed = if line.starts_with(REQUEST_PREFIX) {
            serde_json::from_slice::<RequestRecord>(&line).map(|r| LoadLine::Request(Box::new(r)))
        } else {
            serde_json::from_slice::<LoadLine>(&line)
        };
        match parsed {
            Ok(LoadLine::Request(r)) => {
                analyser.add(&r);
                union.add(&r);
            }
            Ok(LoadLine::LoadEnd(e)) => {
                end = Some(*e);
                not_copied.push(n);
            }
            Ok(LoadLine::LoadHeader(_)) => {
                skipped.push((n, "a second header".to_string()));
                not_copied.push(n);
            }
            Err(e) => {
                skipped.push((n, e.to_string()));
                not_copied.push(n);
            }
        }
    }
    Ok((analyser.finish(end.clone(), skipped), end, not_copied))
}

/// Pass 2: copies the shard's request lines, as they are, to `out` (every line
/// but those in `not_copied`, which is sorted).
fn copy_shard(
    shard: &Shard,
    not_copied: &[usize],
    out: &mut impl Write,
    out_path: &Path,
) -> Result<(), MergeError> {
    let io = |source| LoadReadError::Io {
        path: shard.records.clone(),
        source,
    };
    let out_err = |source| MergeError::Io {
        path: out_path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::with_capacity(1 << 20, File::open(&shard.records).map_err(io)?);
    let mut line = Vec::with_capacity(4096);
    let mut n = 0usize;
    let mut skip = not_copied.iter().peekable();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(io)? == 0 {
            return Ok(());
        }
        n += 1;
        if skip.peek() == Some(&&n) {
            skip.next();
            continue;
        }
        out.write_all(&line).map_err(out_err)?;
        if !line.ends_with(b"\n") {
            out.write_all(b"\n").map_err(out_err)?;
        }
    }
}

fn row_of(shard: &Shard, a: &LoadAnalysis, opts: &MergeOptions) -> ShardRow {
    let info = shard
        .header
        .plan
        .shard
        .as_ref()
        .expect("checked by read_header");
    let s = &a.summary;
    let who = format!(
        "shard {}/{} ({}, {})",
        info.index,
        info.count,
        info.host.as_deref().unwrap_or("unknown host"),
        shard.folder.display()
    );
    let skew_warning = (info.offset_ns.unsigned_abs() > opts.max_skew_ns).then(|| {
        format!(
            "CLOCK SKEW: {who} started {:+.3} ms off the shared start (beyond --max-skew {:.3} ms): its requests are on a time axis shifted by that much",
            info.offset_ns as f64 / 1e6,
            opts.max_skew_ns as f64 / 1e6
        )
    });
    ShardRow {
        index: info.index,
        count: info.count,
        host: info.host.clone(),
        folder: shard.folder.display().to_string(),
        offset_ns: info.offset_ns,
        skew_warning,
        requests: s.requests,
        sessions: s.sessions.as_ref().map(|j| j.sessions),
        jobs_completed: s.sessions.as_ref().map(|j| j.completed),
        measured: s.measured,
        failed: s.failed,
        target_rate: shard
            .header
            .plan
            .rate
            .map(|r| r / f64::from(info.count.max(1))),
        send_rate: s.send_rate,
        rate_ratio: s.client.rate_ratio,
        lag_p99_ms: s.client.lag_p99_ms,
        client_limited: s.client.client_limited,
        reasons: s.client.reasons.clone(),
    }
}

/// The end line of the merged run, when every shard has one: the longest wall
/// time, the busiest measuring thread (the client check is also made per shard),
/// the sums of process CPU, sends and peaks in flight (an upper bound).
fn merged_end(ends: &[Option<RunEnd>]) -> Option<RunEnd> {
    let ends: Vec<&RunEnd> = ends.iter().map(Option::as_ref).collect::<Option<_>>()?;
    let stopped: Vec<String> = ends
        .iter()
        .filter_map(|e| e.stopped_early.clone())
        .collect();
    Some(RunEnd {
        wall_ns: ends.iter().map(|e| e.wall_ns).max().unwrap_or(0),
        client_cpu_ns: ends.iter().map(|e| e.client_cpu_ns).max().unwrap_or(0),
        process_cpu_ns: ends.iter().map(|e| e.process_cpu_ns).sum(),
        sent: ends.iter().map(|e| e.sent).sum(),
        peak_in_flight: ends.iter().map(|e| e.peak_in_flight).sum(),
        stopped_early: (!stopped.is_empty()).then(|| stopped.join("; ")),
        writer: merged_writer(&ends),
    })
}

/// The shards' writers as one: idle class only when every shard's was, their
/// promotions, records and CPU time summed, the largest backlog (each shard's
/// writer is its own process's); absent when any shard did not record it.
fn merged_writer(ends: &[&RunEnd]) -> Option<WriterAccount> {
    let writers: Vec<WriterAccount> = ends.iter().map(|e| e.writer).collect::<Option<_>>()?;
    Some(WriterAccount {
        idle_class: writers.iter().all(|w| w.idle_class),
        promotions: writers.iter().map(|w| w.promotions).sum(),
        peak_backlog_bytes: writers.iter().map(|w| w.peak_backlog_bytes).max()?,
        records: writers.iter().map(|w| w.records).sum(),
        cpu_ns: writers.iter().map(|w| w.cpu_ns).sum(),
    })
}

/// Merges the shard folders (or their records.jsonl files) into `out`.
pub fn merge_runs(
    folders: &[PathBuf],
    out: &Path,
    opts: &MergeOptions,
) -> Result<MergeOutcome, MergeError> {
    if folders.is_empty() {
        return Err(MergeError::Missing {
            index: 0,
            count: 0,
            given: "none".into(),
        });
    }
    let mut shards = folders
        .iter()
        .map(|f| read_header(f))
        .collect::<Result<Vec<_>, _>>()?;
    check_complete(&shards)?;
    check_together(&shards)?;
    shards.sort_by_key(|s| s.header.plan.shard.as_ref().map_or(0, |i| i.index));

    let records = out.join("records.jsonl");
    let out_err = |source| MergeError::Io {
        path: records.clone(),
        source,
    };
    if records.exists() {
        return Err(out_err(std::io::Error::other(
            "already exists; choose another --out so that earlier records are kept",
        )));
    }
    std::fs::create_dir_all(out).map_err(out_err)?;
    // Pass 1 analyses every shard (the merged header, line 1, holds the per-shard
    // rows); pass 2 copies their request lines.
    let mut rows = Vec::new();
    let mut ends = Vec::new();
    let mut warnings = Vec::new();
    let mut union = Analyser::new(shards[0].header.clone());
    let mut not_copied = Vec::new();
    for s in &shards {
        let (a, end, skip) = analyse_shard(s, &mut union)?;
        not_copied.push(skip);
        let row = row_of(s, &a, opts);
        if let Some(wn) = &row.skew_warning {
            warnings.push(wn.clone());
        }
        for (line, why) in &a.summary.skipped_lines {
            warnings.push(format!(
                "shard {}/{}: {}:{line} skipped: {why}",
                row.index,
                row.count,
                s.records.display()
            ));
        }
        if end.is_none() {
            warnings.push(format!(
                "shard {}/{} ({}) has no end line: it was interrupted; its recorded requests count",
                row.index,
                row.count,
                s.folder.display()
            ));
        }
        rows.push(row);
        ends.push(end);
    }

    let mut header = shards[0].header.clone();
    let start = header
        .plan
        .shard
        .as_ref()
        .map_or(header.origin_unix_ns, |s| s.start_unix_ns);
    header.origin_unix_ns = start;
    header.plan.shard = None;
    header.plan.shards = rows;
    union.set_header(header.clone());
    let end = merged_end(&ends);
    let mut f = BufWriter::with_capacity(1 << 20, File::create(&records).map_err(out_err)?);
    let line = |l: &LoadLine, f: &mut BufWriter<File>| -> std::io::Result<()> {
        serde_json::to_writer(&mut *f, l).map_err(std::io::Error::other)?;
        f.write_all(b"\n")
    };
    line(&LoadLine::LoadHeader(Box::new(header)), &mut f).map_err(out_err)?;
    for (s, skip) in shards.iter().zip(&not_copied) {
        copy_shard(s, skip, &mut f, &records)?;
    }
    if let Some(end) = &end {
        line(&LoadLine::LoadEnd(Box::new(end.clone())), &mut f).map_err(out_err)?;
    }
    f.flush().map_err(out_err)?;
    drop(f);

    // What analyse_file(&records) computes, without reading the file again.
    let analysis = union.finish(end, Vec::new());
    let outputs = super::output::write_outputs(&analysis, out)?;
    Ok(MergeOutcome {
        records,
        outputs,
        analysis,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(writer: Option<WriterAccount>) -> Option<RunEnd> {
        Some(RunEnd {
            wall_ns: 10,
            sent: 2,
            writer,
            ..RunEnd::default()
        })
    }

    fn writer(idle_class: bool, promotions: u64, peak: u64) -> Option<WriterAccount> {
        Some(WriterAccount {
            idle_class,
            promotions,
            peak_backlog_bytes: peak,
            records: 2,
            cpu_ns: 1_000,
        })
    }

    #[test]
    fn the_shards_writers_merge_into_one_account() {
        let merged = merged_end(&[end(writer(true, 1, 500)), end(writer(false, 2, 900))])
            .and_then(|e| e.writer)
            .expect("both shards recorded their writer");
        assert_eq!(
            merged,
            WriterAccount {
                idle_class: false,
                promotions: 3,
                peak_backlog_bytes: 900,
                records: 4,
                cpu_ns: 2_000,
            }
        );
    }

    #[test]
    fn a_shard_without_a_writer_account_leaves_the_merge_without_one() {
        let merged = merged_end(&[end(writer(true, 0, 500)), end(None)]).expect("both ended");
        assert_eq!(merged.writer, None);
        assert_eq!(merged.sent, 4);
    }
}
