//! Server-rendered SVG sparklines: a series, its threshold drawn as a dashed line, a title and a description for
//! screen readers. No charting dependency: a polyline scaled into a fixed box.

use leptos::prelude::*;

const WIDTH: f64 = 240.0;
const HEIGHT: f64 = 48.0;
const PAD: f64 = 3.0;

/// `points`: (unix seconds, value) oldest first; `threshold`: drawn when given; `markers`: unix seconds of
/// events (deploys) drawn as vertical lines.
#[component]
pub fn Sparkline(
    points: Vec<(i64, f64)>,
    #[prop(optional)] threshold: Option<f64>,
    #[prop(optional)] markers: Vec<i64>,
    title: String,
    unit: &'static str,
) -> impl IntoView {
    if points.is_empty() {
        return view! { <p class="sparkline-empty muted small">"no data"</p> }.into_any();
    }
    let (t0, t1) = (points[0].0, points[points.len() - 1].0.max(points[0].0 + 1));
    let max = points
        .iter()
        .map(|(_, v)| *v)
        .chain(threshold)
        .fold(f64::MIN, f64::max)
        .max(f64::EPSILON)
        * 1.1;
    let x = move |t: i64| PAD + (t - t0) as f64 / (t1 - t0) as f64 * (WIDTH - 2.0 * PAD);
    let y = move |v: f64| HEIGHT - PAD - v / max * (HEIGHT - 2.0 * PAD);
    let line = points
        .iter()
        .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
        .collect::<Vec<_>>()
        .join(" ");
    let last = points[points.len() - 1].1;
    let above = threshold.is_some_and(|limit| last > limit);
    let description = format!(
        "{} samples, latest {last:.1} {unit}{}",
        points.len(),
        threshold
            .map(|limit| format!(", threshold {limit:.1} {unit}"))
            .unwrap_or_default()
    );
    view! {
        <svg class="sparkline" class:above=above viewBox=format!("0 0 {WIDTH} {HEIGHT}") width=WIDTH height=HEIGHT role="img">
            <title>{title}</title>
            <desc>{description}</desc>
            {threshold.map(|limit| view! {
                <line class="threshold" x1=PAD x2=WIDTH - PAD y1=y(limit) y2=y(limit)/>
            })}
            {markers.into_iter().filter(|m| (t0..=t1).contains(m)).map(|m| view! {
                <line class="marker" x1=x(m) x2=x(m) y1=0 y2=HEIGHT/>
            }).collect_view()}
            <polyline class="series" points=line/>
        </svg>
    }
    .into_any()
}
