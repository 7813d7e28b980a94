//! The health gate: for one service colour, its recent metrics and a rule set, a verdict — healthy, degraded,
//! failing, or no data — with the rules that fired and their numbers ("5xx 7.2 % > 5 % for 2 min"). Plain Rust
//! over plain series, so the release engine, the Health page and the API all judge the same way.

pub use app::dto::{Firing, Judgement, Severity, Signal, Verdict};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Window {
    /// Every sample over the last `duration` is above the threshold, and the samples cover it.
    For(#[serde(with = "secs")] Duration),
    /// The last `n + 1` samples are above the threshold ("more than n consecutive").
    MoreThanConsecutive(u32),
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub signal: Signal,
    /// Fires when the signal is strictly greater.
    pub threshold: f64,
    pub window: Window,
    pub severity: Severity,
}

/// The seed's automatic-rollback triggers (failing) and alert rules (degraded): `[health]` with nothing set.
pub fn seed_rules() -> Vec<Rule> {
    crate::config::default_health_rules()
}

/// One signal's samples, oldest first. A missing sample is absent, never zero.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub points: Vec<(i64, f64)>,
}

impl Series {
    pub fn from_points(points: impl IntoIterator<Item = (OffsetDateTime, f64)>) -> Series {
        let mut points: Vec<(i64, f64)> = points
            .into_iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(at, v)| (at.unix_timestamp(), v))
            .collect();
        points.sort_by_key(|(at, _)| *at);
        Series { points }
    }
}

/// The samples the gate judges, per signal, and the sampling period (for "covers the window").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    pub period_secs: i64,
    pub series: Vec<(Signal, Series)>,
}

impl Samples {
    pub fn get(&self, signal: Signal) -> Option<&Series> {
        self.series
            .iter()
            .find(|(s, _)| *s == signal)
            .map(|(_, series)| series)
            .filter(|series| !series.points.is_empty())
    }
}

/// A rule as the pages show it.
pub fn view(rule: &Rule) -> app::dto::RuleView {
    app::dto::RuleView {
        name: rule.name.clone(),
        signal: rule.signal,
        threshold: rule.threshold,
        severity: rule.severity,
        window: describe(rule.window),
    }
}

fn describe(window: Window) -> String {
    match window {
        Window::For(d) if d.as_secs() % 60 == 0 => format!("for {} min", d.as_secs() / 60),
        Window::For(d) => format!("for {} s", d.as_secs()),
        Window::MoreThanConsecutive(n) => format!("in {} consecutive checks", n + 1),
    }
}

fn evaluate(rule: &Rule, series: &Series, now: i64, period: i64) -> Option<Firing> {
    let window: Vec<f64> = match rule.window {
        Window::For(duration) => {
            let start = now - duration.as_secs() as i64;
            let inside: Vec<&(i64, f64)> =
                series.points.iter().filter(|(at, _)| *at > start).collect();
            // The samples must span the window (less one period), or a rule "for 5 min" would fire on one sample.
            let first = inside.first()?.0;
            if first - start > period.max(1) {
                return None;
            }
            inside.iter().map(|(_, v)| *v).collect()
        }
        Window::MoreThanConsecutive(n) => {
            let needed = n as usize + 1;
            if series.points.len() < needed {
                return None;
            }
            series.points[series.points.len() - needed..]
                .iter()
                .map(|(_, v)| *v)
                .collect()
        }
    };
    if window.is_empty() || !window.iter().all(|v| *v > rule.threshold) {
        return None;
    }
    let value = window.iter().copied().fold(f64::INFINITY, f64::min);
    Some(Firing {
        rule: rule.name.clone(),
        severity: rule.severity,
        signal: rule.signal,
        value,
        threshold: rule.threshold,
        message: format!(
            "{} {} > {} {}",
            rule.signal.label(),
            rule.signal.format(value),
            rule.signal.format(rule.threshold),
            describe(rule.window)
        ),
    })
}

