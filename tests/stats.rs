//! The statistics module against published reference values (each cited where it is
//! used), the seed report's own headline recomputed, and property tests.
//!
//! Full-precision cross-checks were computed with SciPy 1.17.1 / NumPy 2.4.6 in a
//! throwaway venv; the published (rounded) figures are quoted next to them.

use agentbench::metrics::stats::mann_whitney::EXACT_MAX_N;
use agentbench::metrics::stats::{
    bootstrap_ci, bootstrap_diff_ci, cohens_d, cohens_d_from_summary, compare_samples, describe,
    hedges_g_from_summary, mann_whitney_u, mean, median, percentile_sorted, sd, sorted,
    welch_from_summary, welch_t_test, BootstrapOpts, CompareOpts, PValueMethod, Statistic,
    StatsError,
};
use proptest::prelude::*;

fn close(got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "got {got}, want {want} (tolerance {tol})"
    );
}

// ---------------------------------------------------------------- Welch's t-test

/// Wikipedia, "Welch's t-test", worked example (sample sets A1 and A2, equal sizes,
/// unequal variances): the article gives t ≈ −2.46 and p ≈ 0.021 (rounded). Full
/// precision: `scipy.stats.ttest_ind(A1, A2, equal_var=False)`, SciPy 1.17.1 →
/// t = −2.455356398286006, df = 24.988529290231416, p = 0.021378001462866992,
/// 95 % CI (−3.984096267140929, −0.3492370661924069).
#[test]
fn welch_matches_wikipedia_example() {
    let a1 = [
        27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4,
    ];
    let a2 = [
        27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4,
    ];
    let r = welch_t_test(&a1, &a2).unwrap();
    close(r.t, -2.46, 0.005);
    close(r.p_two_sided, 0.021, 0.0005);
    close(r.t, -2.455356398286006, 1e-10);
    close(r.df, 24.988529290231416, 1e-9);
    close(r.p_two_sided, 0.021378001462866992, 1e-9);
    close(r.ci95.lower, -3.984096267140929, 1e-8);
    close(r.ci95.upper, -0.3492370661924069, 1e-8);
}

/// R documentation, `?t.test`, example `t.test(extra ~ group, data = sleep)` (Welch is
/// R's default): "t = -1.8608, df = 17.776, p-value = 0.07939; 95 percent confidence
/// interval: -3.3654832 0.2054832". The `sleep` data set is Cushny & Peebles (1905) as
/// printed in R's `datasets` package. SciPy 1.17.1 agrees: t = −1.8608134674868526,
/// df = 17.776473516178488, p = 0.0793941401873583.
#[test]
fn welch_matches_r_sleep_example() {
    let g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
    let g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];
    let r = welch_t_test(&g1, &g2).unwrap();
    close(r.t, -1.8608, 5e-5);
    close(r.df, 17.776, 5e-4);
    close(r.p_two_sided, 0.07939, 5e-6);
    close(r.ci95.lower, -3.3654832, 5e-8);
    close(r.ci95.upper, 0.2054832, 5e-8);
    close(r.t, -1.8608134674868526, 1e-10);
    close(r.df, 17.776473516178488, 1e-9);
    close(r.p_two_sided, 0.0793941401873583, 1e-9);
    // The summary-statistics form gives the same answer.
    let s = welch_from_summary(
        mean(&g1).unwrap(),
        sd(&g1).unwrap(),
        10,
        mean(&g2).unwrap(),
        sd(&g2).unwrap(),
        10,
    )
    .unwrap();
    assert_eq!(s, r);
}

