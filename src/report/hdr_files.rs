//! HDR histogram files: writing a [`HistogramSet`] as `*.us.hdr` (HdrHistogram V2
//! binary, µs) and `*.ms.hgrm` (percentile-distribution text, ms) files, reading
//! them back, and merging files of one metric (`agentbench merge`). The histograms
//! themselves, and the `.hgrm` text, are computed in [`crate::metrics::hdr`]; this
//! module only adds the files.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;

pub use crate::metrics::hdr::HdrError;
use crate::metrics::hdr::{
    percentile_distribution, GroupKey, HistogramSet, LatencyHistograms, LatencyMetric, HGRM_SCALE,
    TICKS_PER_HALF_DISTANCE,
};

/// The files written for one histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramFiles {
    /// The group.
    pub group: GroupKey,
    /// The metric.
    pub metric: LatencyMetric,
    /// V2 binary, µs.
    pub hdr: PathBuf,
    /// Percentile distribution text, ms.
    pub hgrm: PathBuf,
}

impl HistogramSet {
    /// Writes `dir/<group>-<metric>.us.hdr` and `dir/<group>-<metric>.ms.hgrm` for
    /// every group and metric (creating `dir`): [`write_groups`] of its groups.
    pub fn write_dir(&self, dir: &Path) -> Result<Vec<HistogramFiles>, HdrError> {
        write_groups(&self.groups, dir)
    }
}

/// Writes `dir/<group>-<metric>.us.hdr` and `dir/<group>-<metric>.ms.hgrm` for every
/// group and metric (creating `dir`), the groups taken in key order (as a
/// [`HistogramSet`] holds them) whatever order they come in. Two groups whose slugs
/// collide get a numeric suffix, so no file is overwritten by another group. Borrows
/// what it can: a [`HistogramSet`] writes the histograms it holds, a report builds
/// each one from its records when its files are written, so that one histogram
/// (188 KB at this module's range and precision) is in memory at a time.
pub fn write_groups<'a, G: GroupHistograms + 'a>(
    groups: impl IntoIterator<Item = (&'a GroupKey, &'a G)>,
    dir: &Path,
) -> Result<Vec<HistogramFiles>, HdrError> {
    std::fs::create_dir_all(dir).map_err(|source| HdrError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::new();
    let mut used = BTreeMap::<String, usize>::new();
    for (key, hists) in groups {
        let base = key.slug();
        let n = used.entry(base.clone()).or_insert(0);
        *n += 1;
        let slug = if *n == 1 { base } else { format!("{base}-{n}") };
        for m in LatencyMetric::ALL {
            let stem = format!("{slug}-{}", m.slug());
            let hdr = dir.join(format!("{stem}.us.hdr"));
            let hgrm = dir.join(format!("{stem}.ms.hgrm"));
            let h = hists.histogram(m);
            write_hdr_file(&h, &hdr)?;
            write_hgrm_file(&h, &hgrm)?;
            out.push(HistogramFiles {
                group: key.clone(),
                metric: m,
                hdr,
                hgrm,
            });
        }
    }
    Ok(out)
}

/// Where [`write_groups`] takes a group's histogram of one metric from.
pub trait GroupHistograms {
    /// The histogram of `metric`: borrowed when it is held, built when it is not.
    fn histogram(&self, metric: LatencyMetric) -> Cow<'_, Histogram<u64>>;
}

impl GroupHistograms for LatencyHistograms {
    fn histogram(&self, metric: LatencyMetric) -> Cow<'_, Histogram<u64>> {
        Cow::Borrowed(self.get(metric))
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> HdrError + '_ {
    move |source| HdrError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn create(path: &Path) -> Result<BufWriter<File>, HdrError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    Ok(BufWriter::new(File::create(path).map_err(io_err(path))?))
}

/// Writes `h` (µs) as `.hgrm` text in milliseconds.
pub fn write_hgrm_file(h: &Histogram<u64>, path: &Path) -> Result<(), HdrError> {
    let mut w = create(path)?;
    w.write_all(percentile_distribution(h, TICKS_PER_HALF_DISTANCE, HGRM_SCALE).as_bytes())
        .and_then(|_| w.flush())
        .map_err(io_err(path))
}

/// Encodes `h` in the V2 format (uncompressed, cookie `0x1c849303`).
pub fn encode_v2(h: &Histogram<u64>) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut buf)
        .map_err(|e| format!("{e:?}"))?;
    Ok(buf)
}

