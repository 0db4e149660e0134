//! The configurations of a sweep: a baseline with Ollama's defaults plus the cartesian
//! product of option lists, from flags or from a JSON file.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::client::GenOptions;

/// The id of the baseline configuration (no swept option set: Ollama's defaults).
pub const BASELINE: &str = "baseline";

/// One configuration: an id and the options it sets on top of the sweep's common ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepConfig {
    /// Stable id, e.g. `gpu60-ctx256-t0.6` or `baseline`.
    pub id: String,
    /// The swept options (absent = the server's default).
    pub options: GenOptions,
}

impl SweepConfig {
    /// Whether this is the baseline.
    pub fn is_baseline(&self) -> bool {
        self.id == BASELINE
    }

    /// The options whose change makes Ollama reload the model.
    pub fn reload_key(&self) -> (Option<u64>, Option<i64>) {
        (self.options.num_ctx, self.options.num_gpu)
    }
}

/// Option lists whose cartesian product is swept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Axes {
    /// num_gpu values.
    #[serde(default)]
    pub num_gpu: Vec<i64>,
    /// num_ctx values.
    #[serde(default)]
    pub num_ctx: Vec<u64>,
    /// temperature values.
    #[serde(default)]
    pub temperature: Vec<f64>,
}

/// The id of a configuration from its options.
pub fn config_id(o: &GenOptions) -> String {
    let mut parts = Vec::new();
    if let Some(g) = o.num_gpu {
        parts.push(format!("gpu{g}"));
    }
    if let Some(c) = o.num_ctx {
        parts.push(format!("ctx{c}"));
    }
    if let Some(t) = o.temperature {
        parts.push(format!("t{t}"));
    }
    if parts.is_empty() {
        BASELINE.to_string()
    } else {
        parts.join("-")
    }
}

/// Baseline first, then the product num_gpu × num_ctx × temperature (an empty axis is
/// left at the default). Ids are unique; an error names a duplicate value.
pub fn matrix(axes: &Axes) -> Result<Vec<SweepConfig>> {
    fn opt<T: Copy>(v: &[T]) -> Vec<Option<T>> {
        if v.is_empty() {
            vec![None]
        } else {
            v.iter().copied().map(Some).collect()
        }
    }
    let mut out = vec![SweepConfig {
        id: BASELINE.into(),
        options: GenOptions::default(),
    }];
    for g in opt(&axes.num_gpu) {
        for c in opt(&axes.num_ctx) {
            for t in opt(&axes.temperature) {
                let options = GenOptions {
                    num_gpu: g,
                    num_ctx: c,
                    temperature: t,
                    ..GenOptions::default()
                };
                if options == GenOptions::default() {
                    continue;
                }
                out.push(SweepConfig {
                    id: config_id(&options),
                    options,
                });
            }
        }
    }
    check_unique(&out)?;
    Ok(out)
}

fn check_unique(configs: &[SweepConfig]) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for c in configs {
        if !seen.insert(c.id.as_str()) {
            bail!("configuration {} appears twice in the matrix", c.id);
        }
    }
    Ok(())
}

/// A matrix file: either axes (`{"num_gpu": [..], "num_ctx": [..], "temperature": [..]}`,
/// baseline added) or explicit configurations
/// (`{"configs": [{"id": "...", "options": {...}}, ...]}`, a `baseline` added unless
/// present).
#[derive(Debug, Deserialize)]
struct MatrixFile {
    #[serde(default)]
    configs: Option<Vec<SweepConfig>>,
    #[serde(flatten)]
    axes: Axes,
}

/// Reads a JSON matrix file: either axes (`{"num_gpu": [..], "num_ctx": [..],
/// "temperature": [..]}`, baseline added) or explicit configurations (`{"configs":
/// [{"id": "...", "options": {...}}, ...]}`, a `baseline` added unless present).
pub fn matrix_from_file(path: &Path) -> Result<Vec<SweepConfig>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the matrix file {}", path.display()))?;
    let file: MatrixFile = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a matrix: expected JSON with num_gpu/num_ctx/temperature lists or configs[{{id, options}}]",
            path.display()
        )
    })?;
    match file.configs {
        Some(mut configs) => {
            if !configs.iter().any(SweepConfig::is_baseline) {
                configs.insert(
                    0,
                    SweepConfig {
                        id: BASELINE.into(),
                        options: GenOptions::default(),
                    },
                );
            }
            check_unique(&configs)?;
            Ok(configs)
        }
        None => matrix(&file.axes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_study_has_19_configurations() {
        let m = matrix(&Axes {
            num_gpu: vec![60, 80, 120],
            num_ctx: vec![256, 512, 1024],
            temperature: vec![0.6, 0.8],
        })
        .unwrap();
        assert_eq!(m.len(), 19);
        assert_eq!(m[0].id, "baseline");
        assert_eq!(m[1].id, "gpu60-ctx256-t0.6");
        assert!(matrix(&Axes {
            num_ctx: vec![256, 256],
            ..Axes::default()
        })
        .is_err());
    }
}
