//! The search: which rate to probe next, and when the capacity is bracketed. Pure:
//! it sees probes only through their verdicts, so it is tested with a fake server.

use serde::Serialize;

/// What one probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every target's upper bound is within its limit.
    Pass,
    /// Some target's lower bound exceeds its limit.
    Fail,
    /// Work grew without bound: the rate is beyond capacity.
    Overloaded,
    /// Neither: the limit lies inside some target's interval.
    Inconclusive,
}

impl Verdict {
    /// Pass.
    pub fn passes(self) -> bool {
        self == Verdict::Pass
    }

    /// Fail or overloaded.
    pub fn fails(self) -> bool {
        matches!(self, Verdict::Fail | Verdict::Overloaded)
    }
}

/// What a search varies: the offered rate of an open loop, or the concurrency of
/// a closed loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    /// Arrivals per second (requests/s, or sessions/s): any positive value.
    Rate,
    /// Requests (or sessions) in flight: whole numbers only, so a probe is never
    /// at a fraction and a bracket of two neighbours is as narrow as it gets.
    Concurrency,
}

impl Axis {
    /// `rate` or `concurrency`.
    pub fn name(self) -> &'static str {
        match self {
            Axis::Rate => "rate",
            Axis::Concurrency => "concurrency",
        }
    }

    /// A load on this axis as printed: a whole number for concurrency, two decimals
    /// for a rate.
    pub fn format(self, v: f64) -> String {
        match self {
            Axis::Rate => format!("{v:.2}"),
            Axis::Concurrency => format!("{v:.0}"),
        }
    }

    /// The unit of a load on this axis, for requests or (`sessions`) agent
    /// sessions: `req/s`, `sessions/s`, `concurrent requests`, `concurrent sessions`.
    pub fn unit(self, sessions: bool) -> &'static str {
        match (self, sessions) {
            (Axis::Rate, false) => "req/s",
            (Axis::Rate, true) => "sessions/s",
            (Axis::Concurrency, false) => "concurrent requests",
            (Axis::Concurrency, true) => "concurrent sessions",
        }
    }

    /// The point to probe between `lo` and `hi` (`lo < hi`), splitting the gap
    /// geometrically; `None` when the gap cannot be split usefully: narrower than
    /// √`ratio` (the resolution asked for), or, for concurrency, with no whole
    /// number strictly between.
    fn between(self, lo: f64, hi: f64, ratio: f64) -> Option<f64> {
        if hi / lo <= ratio.sqrt() {
            return None;
        }
        let mid = (lo * hi).sqrt();
        match self {
            Axis::Rate => Some(mid),
            Axis::Concurrency => {
                let m = mid.round().clamp(lo + 1.0, hi - 1.0);
                (m > lo && m < hi).then_some(m)
            }
        }
    }

    /// Whether the bracket [`lo`, `hi`] is as narrow as asked (`hi / lo ≤ ratio`),
    /// or, for concurrency, as narrow as whole numbers allow (neighbours).
    fn narrow(self, lo: f64, hi: f64, ratio: f64) -> bool {
        hi / lo <= ratio || (self == Axis::Concurrency && hi - lo <= 1.0)
    }
}

/// Search settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchPlan {
    /// What the search varies.
    pub axis: Axis,
    /// Lowest load considered (req/s, sessions/s, or a concurrency).
    pub min: f64,
    /// Highest load considered.
    pub max: f64,
    /// Probes at most.
    pub max_probes: usize,
    /// The interval is narrow enough when its half-width is at most this fraction
    /// of its centre (0.10: ±10 %).
    pub tolerance: f64,
}

impl SearchPlan {
    /// `hi / lo` at which the interval [lo, hi] is ±tolerance around its centre.
    pub fn narrow_ratio(&self) -> f64 {
        (1.0 + self.tolerance) / (1.0 - self.tolerance)
    }
}

/// The bracket so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bracket {
    /// The highest load that passed.
    pub pass: Option<f64>,
    /// The lowest load that failed (or was overloaded).
    pub fail: Option<f64>,
    /// Loads whose probes stayed inconclusive (after a repeat), ascending.
    pub inconclusive: Vec<f64>,
}

impl Bracket {
    /// Whether `load` lies strictly between the highest pass and the lowest fail
    /// (an end not found yet bounds nothing): where the capacity may still be.
    pub fn open_at(&self, load: f64) -> bool {
        self.pass.is_none_or(|l| load > l) && self.fail.is_none_or(|h| load < h)
    }
}

