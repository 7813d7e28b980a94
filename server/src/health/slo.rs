//! The availability SLO of one service: the share of requests without a 5xx over a rolling window, the error
//! budget the objective leaves, burn rates over several windows, multi-window burn alerts and the time the
//! budget lasts at the current pace. Plain arithmetic over request and error counts per bucket.

use app::dto::{BurnAlert, BurnRate, SloView};
use std::time::Duration;

/// `[health]` SLO keys; the seed's 99.9 % over 30 days by default.
#[derive(Debug, Clone, PartialEq)]
pub struct SloSettings {
    pub objective_percent: f64,
    pub window_days: u32,
    /// How often the window is re-read: it moves slowly, and 30 days of data is the largest read we make.
    pub refresh: Duration,
}

impl Default for SloSettings {
    fn default() -> Self {
        SloSettings {
            objective_percent: 99.9,
            window_days: 30,
            refresh: Duration::from_secs(300),
        }
    }
}

/// Requests and 5xx responses counted over one period starting at `start` (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub start: i64,
    pub requests: f64,
    pub errors: f64,
}

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// The windows burn rates are shown for, and where they come from: up to 6 h from the fine buckets.
pub const BURN_WINDOWS: &[(&str, i64)] = &[
    ("5 min", 300),
    ("30 min", 1800),
    ("1 h", HOUR),
    ("6 h", 6 * HOUR),
    ("3 d", 3 * DAY),
];

/// The SRE workbook's multi-window alerts for a 30-day objective: (name, long, short, burn threshold).
const ALERTS: &[(&str, i64, i64, f64)] = &[
    ("page: fast burn", HOUR, 300, 14.4),
    ("page: sustained burn", 6 * HOUR, 1800, 6.0),
    ("ticket: slow burn", 3 * DAY, 6 * HOUR, 1.0),
];

fn window_label(secs: i64) -> &'static str {
    BURN_WINDOWS
        .iter()
        .find(|(_, s)| *s == secs)
        .map(|(label, _)| *label)
        .unwrap_or("?")
}

/// The budget chart's points at most, about one per 3 px of its plot. The month's ~800 buckets, shipped and drawn
/// as read, were the largest part of the service page (24 KB of its 65 KB).
pub const BUDGET_POINTS: usize = 180;

/// Every n-th point, so that at most `max` remain, and always the newest. The remaining budget only falls, so each
/// kept point is exact and the line between two of them is the spending in between.
fn thin(points: Vec<(i64, f64)>, max: usize) -> Vec<(i64, f64)> {
    if points.len() <= max {
        return points;
    }
    // ceil(n / (max − 1)) multiples of the stride, plus the newest point.
    let stride = points.len().div_ceil(max.max(2) - 1);
    let last = points.len().saturating_sub(1);
    points
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % stride == 0 || *i == last)
        .map(|(_, point)| point)
        .collect()
}

