//! The crate's one seeded PRNG: splitmix64 (Steele, Lea & Flood 2014), defined here so
//! that generated files (the `mock-data/` corpus), the stubs' jitter, the sweep's run
//! order and the bootstrap's resamples never depend on an external crate's stream.
//!
//! Guarantee: the same seed yields the same stream on every platform and every build,
//! forever. Every method below is a fixed function of that stream; changing one would
//! change committed files, so none may change.

/// splitmix64 generator. Cloning copies the state, so a clone continues the same stream.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// Creates a generator whose stream is fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Next 64 uniformly distributed bits (Vigna's reference `splitmix64.c`).
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform float in `[0, 1)` built from the top 53 bits of [`next_u64`](Self::next_u64).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform float in `[lo, hi)`.
    pub fn range_f64(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }

    /// Integer in `[0, n)` by `next_u64() % n` (modulo bias below n / 2^64); returns 0
    /// when `n == 0`. The corpus generator's draws; see [`index`](Self::index) for the
    /// multiply-shift map.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Index in `0..n` (`n > 0`) by the multiply-shift map `(next_u64() * n) >> 64`; its
    /// bias is below n / 2^64. The bootstrap's resampling draws.
    pub fn index(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform integer in `[lo, hi]` (inclusive).
    pub fn range_u64(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }

    /// A reference to a uniformly chosen element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A derived generator with an independent-looking stream (for sub-tasks).
    pub fn fork(&mut self, salt: u64) -> Self {
        Self::new(self.next_u64() ^ salt.wrapping_mul(0xD6E8_FEB8_6659_FD93))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_splitmix64_values() {
        // Reference values of splitmix64 for seed 0 (Vigna's reference implementation).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn matches_reference_splitmix64_stream() {
        // First outputs for seed 1234567 of the reference C implementation
        // (https://prng.di.unimi.it/splitmix64.c), as listed in
        // https://rosettacode.org/wiki/Pseudo-random_numbers/Splitmix64.
        let mut r = SplitMix64::new(1_234_567);
        let want = [
            6_457_827_717_110_365_317_u64,
            3_203_168_211_198_807_973,
            9_817_491_932_198_370_423,
            4_593_380_528_125_082_431,
            16_408_922_859_458_223_821,
        ];
        for w in want {
            assert_eq!(r.next_u64(), w);
        }
    }

    #[test]
    fn next_f64_equals_the_division_form() {
        // The stub's former copy divided by 2^53 where the corpus multiplied by 2^-53;
        // both are exact, so the streams agree bit for bit.
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..10_000 {
            let x = a.next_f64();
            let y = (b.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            assert_eq!(x.to_bits(), y.to_bits());
        }
    }

    #[test]
    fn same_seed_same_stream_and_ranges_hold() {
        let mut a = SplitMix64::new(112);
        let mut b = SplitMix64::new(112);
        for _ in 0..1000 {
            let x = a.range_f64(2.0, 3.0);
            assert_eq!(x.to_bits(), b.range_f64(2.0, 3.0).to_bits());
            assert!((2.0..3.0).contains(&x));
            let k = a.range_u64(5, 7);
            assert_eq!(k, b.range_u64(5, 7));
            assert!((5..=7).contains(&k));
        }
        assert_ne!(SplitMix64::new(1).next_u64(), SplitMix64::new(2).next_u64());
    }

    #[test]
    fn index_stays_in_range() {
        let mut r = SplitMix64::new(7);
        for n in 1..50 {
            for _ in 0..100 {
                assert!(r.index(n) < n);
            }
        }
    }
}
