//! The interleaved order of a sweep: every round visits every configuration once, in a
//! freshly shuffled order drawn from a seeded PRNG, so that drift over time (thermal,
//! background load, server state) spreads over all configurations instead of following
//! one block of runs.

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// One planned run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// 0-based round (warm-up rounds first).
    pub round: u32,
    /// Index into the configuration list.
    pub config: usize,
}

/// `rounds` rounds over `configs` configurations, each a Fisher–Yates shuffle by
/// splitmix64 seeded with `seed` and the round. Deterministic in its inputs.
pub fn interleaved(configs: usize, rounds: u32, seed: u64) -> Vec<Slot> {
    let mut out = Vec::with_capacity(configs * rounds as usize);
    for round in 0..rounds {
        let mut rng = SplitMix64::new(seed ^ u64::from(round).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut idx: Vec<usize> = (0..configs).collect();
        for i in (1..idx.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            idx.swap(i, j);
        }
        out.extend(idx.into_iter().map(|config| Slot { round, config }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_round_is_a_permutation_and_rounds_differ() {
        let o = interleaved(19, 3, 7);
        assert_eq!(o.len(), 57);
        for r in 0..3 {
            let mut seen: Vec<usize> = o
                .iter()
                .filter(|s| s.round == r)
                .map(|s| s.config)
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..19).collect::<Vec<_>>());
        }
        let r0: Vec<usize> = o[..19].iter().map(|s| s.config).collect();
        let r1: Vec<usize> = o[19..38].iter().map(|s| s.config).collect();
        assert_ne!(r0, r1);
        assert_eq!(o, interleaved(19, 3, 7));
        assert_ne!(o, interleaved(19, 3, 8));
    }
}
