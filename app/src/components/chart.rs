//! Server-rendered SVG charts: a sparkline for a glance and a time series with axes for reading values. Both draw
//! the threshold as a dashed line and events (deploys) as markers, and carry a title and a description for screen
//! readers. No charting dependency: polylines scaled into a fixed box.

use crate::dto::DeployMarker;
use leptos::prelude::*;

/// Maps (unix seconds, value) into a box, `pad` in from each edge.
#[derive(Clone, Copy)]
struct Scale {
    t0: i64,
    t1: i64,
    lo: f64,
    hi: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Scale {
    fn x(&self, t: i64) -> f64 {
        self.left + (t - self.t0) as f64 / (self.t1 - self.t0) as f64 * (self.right - self.left)
    }

    fn y(&self, v: f64) -> f64 {
        self.bottom - (v - self.lo) / (self.hi - self.lo) * (self.bottom - self.top)
    }

    /// "x,y x,y …" with one decimal: one buffer, and tenths written as integers — float formatting was the
    /// largest single cost of rendering the health page (profiled under load).
    fn polyline(&self, points: &[(i64, f64)]) -> String {
        let mut out = String::with_capacity(points.len() * 12);
        for (i, (t, v)) in points.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            push_tenths(&mut out, self.x(*t));
            out.push(',');
            push_tenths(&mut out, self.y(*v));
        }
        out
    }
}

/// Appends `v` rounded to one decimal ("12.3", "-0.5"); what `{:.1}` prints, ties aside (drawn the same). Digits
/// are written by hand: the formatting machinery was still the polyline's main cost under load, and then `round`
/// (a libm call on x86-64) and UTF-8 validation of the digits were (callgrind: ~210 instructions per value).
fn push_tenths(out: &mut String, v: f64) {
    let scaled = v * 10.0;
    // Half away from zero, as `f64::round`; the cast saturates and takes NaN to 0.
    let tenths = if scaled < 0.0 {
        (scaled - 0.5) as i64
    } else {
        (scaled + 0.5) as i64
    };
    if tenths < 0 {
        out.push('-');
    }
    let tenths = tenths.unsigned_abs();
    push_digits(out, tenths / 10);
    out.push('.');
    out.push(char::from(b'0' + (tenths % 10) as u8));
}

/// Appends the decimal digits of `n`.
fn push_digits(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[start..].iter().map(|&digit| char::from(digit)));
}

/// The time span of the points, never empty, stretched to the newest marker after them: a deploy made since the
/// last point (today's, on a daily chart) is drawn at the right edge, not dropped.
fn span(points: &[(i64, f64)], markers: &[DeployMarker]) -> (i64, i64) {
    let t0 = points[0].0;
    let t1 = markers
        .iter()
        .map(|m| m.at)
        .filter(|at| *at >= t0)
        .fold(points[points.len() - 1].0, i64::max);
    (t0, t1.max(t0 + 1))
}

fn describe(points: &[(i64, f64)], threshold: Option<f64>, unit: &str) -> String {
    let last = points[points.len() - 1].1;
    let (min, max) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), (_, v)| {
            (lo.min(*v), hi.max(*v))
        });
    format!(
        "{} samples from {min:.2} to {max:.2} {unit}, latest {last:.2} {unit}{}",
        points.len(),
        threshold
            .map(|limit| format!(", threshold {limit:.2} {unit}"))
            .unwrap_or_default()
    )
}

/// Vertical lines for the markers inside the chart's time span, each with its label as a tooltip; rollbacks are
/// styled apart.
fn marker_lines(markers: Vec<DeployMarker>, scale: Scale, y1: f64, y2: f64) -> impl IntoView {
    markers
        .into_iter()
        .filter(|m| (scale.t0..=scale.t1).contains(&m.at))
        .map(|m| {
            view! {
                <line class="marker" class:rollback=m.rollback x1=scale.x(m.at) x2=scale.x(m.at) y1=y1 y2=y2
                    data-deployment=m.deployment_id.clone()>
                    <title>{m.label.clone()}</title>
                </line>
            }
        })
        .collect_view()
}

const SPARK_WIDTH: f64 = 240.0;
const SPARK_HEIGHT: f64 = 48.0;
const SPARK_PAD: f64 = 3.0;

/// `points`: (unix seconds, value) oldest first; `threshold`: drawn when given; `markers`: deploys (switches
/// and rollbacks) drawn as vertical lines.
#[component]
pub fn Sparkline(
    points: Vec<(i64, f64)>,
    #[prop(optional)] threshold: Option<f64>,
    #[prop(optional)] markers: Vec<DeployMarker>,
    title: String,
    unit: &'static str,
) -> impl IntoView {
    if points.is_empty() {
        return view! { <p class="sparkline-empty muted small">"no data"</p> }.into_any();
    }
    let (t0, t1) = span(&points, &markers);
    let hi = points
        .iter()
        .map(|(_, v)| *v)
        .chain(threshold)
        .fold(f64::MIN, f64::max)
        .max(f64::EPSILON)
        * 1.1;
    let scale = Scale {
        t0,
        t1,
        lo: 0.0,
        hi,
        left: SPARK_PAD,
        right: SPARK_WIDTH - SPARK_PAD,
        top: SPARK_PAD,
        bottom: SPARK_HEIGHT - SPARK_PAD,
    };
    let last = points[points.len() - 1].1;
    let above = threshold.is_some_and(|limit| last > limit);
    let description = describe(&points, threshold, unit);
    view! {
        <svg class="sparkline" class:above=above viewBox=format!("0 0 {SPARK_WIDTH} {SPARK_HEIGHT}") width=SPARK_WIDTH height=SPARK_HEIGHT role="img">
            <title>{title}</title>
            <desc>{description}</desc>
            {threshold.map(|limit| view! {
                <line class="threshold" x1=SPARK_PAD x2=SPARK_WIDTH - SPARK_PAD y1=scale.y(limit) y2=scale.y(limit)/>
            })}
            {marker_lines(markers, scale, 0.0, SPARK_HEIGHT)}
            <polyline class="series" points=scale.polyline(&points)/>
        </svg>
    }
    .into_any()
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// "Nov 28" for an axis label.
fn day_label(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm): no date library in the wasm.
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{} {day}", MONTHS[(month - 1) as usize])
}