/// Student-t critical values t_{0.975, 2} = 4.303 and t_{0.975, 10} = 2.228 from any
/// printed t table (e.g. NIST/SEMATECH e-Handbook, §1.3.6.7.2); full precision from
/// `scipy.stats.t.ppf(0.975, df)`: 4.302652729749462, 2.228138851986274. Checked through
/// the interval half-width with se = 1.
#[test]
fn student_t_quantiles_behind_the_interval() {
    // n = 3 + 3 with equal sds: df = 4 exactly; with s = sqrt(3/2), se = 1.
    let s = 1.5_f64.sqrt();
    let r = welch_from_summary(0.0, s, 3, 0.0, s, 3).unwrap();
    close(r.df, 4.0, 1e-12);
    close(r.se, 1.0, 1e-12);
    // t_{0.975, 4} = 2.776 (same tables); SciPy: 2.7764451051977987.
    close(r.ci95.upper, 2.7764451051977987, 1e-9);
    // df = 2 and 10 via n = 2 + 2 and n = 6 + 6 (equal sds ⇒ df = n1 + n2 − 2).
    let r = welch_from_summary(0.0, 1.0, 2, 0.0, 1.0, 2).unwrap();
    close(r.ci95.upper / r.se, 4.302652729749462, 1e-9);
    let r = welch_from_summary(0.0, 1.0, 6, 0.0, 1.0, 6).unwrap();
    close(r.ci95.upper / r.se, 2.228138851986274, 1e-9);
}

// ---------------------------------------------------------------- Cohen's d

/// Cohen's d (pooled sd) on the two data sets above, cross-checked against an
/// independent NumPy 2.4.6 evaluation of the same formula,
/// `(a.mean() − b.mean()) / sqrt(((n1−1)·a.var(ddof=1) + (n2−1)·b.var(ddof=1)) / (n1+n2−2))`:
/// sleep → −0.8321810813495395, Wikipedia A1/A2 → −0.8965693907039232.
/// A hand-computable case: means 12 and 10, sds 2 and 3, n 3 and 4 ⇒ s_p² = (2·4 + 3·9)/5 = 7.
#[test]
fn cohens_d_reference_values() {
    let g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
    let g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];
    close(cohens_d(&g1, &g2).unwrap(), -0.8321810813495395, 1e-12);
    let a1 = [
        27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4,
    ];
    let a2 = [
        27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4,
    ];
    close(cohens_d(&a1, &a2).unwrap(), -0.8965693907039232, 1e-12);
    close(
        cohens_d_from_summary(12.0, 2.0, 3, 10.0, 3.0, 4).unwrap(),
        2.0 / 7.0_f64.sqrt(),
        1e-12,
    );
}

// ---------------------------------------------------------------- Mann–Whitney U

/// Wikipedia, "Mann–Whitney U test", illustration: Aesop's 6 tortoises and 6 hares finish
/// in the order T H H H H H T T T T T H; the article derives U = 11 (hares, i.e. the
/// smaller U) and 25 (tortoises), summing to 36 = 6·6. We use finishing positions (lower is
/// faster), so a tortoise's U counts the hares that finished ahead of it: 0, 5, 5, 5, 5, 5.
/// Exact two-sided p: `scipy.stats.mannwhitneyu(T, H, method="exact")`, SciPy 1.17.1 →
/// 0.30952380952380953 (= 286/924 = 2·143/924; C(12, 6) = 924).
#[test]
fn mann_whitney_matches_wikipedia_tortoise_and_hare() {
    let tortoises = [1.0, 7.0, 8.0, 9.0, 10.0, 11.0];
    let hares = [2.0, 3.0, 4.0, 5.0, 6.0, 12.0];
    let r = mann_whitney_u(&tortoises, &hares).unwrap();
    assert_eq!((r.u1, r.u2, r.u_min()), (25.0, 11.0, 11.0));
    assert_eq!(r.method, PValueMethod::Exact);
    close(r.p_two_sided, 0.30952380952380953, 1e-12);
}

/// R documentation, `?wilcox.test`, two-sample example (Hollander & Wolfe 1973, p. 69):
/// `wilcox.test(x, y, alternative = "g")` prints "W = 35, p-value = 0.1272"; the exact
/// two-sided p is twice that, 0.2544122544122544 (SciPy 1.17.1, method="exact").
#[test]
fn mann_whitney_matches_r_wilcox_example() {
    let x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
    let y = [1.15, 0.88, 0.90, 0.74, 1.21];
    let r = mann_whitney_u(&x, &y).unwrap();
    assert_eq!(r.u1, 35.0);
    assert_eq!(r.method, PValueMethod::Exact);
    close(r.p_two_sided / 2.0, 0.1272, 5e-5);
    close(r.p_two_sided, 0.2544122544122544, 1e-12);
}