/// How a search ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// Capacity in [pass, fail], narrow enough.
    Narrowed,
    /// Capacity in [pass, fail], but the budget ran out first (or the percentile
    /// stayed within its interval of the limit over the rest).
    NotNarrowed,
    /// Even the lowest rate failed.
    BelowRange,
    /// Even the highest rate passed.
    AboveRange,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Probe this load (`repeat`: a second look at an inconclusive load, with more
    /// requests).
    Probe {
        /// The rate or concurrency, on the plan's [`Axis`] (a whole number for
        /// concurrency).
        load: f64,
        /// A repeat of the last probe.
        repeat: bool,
    },
    /// Stop.
    Done,
}

/// Chooses probes: the lowest load, then the highest, then geometric bisection of
/// the bracket (rounded to whole numbers on the concurrency axis); an inconclusive
/// load is probed once more with more requests, and if still inconclusive the
/// search narrows the gaps on either side of it.
#[derive(Debug, Clone)]
pub struct Search {
    plan: SearchPlan,
    /// The bracket.
    pub bracket: Bracket,
    probes: usize,
    last: Option<(f64, Verdict, bool)>,
}

impl Search {
    /// A search under `plan`.
    pub fn new(plan: SearchPlan) -> Self {
        Search {
            plan,
            bracket: Bracket::default(),
            probes: 0,
            last: None,
        }
    }

    /// Probes made.
    pub fn probes(&self) -> usize {
        self.probes
    }

    /// Records the verdict of the probe at `load` (`repeat` as [`Step::Probe`] said).
    pub fn record(&mut self, load: f64, verdict: Verdict, repeat: bool) {
        self.probes += 1;
        let b = &mut self.bracket;
        if verdict.passes() && b.pass.is_none_or(|p| load > p) {
            b.pass = Some(load);
        }
        if verdict.fails() && b.fail.is_none_or(|f| load < f) {
            b.fail = Some(load);
        }
        if verdict == Verdict::Inconclusive && repeat {
            b.inconclusive.push(load);
            b.inconclusive.sort_by(f64::total_cmp);
        }
        // Inconclusive loads outside the bracket tell nothing any more.
        let mut inconclusive = std::mem::take(&mut b.inconclusive);
        inconclusive.retain(|&r| b.open_at(r));
        b.inconclusive = inconclusive;
        self.last = Some((load, verdict, repeat));
    }

    /// How the search stands (meaningful once [`Search::next`] says Done).
    pub fn outcome(&self) -> Outcome {
        let b = &self.bracket;
        match (b.pass, b.fail) {
            (None, Some(_)) => Outcome::BelowRange,
            (Some(_), None) => Outcome::AboveRange,
            (Some(lo), Some(hi)) if self.plan.axis.narrow(lo, hi, self.plan.narrow_ratio()) => {
                Outcome::Narrowed
            }
            _ => Outcome::NotNarrowed,
        }
    }