/// Judges `samples` at `now` (unix seconds) against `rules`.
pub fn judge(rules: &[Rule], samples: &Samples, now: i64) -> Judgement {
    let as_of = samples
        .series
        .iter()
        .filter_map(|(_, s)| s.points.last().map(|(at, _)| *at))
        .max();
    if as_of.is_none() {
        return Judgement {
            verdict: Verdict::NoData,
            fired: Vec::new(),
            as_of,
        };
    }
    let fired: Vec<Firing> = rules
        .iter()
        .filter_map(|rule| {
            samples
                .get(rule.signal)
                .and_then(|series| evaluate(rule, series, now, samples.period_secs))
        })
        .collect();
    let verdict = fired
        .iter()
        .map(|f| match f.severity {
            Severity::Degraded => Verdict::Degraded,
            Severity::Failing => Verdict::Failing,
        })
        .max()
        .unwrap_or(Verdict::Healthy);
    Judgement {
        verdict,
        fired,
        as_of,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    /// One sample a minute ending at NOW, oldest first.
    fn series(values: &[f64]) -> Series {
        let n = values.len() as i64;
        Series {
            points: values
                .iter()
                .enumerate()
                .map(|(i, v)| (NOW - (n - 1 - i as i64) * 60, *v))
                .collect(),
        }
    }

    fn samples(signal: Signal, values: &[f64]) -> Samples {
        Samples {
            period_secs: 60,
            series: vec![(signal, series(values))],
        }
    }

    #[test]
    fn an_error_rate_above_five_percent_for_two_minutes_fails_with_the_numbers() {
        let judgement = judge(
            &seed_rules(),
            &samples(Signal::ErrorRate, &[0.1, 7.5, 7.2, 8.0]),
            NOW,
        );
        assert_eq!(judgement.verdict, Verdict::Failing);
        let fired = judgement
            .fired
            .iter()
            .find(|f| f.rule == "error rate (rollback)")
            .unwrap();
        assert_eq!(fired.message, "5xx 7.2 % > 5.0 % for 2 min");
    }

    #[test]
    fn a_spike_shorter_than_the_window_does_not_fire() {
        let judgement = judge(
            &seed_rules(),
            &samples(Signal::ErrorRate, &[0.1, 0.2, 0.1, 9.0]),
            NOW,
        );
        assert_eq!(judgement.verdict, Verdict::Healthy, "{:?}", judgement.fired);
        // One sample alone does not cover two minutes.
        let judgement = judge(&seed_rules(), &samples(Signal::ErrorRate, &[9.0]), NOW);
        assert_eq!(judgement.verdict, Verdict::Healthy);
    }

    #[test]
    fn an_alert_threshold_alone_is_degraded_not_failing() {
        let judgement = judge(&seed_rules(), &samples(Signal::ErrorRate, &[2.0; 7]), NOW);
        assert_eq!(judgement.verdict, Verdict::Degraded);
        assert_eq!(judgement.fired[0].message, "5xx 2.0 % > 1.0 % for 5 min");
    }

    #[test]
    fn more_than_three_consecutive_health_check_failures_fail() {
        let three = judge(
            &seed_rules(),
            &samples(Signal::UnhealthyHosts, &[0.0, 1.0, 1.0, 1.0]),
            NOW,
        );
        assert_eq!(
            three.verdict,
            Verdict::Healthy,
            "three is not more than three"
        );
        let four = judge(
            &seed_rules(),
            &samples(Signal::UnhealthyHosts, &[1.0, 1.0, 2.0, 1.0]),
            NOW,
        );
        assert_eq!(four.verdict, Verdict::Failing);
        assert_eq!(
            four.fired[0].message,
            "unhealthy targets 1 > 0 in 4 consecutive checks"
        );
    }

    #[test]
    fn slow_p95_for_five_minutes_fails() {
        let judgement = judge(&seed_rules(), &samples(Signal::P95Ms, &[2500.0; 6]), NOW);
        assert_eq!(judgement.verdict, Verdict::Failing);
        assert!(judgement
            .fired
            .iter()
            .any(|f| f.message == "p95 2500 ms > 2000 ms for 5 min"));
    }

    #[test]
    fn no_samples_is_no_data_never_healthy() {
        let judgement = judge(&seed_rules(), &Samples::default(), NOW);
        assert_eq!(judgement.verdict, Verdict::NoData);
        assert_eq!(judgement.as_of, None);
    }
}