/// Writes `h` to `path` in the V2 format.
pub fn write_hdr_file(h: &Histogram<u64>, path: &Path) -> Result<(), HdrError> {
    let bytes = encode_v2(h).map_err(|reason| HdrError::Encode {
        path: path.to_path_buf(),
        reason,
    })?;
    let mut w = create(path)?;
    w.write_all(&bytes)
        .and_then(|_| w.flush())
        .map_err(io_err(path))
}

/// Reads a V2 (or V2-deflate) histogram file.
pub fn read_hdr_file(path: &Path) -> Result<Histogram<u64>, HdrError> {
    let mut r = BufReader::new(File::open(path).map_err(io_err(path))?);
    Deserializer::new()
        .deserialize(&mut r)
        .map_err(|e| HdrError::Decode {
            path: path.to_path_buf(),
            reason: format!("{e:?}"),
        })
}

/// The metric a file name states (`…-<metric>.us.hdr` or `…-<metric>.hdr`), if any.
pub fn metric_of_file_name(path: &Path) -> Option<LatencyMetric> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".hdr")?;
    let stem = stem.strip_suffix(".us").unwrap_or(stem);
    LatencyMetric::ALL
        .into_iter()
        .filter(|m| stem == m.slug() || stem.ends_with(&format!("-{}", m.slug())))
        // Prefer the longest slug should one ever be a suffix of another.
        .max_by_key(|m| m.slug().len())
}

/// The `.ms.hgrm` path written next to a merged `.hdr` output: `x.us.hdr` →
/// `x.ms.hgrm`, `x.hdr` → `x.ms.hgrm`, anything else → `<out>.ms.hgrm`.
pub fn hgrm_path_for(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".us.hdr")
        .or_else(|| name.strip_suffix(".hdr"))
        .unwrap_or(&name);
    out.with_file_name(format!("{stem}.ms.hgrm"))
}

/// The result of [`merge_hdr_files`].
#[derive(Debug, Clone)]
pub struct MergedHdr {
    /// The sum of the inputs (µs).
    pub histogram: Histogram<u64>,
    /// The V2 file written (`out`).
    pub hdr: PathBuf,
    /// The `.ms.hgrm` text written next to it ([`hgrm_path_for`]).
    pub hgrm: PathBuf,
}

/// Merges V2 histogram files of one metric into `out` (V2) and its `.ms.hgrm`
/// sibling. The merged histogram holds every input's counts (it auto-resizes to
/// accept inputs recorded with other ranges). Inputs whose file names state
/// different metrics (see [`metric_of_file_name`]) are refused; the V2 format
/// itself carries no metric tag, so unnamed inputs are trusted.
pub fn merge_hdr_files(inputs: &[PathBuf], out: &Path) -> Result<MergedHdr, HdrError> {
    let mut first_named: Option<(&PathBuf, LatencyMetric)> = None;
    for p in inputs {
        if let Some(m) = metric_of_file_name(p) {
            match first_named {
                None => first_named = Some((p, m)),
                Some((fp, fm)) if fm != m => {
                    return Err(HdrError::MixedMetrics {
                        first: fp.clone(),
                        first_metric: fm.slug().into(),
                        other: p.clone(),
                        other_metric: m.slug().into(),
                    })
                }
                Some(_) => {}
            }
        }
    }
    let mut merged: Option<Histogram<u64>> = None;
    for p in inputs {
        let h = read_hdr_file(p)?;
        match &mut merged {
            None => {
                let mut m = h;
                m.auto(true);
                merged = Some(m);
            }
            Some(m) => m.add(&h).map_err(|e| HdrError::Add {
                path: p.clone(),
                reason: format!("{e:?}"),
            })?,
        }
    }
    let histogram = merged.ok_or_else(|| HdrError::NoInputs {
        out: out.to_path_buf(),
    })?;
    let hgrm = hgrm_path_for(out);
    write_hdr_file(&histogram, out)?;
    write_hgrm_file(&histogram, &hgrm)?;
    Ok(MergedHdr {
        histogram,
        hdr: out.to_path_buf(),
        hgrm,
    })
}