/// A time series with value and date axes, the threshold dashed and labelled, and markers. `floor`/`ceiling`
/// fix the value range where a chart should not zoom (availability near 100 %); otherwise it fits the data and
/// the threshold.
#[component]
pub fn TimeSeries(
    points: Vec<(i64, f64)>,
    #[prop(optional)] threshold: Option<f64>,
    #[prop(optional)] threshold_label: Option<String>,
    #[prop(optional)] markers: Vec<DeployMarker>,
    #[prop(optional)] floor: Option<f64>,
    #[prop(optional)] ceiling: Option<f64>,
    title: String,
    unit: &'static str,
    /// Decimals of the value labels.
    #[prop(default = 1)]
    decimals: usize,
) -> impl IntoView {
    if points.is_empty() {
        return view! { <p class="sparkline-empty muted small">"no data"</p> }.into_any();
    }
    let (t0, t1) = span(&points, &markers);
    let values = points.iter().map(|(_, v)| *v).chain(threshold);
    let (min, max) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let margin = ((max - min) * 0.1).max(f64::EPSILON);
    let lo = floor.unwrap_or(min - margin);
    let hi = ceiling.unwrap_or(max + margin).max(lo + f64::EPSILON);
    let scale = Scale {
        t0,
        t1,
        lo,
        hi,
        left: LEFT,
        right: WIDTH - RIGHT,
        top: TOP,
        bottom: HEIGHT - BOTTOM,
    };
    let ticks = [lo, (lo + hi) / 2.0, hi];
    let description = describe(&points, threshold, unit);
    let last = points[points.len() - 1];
    view! {
        <svg class="timeseries" viewBox=format!("0 0 {WIDTH} {HEIGHT}") width="100%" role="img" preserveAspectRatio="xMinYMin meet">
            <title>{title}</title>
            <desc>{description}</desc>
            <g class="axis">
                {ticks.into_iter().map(|v| view! {
                    <line class="grid" x1=LEFT x2=WIDTH - RIGHT y1=scale.y(v) y2=scale.y(v)/>
                    <text x=LEFT - 6.0 y=scale.y(v) + 4.0 text-anchor="end">{format!("{v:.decimals$}")}</text>
                }).collect_view()}
                <text x=LEFT y=HEIGHT - 6.0 text-anchor="start">{day_label(t0)}</text>
                <text x=WIDTH - RIGHT y=HEIGHT - 6.0 text-anchor="end">{day_label(t1)}</text>
            </g>
            {threshold.map(|limit| view! {
                <line class="threshold" x1=LEFT x2=WIDTH - RIGHT y1=scale.y(limit) y2=scale.y(limit)/>
                <text class="threshold-label" x=WIDTH - RIGHT - 4.0 y=scale.y(limit) - 4.0 text-anchor="end">
                    {threshold_label.unwrap_or_else(|| format!("{limit:.decimals$} {unit}"))}
                </text>
            })}
            {marker_lines(markers, scale, TOP, HEIGHT - BOTTOM)}
            <polyline class="series" points=scale.polyline(&points)/>
            <circle class="last" cx=scale.x(last.0) cy=scale.y(last.1) r="3"/>
        </svg>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenths_are_the_value_rounded_half_away_from_zero() {
        for v in [
            0.0, 0.04, 0.06, 1.25, 12.34, 99.96, 120.0, -0.5, -3.27, 1234.56, 1.0e9, 10.0, 100.0,
            -0.04, 0.05, -0.05, 9.95, -12.35,
        ] {
            let mut out = String::new();
            push_tenths(&mut out, v);
            assert_eq!(
                out.parse::<f64>().unwrap(),
                (v * 10.0).round() / 10.0,
                "{v}: {out}"
            );
            assert_eq!(out.split('.').nth(1).map(str::len), Some(1), "{v}: {out}");
        }
    }

    #[test]
    fn a_deploy_after_the_last_point_stretches_the_span_and_an_older_one_does_not() {
        let points = [(1_000, 1.0), (2_000, 2.0)];
        let marker = |at| DeployMarker {
            at,
            deployment_id: "dep-1".into(),
            label: String::new(),
            rollback: false,
        };
        assert_eq!(span(&points, &[]), (1_000, 2_000));
        assert_eq!(span(&points, &[marker(2_600)]), (1_000, 2_600));
        assert_eq!(span(&points, &[marker(500), marker(1_500)]), (1_000, 2_000));
    }

    #[test]
    fn days_are_labelled_in_the_civil_calendar() {
        assert_eq!(day_label(0), "Jan 1");
        // 2026-11-29T21:00:00Z
        assert_eq!(day_label(1_795_986_000), "Nov 29");
        // 2024-02-29 (leap day)
        assert_eq!(day_label(1_709_164_800), "Feb 29");
    }
}