/// Normal approximation with ties (tie-corrected variance, continuity correction):
/// `scipy.stats.mannwhitneyu(a, b, method="asymptotic", use_continuity=True)`,
/// SciPy 1.17.1 → U = 45.5, p = 0.08058463491552079 (statrs' normal tail agrees to ~1e-11).
#[test]
fn mann_whitney_with_ties_matches_scipy_asymptotic() {
    let a = [1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 4.0, 5.0, 7.0, 9.0, 9.0, 10.0];
    let b = [
        2.0, 3.0, 3.0, 5.0, 6.0, 6.0, 8.0, 8.0, 11.0, 12.0, 12.0, 12.0, 13.0,
    ];
    let r = mann_whitney_u(&a, &b).unwrap();
    assert!(r.ties);
    assert!(matches!(r.method, PValueMethod::Normal { .. }));
    assert_eq!(r.u1, 45.5);
    close(r.p_two_sided, 0.08058463491552079, 1e-9);
}

/// Beyond the exact limit without ties (25 vs 30 values, `numpy.random.default_rng(1)`
/// normals rounded to 6 places): SciPy 1.17.1 `method="asymptotic"` → U = 275,
/// p = 0.09259657901334994. At the limit (20 vs 20), SciPy `method="exact"` → U = 210,
/// p = 0.799407187161697.
#[test]
fn mann_whitney_large_and_limit_cases_match_scipy() {
    let a = [
        0.345584, 0.821618, 0.330437, -1.303157, 0.905356, 0.446375, -0.536953, 0.581118, 0.364572,
        0.294132, 0.028422, 0.546713, -0.736454, -0.16291, -0.482119, 0.598846, 0.039722,
        -0.292457, -0.781908, -0.257192, 0.008142, -0.275603, 1.294064, 1.006724, -2.711162,
    ];
    let b = [
        -1.389013, 0.325228, 0.07781, 0.713643, 0.717322, 2.617839, -0.612021, 0.122395, 2.542772,
        1.146703, 1.163063, -0.014006, -1.148075, 0.667465, 0.609014, -0.727352, -0.183227,
        0.427956, -0.444752, 0.40173, 0.595483, 0.535586, -0.006292, 1.093748, 1.391167, 0.820848,
        -0.31823, 1.231652, -0.00144, 1.379161,
    ];
    let r = mann_whitney_u(&a, &b).unwrap();
    assert!(!r.ties && matches!(r.method, PValueMethod::Normal { .. }));
    assert_eq!(r.u1, 275.0);
    close(r.p_two_sided, 0.09259657901334994, 1e-9);

    assert_eq!(EXACT_MAX_N, 20);
    let mut a: Vec<f64> = (0..20).map(|i| (2 * i) as f64).collect();
    a[0] = 100.0;
    let b: Vec<f64> = (0..20).map(|i| (2 * i + 1) as f64).collect();
    let r = mann_whitney_u(&a, &b).unwrap();
    assert_eq!((r.u1, r.method), (210.0, PValueMethod::Exact));
    close(r.p_two_sided, 0.799407187161697, 1e-10);
}

/// The exact p-value against brute force: every way of choosing which n1 of the n ranks
/// belong to sample 1, for all sizes up to 6 + 6.
#[test]
fn mann_whitney_exact_matches_enumeration() {
    for n1 in 1..=6usize {
        for n2 in 1..=6usize {
            let n = n1 + n2;
            let mut us = Vec::new();
            for mask in 0u32..(1 << n) {
                if mask.count_ones() as usize != n1 {
                    continue;
                }
                let a: Vec<f64> = (0..n)
                    .filter(|i| mask >> i & 1 == 1)
                    .map(|i| i as f64)
                    .collect();
                let b: Vec<f64> = (0..n)
                    .filter(|i| mask >> i & 1 == 0)
                    .map(|i| i as f64)
                    .collect();
                us.push((mann_whitney_u(&a, &b).unwrap(), a.len()));
            }
            let total = us.len() as f64;
            for (r, _) in &us {
                let le = us.iter().filter(|(s, _)| s.u1 <= r.u1).count() as f64 / total;
                let ge = us.iter().filter(|(s, _)| s.u1 >= r.u1).count() as f64 / total;
                close(r.p_two_sided, (2.0 * le.min(ge)).min(1.0), 1e-12);
            }
        }
    }
}

