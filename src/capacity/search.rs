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

/// Search settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchPlan {
    /// Lowest rate considered (req/s).
    pub min_rate: f64,
    /// Highest rate considered.
    pub max_rate: f64,
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
    /// The highest rate that passed.
    pub pass: Option<f64>,
    /// The lowest rate that failed (or was overloaded).
    pub fail: Option<f64>,
    /// Rates whose probes stayed inconclusive (after a repeat), ascending.
    pub inconclusive: Vec<f64>,
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
    /// Probe this rate (`repeat`: a second look at an inconclusive rate, with more
    /// requests).
    Probe {
        /// Requests per second.
        rate: f64,
        /// A repeat of the last probe.
        repeat: bool,
    },
    /// Stop.
    Done,
}

/// Chooses probes: the lowest rate, then the highest, then geometric bisection of
/// the bracket; an inconclusive rate is probed once more with more requests, and if
/// still inconclusive the search narrows the gaps on either side of it.
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

    /// Records the verdict of the probe at `rate` (`repeat` as [`Step::Probe`] said).
    pub fn record(&mut self, rate: f64, verdict: Verdict, repeat: bool) {
        self.probes += 1;
        let b = &mut self.bracket;
        if verdict.passes() && b.pass.is_none_or(|p| rate > p) {
            b.pass = Some(rate);
        }
        if verdict.fails() && b.fail.is_none_or(|f| rate < f) {
            b.fail = Some(rate);
        }
        if verdict == Verdict::Inconclusive && repeat {
            b.inconclusive.push(rate);
            b.inconclusive.sort_by(f64::total_cmp);
        }
        // Inconclusive rates outside the bracket tell nothing any more.
        let (lo, hi) = (b.pass, b.fail);
        b.inconclusive
            .retain(|r| lo.is_none_or(|l| *r > l) && hi.is_none_or(|h| *r < h));
        self.last = Some((rate, verdict, repeat));
    }

    /// How the search stands (meaningful once [`Search::next`] says Done).
    pub fn outcome(&self) -> Outcome {
        let b = &self.bracket;
        match (b.pass, b.fail) {
            (None, Some(_)) => Outcome::BelowRange,
            (Some(_), None) => Outcome::AboveRange,
            (Some(lo), Some(hi)) if hi / lo <= self.plan.narrow_ratio() => Outcome::Narrowed,
            _ => Outcome::NotNarrowed,
        }
    }

    /// The next step.
    pub fn next(&self) -> Step {
        if let Some((rate, Verdict::Inconclusive, false)) = self.last {
            if self.probes < self.plan.max_probes {
                return Step::Probe { rate, repeat: true };
            }
        }
        if self.probes >= self.plan.max_probes {
            return Step::Done;
        }
        let b = &self.bracket;
        let probe = |rate: f64| Step::Probe {
            rate,
            repeat: false,
        };
        // The ends first: a fail at the bottom or a pass at the top settles it.
        if self.probes == 0 {
            return probe(self.plan.min_rate);
        }
        if b.pass.is_none() && b.fail.is_some() {
            return Step::Done;
        }
        if b.fail.is_none() {
            if b.pass.is_some_and(|p| p >= self.plan.max_rate) {
                return Step::Done;
            }
            return probe(self.plan.max_rate);
        }
        let (Some(lo), Some(hi)) = (b.pass, b.fail) else {
            // Only inconclusive probes so far at the ends: widen towards them.
            return probe(self.plan.max_rate);
        };
        if hi / lo <= self.plan.narrow_ratio() {
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
        match widest {
            // Gaps narrower than the resolution asked for cannot be split usefully.
            Some((a, c)) if c / a > self.plan.narrow_ratio().sqrt() => probe((a * c).sqrt()),
            _ => Step::Done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> SearchPlan {
        SearchPlan {
            min_rate: 10.0,
            max_rate: 1000.0,
            max_probes: 12,
            tolerance: 0.10,
        }
    }

    /// Runs a search against a fake server whose truth is `truth`, inconclusive
    /// within ±`blur` of it.
    fn run(truth: f64, blur: f64) -> Search {
        let mut s = Search::new(plan());
        while let Step::Probe { rate, repeat } = s.next() {
            let v = if rate < truth * (1.0 - blur) {
                Verdict::Pass
            } else if rate > truth * (1.0 + blur) {
                Verdict::Fail
            } else {
                Verdict::Inconclusive
            };
            s.record(rate, v, repeat);
        }
        s
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

    #[test]
    fn out_of_range_is_said() {
        assert_eq!(run(5.0, 0.0).outcome(), Outcome::BelowRange);
        assert_eq!(run(5000.0, 0.0).outcome(), Outcome::AboveRange);
    }
}