/// A value as a chart needs it: three decimals (a percentage or milliseconds), which also keeps the JSON short.
pub fn round_for_chart(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// `hourly`: whole hours, the newest ending at or before `fine`'s first bucket; `fine`: the recent buckets (5 min)
/// up to `now`. Buckets outside the window are ignored.
pub fn evaluate(settings: &SloSettings, hourly: &[Bucket], fine: &[Bucket], now: i64) -> SloView {
    let allowed_ratio = (1.0 - settings.objective_percent / 100.0).max(f64::EPSILON);
    let window_start = now - i64::from(settings.window_days) * DAY;
    let fine_start = fine.iter().map(|b| b.start).min().unwrap_or(now);
    // Hourly buckets up to where the fine ones begin, so nothing is counted twice.
    let mut buckets: Vec<Bucket> = hourly
        .iter()
        .filter(|b| b.start >= window_start && b.start + HOUR <= fine_start)
        .chain(fine.iter().filter(|b| b.start >= window_start))
        .copied()
        .collect();
    buckets.sort_by_key(|b| b.start);
    let requests: f64 = buckets.iter().map(|b| b.requests).sum();
    let errors: f64 = buckets.iter().map(|b| b.errors).sum();
    let budget_errors = requests * allowed_ratio;
    let with_requests = requests > 0.0;
    let consumed = with_requests.then(|| errors / budget_errors);

    // Short windows from the fine buckets, longer ones from everything.
    let burn = |window: i64| -> Option<f64> {
        let since = now - window;
        let (r, e) = buckets
            .iter()
            .filter(|b| b.start >= since)
            .fold((0.0, 0.0), |(r, e), b| (r + b.requests, e + b.errors));
        (r > 0.0).then(|| e / r / allowed_ratio)
    };
    let burn_rates = BURN_WINDOWS
        .iter()
        .map(|(label, secs)| BurnRate {
            window: (*label).to_string(),
            window_secs: *secs,
            rate: burn(*secs),
        })
        .collect();
    let alerts = ALERTS
        .iter()
        .map(|(name, long, short, threshold)| BurnAlert {
            name: (*name).to_string(),
            long_window: window_label(*long).to_string(),
            short_window: window_label(*short).to_string(),
            threshold: *threshold,
            budget_percent: threshold * *long as f64
                / (f64::from(settings.window_days) * DAY as f64)
                * 100.0,
            firing: burn(*long).is_some_and(|b| b > *threshold)
                && burn(*short).is_some_and(|b| b > *threshold),
        })
        .collect();
    let window_secs = f64::from(settings.window_days) * DAY as f64;
    let time_left_secs = match (consumed, burn(HOUR)) {
        (Some(consumed), Some(rate)) if consumed < 1.0 && rate > 0.0 => {
            Some((1.0 - consumed) * window_secs / rate)
        }
        _ => None,
    };

    let mut daily: Vec<(i64, f64, f64)> = Vec::new();
    for bucket in &buckets {
        let day = bucket.start - bucket.start.rem_euclid(DAY);
        match daily.last_mut() {
            Some((d, r, e)) if *d == day => {
                *r += bucket.requests;
                *e += bucket.errors;
            }
            _ => daily.push((day, bucket.requests, bucket.errors)),
        }
    }
    let mut spent = 0.0;
    let budget_history = thin(
        buckets
            .iter()
            .filter(|_| with_requests)
            .map(|bucket| {
                spent += bucket.errors;
                (
                    bucket.start,
                    round_for_chart((1.0 - spent / budget_errors) * 100.0),
                )
            })
            .collect(),
        BUDGET_POINTS,
    );
    let first = buckets.first().map(|b| b.start).unwrap_or(now);
    SloView {
        objective_percent: settings.objective_percent,
        window_days: settings.window_days,
        covered_days: ((now - first) as f64 / DAY as f64)
            .clamp(0.0, f64::from(settings.window_days)),
        requests,
        errors,
        availability_percent: with_requests.then(|| (1.0 - errors / requests) * 100.0),
        budget_errors,
        budget_remaining_percent: consumed.map(|c| (1.0 - c) * 100.0),
        burn_rates,
        time_left_secs,
        alerts,
        daily_availability: daily
            .into_iter()
            .filter(|(_, r, _)| *r > 0.0)
            .map(|(day, r, e)| (day, (1.0 - e / r) * 100.0))
            .collect(),
        budget_history,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000 - 1_800_000_000 % HOUR;

    /// 30 days of hours at 1000 requests and `errors` each, then the last 6 h as 5-minute buckets.
    fn history(
        hourly_errors: impl Fn(i64) -> f64,
        fine_errors: impl Fn(i64) -> f64,
    ) -> (Vec<Bucket>, Vec<Bucket>) {
        let fine_start = NOW - 6 * HOUR;
        let hourly = (0..30 * 24)
            .map(|h| NOW - 30 * DAY + h * HOUR)
            .filter(|start| start + HOUR <= fine_start)
            .map(|start| Bucket {
                start,
                requests: 1000.0,
                errors: hourly_errors(start),
            })
            .collect();
        let fine = (0..72)
            .map(|k| fine_start + k * 300)
            .map(|start| Bucket {
                start,
                requests: 1000.0 / 12.0,
                errors: fine_errors(start),
            })
            .collect();
        (hourly, fine)
    }

    #[test]
    fn a_clean_month_keeps_the_whole_budget_and_does_not_burn() {
        let (hourly, fine) = history(|_| 0.0, |_| 0.0);
        let view = evaluate(&SloSettings::default(), &hourly, &fine, NOW);
        assert!(
            (view.requests - 720_000.0).abs() < 1e-6,
            "{}",
            view.requests
        );
        assert_eq!(view.availability_percent, Some(100.0));
        assert!((view.budget_errors - 720.0).abs() < 1e-6);
        assert_eq!(view.budget_remaining_percent, Some(100.0));
        assert_eq!(view.burn_rate(HOUR), Some(0.0));
        assert_eq!(
            view.time_left_secs, None,
            "not burning: no time left to show"
        );
        assert!(view.alerts.iter().all(|a| !a.firing));
        // 30 days from mid-day touch 31 calendar days.
        assert_ne!(NOW % DAY, 0);
        assert_eq!(view.daily_availability.len(), 31);
        assert!((view.covered_days - 30.0).abs() < 1e-9);
    }

    #[test]
    fn an_incident_spends_budget_and_the_rest_lasts_at_the_current_burn() {
        // 360 errors 10 days ago (half the budget), and the last hour at 0.2 % errors (burn 2).
        let incident = NOW - 10 * DAY;
        let (hourly, fine) = history(
            |start| if start == incident { 360.0 } else { 0.0 },
            |start| {
                if start >= NOW - HOUR {
                    1000.0 / 12.0 * 0.002
                } else {
                    0.0
                }
            },
        );
        let view = evaluate(&SloSettings::default(), &hourly, &fine, NOW);
        let spent = 360.0 + 2.0;
        assert!(
            (view.availability_percent.unwrap() - (1.0 - spent / 720_000.0) * 100.0).abs() < 1e-9
        );
        let remaining = view.budget_remaining_percent.unwrap();
        assert!(
            (remaining - (1.0 - spent / 720.0) * 100.0).abs() < 1e-9,
            "{remaining}"
        );
        let burn = view.burn_rate(HOUR).unwrap();
        assert!((burn - 2.0).abs() < 1e-9, "{burn}");
        // Half the budget left at twice the sustainable pace: a quarter of the window.
        let left = view.time_left_secs.unwrap();
        assert!(
            (left - (1.0 - spent / 720.0) * 30.0 * DAY as f64 / 2.0).abs() < 1.0,
            "{left}"
        );
        assert!(
            view.alerts.iter().all(|a| !a.firing),
            "burn 2 is below every alert"
        );
        // The day of the incident shows it; the burn-down falls by half at its hour.
        let day = incident - incident.rem_euclid(DAY);
        let (_, that_day) = view
            .daily_availability
            .iter()
            .find(|(d, _)| *d == day)
            .unwrap();
        assert!((that_day - (1.0 - 360.0 / 24_000.0) * 100.0).abs() < 1e-9);
        // The chart's points are thinned: the first one from the incident on shows half the budget gone.
        let at = view
            .budget_history
            .iter()
            .find(|(t, _)| *t >= incident)
            .unwrap()
            .1;
        assert!((at - 50.0).abs() < 1e-9, "{at}");
        assert!(view.budget_history.len() <= BUDGET_POINTS);
    }

    #[test]
    fn a_fast_burn_pages_only_while_both_windows_burn() {
        // The last hour at 2 % errors: burn 20 in 1 h and in 5 min.
        let (hourly, fine) = history(
            |_| 0.0,
            |start| {
                if start >= NOW - HOUR {
                    1000.0 / 12.0 * 0.02
                } else {
                    0.0
                }
            },
        );
        let view = evaluate(&SloSettings::default(), &hourly, &fine, NOW);
        let fast = view
            .alerts
            .iter()
            .find(|a| a.name == "page: fast burn")
            .unwrap();
        assert!(fast.firing);
        assert!(
            (fast.budget_percent - 2.0).abs() < 1e-9,
            "14.4 for 1 h spends 2 % of 30 days"
        );
        // Over: the same errors an hour earlier, and the last 5 minutes clean.
        let (hourly, fine) = history(
            |_| 0.0,
            |start| {
                if (NOW - HOUR - 300..NOW - 300).contains(&start) {
                    1000.0 / 12.0 * 0.02
                } else {
                    0.0
                }
            },
        );
        let view = evaluate(&SloSettings::default(), &hourly, &fine, NOW);
        assert!(view.burn_rate(HOUR).unwrap() > 14.4);
        assert!(
            !view
                .alerts
                .iter()
                .find(|a| a.name == "page: fast burn")
                .unwrap()
                .firing
        );
    }

    #[test]
    fn no_requests_is_no_data_never_perfect() {
        let view = evaluate(&SloSettings::default(), &[], &[], NOW);
        assert_eq!(view.availability_percent, None);
        assert_eq!(view.budget_remaining_percent, None);
        assert!(view.burn_rates.iter().all(|b| b.rate.is_none()));
        assert_eq!(view.covered_days, 0.0);
    }

    #[test]
    fn hourly_buckets_overlapping_the_fine_ones_are_not_counted_twice() {
        let hourly = [Bucket {
            start: NOW - HOUR,
            requests: 100.0,
            errors: 1.0,
        }];
        let fine = [Bucket {
            start: NOW - HOUR,
            requests: 100.0,
            errors: 1.0,
        }];
        let view = evaluate(&SloSettings::default(), &hourly, &fine, NOW);
        assert_eq!(view.requests, 100.0);
    }

    #[test]
    fn thinning_keeps_at_most_the_maximum_with_the_first_and_the_newest() {
        for n in [0_usize, 1, 2, 179, 180, 181, 792, 5000] {
            let points: Vec<(i64, f64)> = (0..n as i64).map(|i| (i, -(i as f64))).collect();
            let thinned = thin(points.clone(), BUDGET_POINTS);
            assert!(thinned.len() <= BUDGET_POINTS, "{n}: {}", thinned.len());
            assert_eq!(thinned.first(), points.first(), "{n}");
            assert_eq!(thinned.last(), points.last(), "{n}");
            if n <= BUDGET_POINTS {
                assert_eq!(thinned, points, "{n}: nothing to thin");
            } else {
                assert!(thinned.len() >= BUDGET_POINTS / 2, "{n}: {}", thinned.len());
            }
        }
    }
}