// ---------------------------------------------------------------- the seed's headline

/// The seed report (TR112_v2) claims Rust beats Python on throughput: 114.54 ± 2.97 tok/s
/// versus 99.34 ± 0.36 tok/s, n = 3 runs each (± read as the sample sd). Recomputed
/// independently with `scipy.stats.ttest_ind_from_stats(114.54, 2.97, 3, 99.34, 0.36, 3,
/// equal_var=False)`, SciPy 1.17.1: t = 8.799957341030415, p = 0.011577320203597329;
/// Welch–Satterthwaite df = 2.0587568297142838; 95 % CI of the difference
/// (7.967713487335799, 22.4322865126642); Cohen's d = 7.185135081261177 (NumPy, pooled sd
/// 2.1155…), Hedges' g (exact J for df = 4) = 5.732908348621335.
///
/// What these really say:
/// - d ≈ 7.2 is not a "huge effect": it is an artifact of dividing by a pooled sd built
///   from two samples of 3, one of which (Python's 0.36) is implausibly tight; an sd from
///   3 runs has 2 degrees of freedom, and its own 95 % interval spans roughly 0.5× to 6×
///   the estimate. Hedges' correction alone cuts d to 5.7.
/// - t = 8.8 with df ≈ 2.06 (Rust's variance dominates, so Welch leaves about 2 df) gives
///   p ≈ 0.012: "significant" at 5 %, but resting on 6 numbers; the 95 % interval of the
///   difference, 8.0 to 22.4 tok/s, is as wide as the difference itself.
/// - Even taken at face value the test only says the two sets of three runs differ. The
///   throughput is the *server's* figure (eval_count / eval_duration, `docs/metrics.md`
///   §2, decode tok/s): the client's language cannot change it, and the difference followed the
///   test dates (same-week runs had Python slightly ahead). No statistic can turn that
///   confound into a language effect.
#[test]
fn seed_headline_recomputed_from_its_summary_numbers() {
    let r = welch_from_summary(114.54, 2.97, 3, 99.34, 0.36, 3).unwrap();
    close(r.mean_diff, 15.2, 1e-10);
    close(r.t, 8.799957341030415, 1e-9);
    close(r.df, 2.0587568297142838, 1e-9);
    close(r.p_two_sided, 0.011577320203597329, 1e-9);
    close(r.ci95.lower, 7.967713487335799, 1e-7);
    close(r.ci95.upper, 22.4322865126642, 1e-7);
    let d = cohens_d_from_summary(114.54, 2.97, 3, 99.34, 0.36, 3).unwrap();
    close(d, 7.185135081261177, 1e-9);
    let g = hedges_g_from_summary(114.54, 2.97, 3, 99.34, 0.36, 3).unwrap();
    close(g, 5.732908348621335, 1e-9);
}

// ---------------------------------------------------------------- compare / success rate