    /// The next step.
    pub fn next(&self) -> Step {
        if let Some((load, Verdict::Inconclusive, false)) = self.last {
            if self.probes < self.plan.max_probes {
                return Step::Probe { load, repeat: true };
            }
        }
        if self.probes >= self.plan.max_probes {
            return Step::Done;
        }
        let b = &self.bracket;
        let probe = |load: f64| Step::Probe {
            load,
            repeat: false,
        };
        // The ends first: a fail at the bottom or a pass at the top settles it.
        if self.probes == 0 {
            return probe(self.plan.min);
        }
        if b.pass.is_none() && b.fail.is_some() {
            return Step::Done;
        }
        if b.fail.is_none() {
            if b.pass.is_some_and(|p| p >= self.plan.max) {
                return Step::Done;
            }
            return probe(self.plan.max);
        }
        let (Some(lo), Some(hi)) = (b.pass, b.fail) else {
            // Only inconclusive probes so far at the ends: widen towards them.
            return probe(self.plan.max);
        };
        let ratio = self.plan.narrow_ratio();
        if self.plan.axis.narrow(lo, hi, ratio) {
            return Step::Done;
        }
        // The widest gap between the bracket's ends and the inconclusive rates.
        let mut points = vec![lo];
        points.extend(b.inconclusive.iter().copied());
        points.push(hi);
        let widest = points
            .windows(2)
            .map(|w| (w[0], w[1]))
            .max_by(|a, b| (a.1 / a.0).total_cmp(&(b.1 / b.0)));
        match widest.and_then(|(a, c)| self.plan.axis.between(a, c, ratio)) {
            Some(load) => probe(load),
            None => Step::Done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> SearchPlan {
        SearchPlan {
            axis: Axis::Rate,
            min: 10.0,
            max: 1000.0,
            max_probes: 12,
            tolerance: 0.10,
        }
    }

    /// Runs a search under `plan` against a fake server whose verdict at a load is
    /// `verdict(load)`.
    fn drive(plan: SearchPlan, verdict: impl Fn(f64) -> Verdict) -> Search {
        let mut s = Search::new(plan);
        while let Step::Probe { load, repeat } = s.next() {
            s.record(load, verdict(load), repeat);
        }
        s
    }

    /// Runs a search against a fake server whose truth is `truth`, inconclusive
    /// within ±`blur` of it.
    fn run(truth: f64, blur: f64) -> Search {
        drive(plan(), |rate| {
            if rate < truth * (1.0 - blur) {
                Verdict::Pass
            } else if rate > truth * (1.0 + blur) {
                Verdict::Fail
            } else {
                Verdict::Inconclusive
            }
        })
    }

    #[test]
    fn brackets_the_truth_within_tolerance_in_twelve_probes() {
        for truth in [15.0, 47.0, 123.0, 400.0, 950.0] {
            let s = run(truth, 0.0);
            assert_eq!(
                s.outcome(),
                Outcome::Narrowed,
                "truth {truth}: {:?}",
                s.bracket
            );
            let (lo, hi) = (s.bracket.pass.unwrap(), s.bracket.fail.unwrap());
            assert!(lo <= truth && truth <= hi, "truth {truth} in [{lo}, {hi}]");
            assert!(s.probes() <= 12, "{} probes", s.probes());
        }
    }

    #[test]
    fn a_blurred_truth_is_still_contained_never_a_confident_wrong_answer() {
        for truth in [33.0, 210.0] {
            for blur in [0.02, 0.05, 0.15] {
                let s = run(truth, blur);
                let (lo, hi) = (s.bracket.pass.unwrap(), s.bracket.fail.unwrap());
                assert!(
                    lo <= truth && truth <= hi,
                    "truth {truth} blur {blur}: [{lo}, {hi}]"
                );
                if s.outcome() == Outcome::Narrowed {
                    assert!(hi / lo <= plan().narrow_ratio() + 1e-9);
                }
            }
        }
    }

    /// A search on the concurrency axis against a fake server that passes up to
    /// `truth` in flight; every probe is at a whole number.
    fn run_concurrency(truth: f64, min: f64, max: f64) -> Search {
        let plan = SearchPlan {
            axis: Axis::Concurrency,
            min,
            max,
            ..plan()
        };
        drive(plan, |load| {
            assert_eq!(load, load.round(), "concurrency {load} is not whole");
            if load <= truth {
                Verdict::Pass
            } else {
                Verdict::Fail
            }
        })
    }

    #[test]
    fn concurrency_probes_whole_numbers_and_ends_on_neighbours_or_the_tolerance() {
        for (truth, min, max) in [
            (1.0, 1.0, 64.0),
            (3.0, 1.0, 8.0),
            (16.0, 1.0, 256.0),
            (97.0, 4.0, 512.0),
            (7.0, 6.0, 8.0),
        ] {
            let s = run_concurrency(truth, min, max);
            assert_eq!(
                s.outcome(),
                Outcome::Narrowed,
                "truth {truth}: {:?}",
                s.bracket
            );
            let (lo, hi) = (s.bracket.pass.unwrap(), s.bracket.fail.unwrap());
            assert!(lo <= truth && truth < hi, "truth {truth} in [{lo}, {hi}]");
            assert!(
                hi - lo <= 1.0 || hi / lo <= plan().narrow_ratio(),
                "truth {truth}: [{lo}, {hi}] neither neighbours nor ± 10 %"
            );
            assert!(s.probes() <= 12, "{} probes", s.probes());
        }
        // Small concurrencies end on neighbours: the exact capacity.
        let s = run_concurrency(3.0, 1.0, 8.0);
        assert_eq!((s.bracket.pass, s.bracket.fail), (Some(3.0), Some(4.0)));
    }

    #[test]
    fn out_of_range_is_said() {
        assert_eq!(run(5.0, 0.0).outcome(), Outcome::BelowRange);
        assert_eq!(run(5000.0, 0.0).outcome(), Outcome::AboveRange);
    }
}