#[test]
fn a_higher_mean_alone_is_not_a_success() {
    // Overlapping noisy samples whose candidate mean is higher: no verdict.
    let base = [100.0, 97.0, 104.0, 99.0, 101.0, 95.0, 106.0, 98.0];
    let cand = [101.0, 96.0, 105.0, 100.0, 103.0, 94.0, 107.0, 99.0];
    let c = compare_samples(&base, &cand, &CompareOpts::default()).unwrap();
    assert!(c.mean_candidate > c.mean_baseline);
    assert!(!c.beats_baseline(true) && !c.regresses(true));
    assert!(c.welch.unwrap().p_two_sided > 0.5);
    // A clear shift is a success, and the report is reproducible.
    let better: Vec<f64> = base.iter().map(|x| x + 25.0).collect();
    let c1 = compare_samples(&base, &better, &CompareOpts::default()).unwrap();
    let c2 = compare_samples(&base, &better, &CompareOpts::default()).unwrap();
    assert_eq!(c1, c2);
    assert!(c1.beats_baseline(true));
    close(c1.diff_ci.unwrap().estimate, 25.0, 1e-12);
    assert_eq!(c1.mann_whitney.unwrap().u1, 64.0);
    assert!(compare_samples(&[], &[1.0], &CompareOpts::default()).is_err());
    assert_eq!(
        compare_samples(&[1.0, f64::NAN], &[1.0], &CompareOpts::default()),
        Err(StatsError::NonFinite)
    );
}

#[test]
fn describe_matches_numpy() {
    // numpy 2.4.6 on the sleep group 1: mean 0.75, median 0.35, std(ddof=1)
    // 1.7890096577591623, percentile([25, 75]) = −0.175, 1.7.
    let g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
    let d = describe(&g1).unwrap();
    close(d.mean, 0.75, 1e-12);
    close(d.median, 0.35, 1e-12);
    close(d.sd.unwrap(), 1.7890096577591623, 1e-12);
    close(d.p25, -0.175, 1e-12);
    close(d.p75, 1.7, 1e-12);
    assert_eq!(median(&g1), Some(d.median));
}

// ---------------------------------------------------------------- properties

fn sample(max_len: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-1.0e3..1.0e3f64, 2..max_len)
}

fn quick() -> BootstrapOpts {
    BootstrapOpts {
        resamples: 200,
        ..BootstrapOpts::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn percentiles_monotone_and_bounded(v in prop::collection::vec(-1.0e6..1.0e6f64, 1..50),
                                        p in 0.0..100.0f64, q in 0.0..100.0f64) {
        let s = sorted(v.iter().copied());
        let (lo, hi) = (p.min(q), p.max(q));
        let a = percentile_sorted(&s, lo).unwrap();
        let b = percentile_sorted(&s, hi).unwrap();
        prop_assert!(a <= b);
        prop_assert!(s[0] <= a && b <= s[s.len() - 1]);
    }

    #[test]
    fn bootstrap_ci_ordered_bounded_deterministic(v in sample(40), seed in any::<u64>(),
                                                  median_stat in any::<bool>()) {
        let stat = if median_stat { Statistic::Median } else { Statistic::Mean };
        let o = BootstrapOpts { seed, ..quick() };
        let a = bootstrap_ci(&v, stat, &o).unwrap();
        prop_assert_eq!(a, bootstrap_ci(&v, stat, &o).unwrap());
        prop_assert!(a.ci.lower <= a.ci.upper);
        let s = sorted(v.iter().copied());
        prop_assert!(s[0] <= a.ci.lower && a.ci.upper <= s[s.len() - 1]);
    }

    #[test]
    fn bootstrap_mean_ci_shifts_with_the_data(v in sample(40), c in -1.0e3..1.0e3f64,
                                              seed in any::<u64>()) {
        let o = BootstrapOpts { seed, ..quick() };
        let a = bootstrap_ci(&v, Statistic::Mean, &o).unwrap();
        let shifted: Vec<f64> = v.iter().map(|x| x + c).collect();
        let b = bootstrap_ci(&shifted, Statistic::Mean, &o).unwrap();
        prop_assert!((b.ci.lower - (a.ci.lower + c)).abs() < 1e-9);
        prop_assert!((b.ci.upper - (a.ci.upper + c)).abs() < 1e-9);
        prop_assert!((b.estimate - (a.estimate + c)).abs() < 1e-9);
    }

    #[test]
    fn bootstrap_diff_ci_ordered_and_deterministic(a in sample(30), b in sample(30),
                                                   seed in any::<u64>()) {
        let o = BootstrapOpts { seed, ..quick() };
        let r = bootstrap_diff_ci(&a, &b, Statistic::Median, &o).unwrap();
        prop_assert_eq!(r, bootstrap_diff_ci(&a, &b, Statistic::Median, &o).unwrap());
        prop_assert!(r.ci.lower <= r.ci.upper);
    }

    #[test]
    fn welch_antisymmetric_and_p_in_unit_interval(a in sample(30), b in sample(30)) {
        let (Ok(r), Ok(s)) = (welch_t_test(&a, &b), welch_t_test(&b, &a)) else {
            return Err(TestCaseError::reject("zero variance"));
        };
        prop_assert_eq!(r.t, -s.t);
        prop_assert_eq!(r.df, s.df);
        prop_assert_eq!(r.p_two_sided, s.p_two_sided);
        prop_assert!((0.0..=1.0).contains(&r.p_two_sided));
        prop_assert!(r.ci95.lower <= r.mean_diff && r.mean_diff <= r.ci95.upper);
        let lo = (a.len().min(b.len()) - 1) as f64;
        let hi = (a.len() + b.len() - 2) as f64;
        prop_assert!(r.df >= lo - 1e-9 && r.df <= hi + 1e-9);
    }

    #[test]
    fn mann_whitney_u_sums_and_swaps(a in prop::collection::vec(-50i32..50, 1..30),
                                     b in prop::collection::vec(-50i32..50, 1..30)) {
        // Integer-valued data so that ties occur often.
        let a: Vec<f64> = a.into_iter().map(f64::from).collect();
        let b: Vec<f64> = b.into_iter().map(f64::from).collect();
        let (Ok(r), Ok(s)) = (mann_whitney_u(&a, &b), mann_whitney_u(&b, &a)) else {
            return Err(TestCaseError::reject("all values tied"));
        };
        prop_assert_eq!(r.u1 + r.u2, (a.len() * b.len()) as f64);
        prop_assert_eq!((r.u1, r.u2), (s.u2, s.u1));
        prop_assert!((0.0..=1.0).contains(&r.p_two_sided));
        prop_assert!((r.p_two_sided - s.p_two_sided).abs() < 1e-12);
    }

    #[test]
    fn cohens_d_sign_and_scale_invariance(a in sample(30), b in sample(30),
                                          k in 0.01..100.0f64, c in -1.0e3..1.0e3f64) {
        let Ok(d) = cohens_d(&a, &b) else {
            return Err(TestCaseError::reject("zero variance"));
        };
        let (ma, mb) = (mean(&a).unwrap(), mean(&b).unwrap());
        prop_assert_eq!(d > 0.0, ma > mb);
        prop_assert_eq!(cohens_d(&b, &a).unwrap(), -d);
        let t = |v: &[f64]| v.iter().map(|x| k * x + c).collect::<Vec<f64>>();
        let d2 = cohens_d(&t(&a), &t(&b)).unwrap();
        prop_assert!((d2 - d).abs() <= 1e-6 * (1.0 + d.abs()), "{} vs {}", d2, d);
        let neg = |v: &[f64]| v.iter().map(|x| -x).collect::<Vec<f64>>();
        prop_assert!((cohens_d(&neg(&a), &neg(&b)).unwrap() + d).abs() <= 1e-9 * (1.0 + d.abs()));
    }

    #[test]
    fn describe_is_ordered(v in prop::collection::vec(-1.0e6..1.0e6f64, 1..50)) {
        let d = describe(&v).unwrap();
        prop_assert!(d.min <= d.p25 && d.p25 <= d.median && d.median <= d.p75 && d.p75 <= d.max);
        prop_assert!(d.min <= d.mean + 1e-6 && d.mean <= d.max + 1e-6);
        prop_assert_eq!(d.sd.is_some(), v.len() >= 2);
    }
}

/// `(x + x + x) / 3` rounds past `x` for this value (found by the bootstrap property
/// test in CI); the mean of equal samples is that value.
#[test]
fn mean_of_equal_samples_is_that_value() {
    let x = -407.0776472961571;
    assert_eq!(mean(&[x, x, x]), Some(x));
    assert_eq!(mean(&[0.0, 0.0, x, x, x]).map(|m| m >= x), Some(true));
}
