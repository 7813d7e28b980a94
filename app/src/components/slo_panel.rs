//! The SLO view: availability against the objective over the rolling window, the error budget left, burn rates,
//! the multi-window burn alerts, and how long the budget lasts at the current pace; charts of daily availability
//! and of the budget burning down, with deploy markers.

use crate::components::chart::TimeSeries;
use crate::components::freshness::Freshness;
use crate::dto::{format_duration, DeployMarker, PanelState, SloView};
use leptos::prelude::*;

/// 310138 → "310,138": counts people compare at a glance.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percent(value: Option<f64>, decimals: usize) -> String {
    value
        .map(|v| format!("{v:.decimals$} %"))
        .unwrap_or_else(|| "no data".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_grouped_in_thousands() {
        assert_eq!(super::thousands(310_138.4), "310,138");
        assert_eq!(super::thousands(999.0), "999");
        assert_eq!(super::thousands(1_000_000.0), "1,000,000");
    }
}

#[component]
pub fn SloPanel(
    slo: Option<SloView>,
    state: PanelState,
    /// Deploys and rollbacks, drawn on both charts.
    markers: Vec<DeployMarker>,
) -> impl IntoView {
    let body = match slo {
        None => view! { <p class="muted">"The SLO window has not been read yet."</p> }.into_any(),
        Some(slo) => slo_body(slo, markers).into_any(),
    };
    view! {
        <section class="panel slo" id="slo" data-testid="slo">
            <div class="environment-head">
                <h2>"SLO"</h2>
                <Freshness state/>
            </div>
            {body}
        </section>
    }
}

fn slo_body(slo: SloView, markers: Vec<DeployMarker>) -> impl IntoView {
    let objective = slo.objective_percent;
    let met = slo.availability_percent.map(|a| a >= objective);
    let burn_1h = slo.burn_rate(3600);
    let time_left = match (slo.budget_remaining_percent, slo.time_left_secs, burn_1h) {
        (Some(left), _, _) if left <= 0.0 => "budget spent".to_string(),
        (_, Some(secs), _) => format_duration(secs),
        (_, None, Some(_)) => "not burning".to_string(),
        _ => "no data".to_string(),
    };
    let spent = format!(
        "{} of {} allowed errors spent",
        thousands(slo.errors),
        thousands(slo.budget_errors)
    );
    let coverage = (slo.covered_days + 0.5 < f64::from(slo.window_days)).then(|| {
        format!(
            "Only {:.1} of {} days have data: figures cover that span.",
            slo.covered_days, slo.window_days
        )
    });
    let floor = slo
        .daily_availability
        .iter()
        .map(|(_, v)| *v)
        .fold(objective, f64::min);
    let floor = objective - (objective - floor).max(0.05) * 1.2;
    let firing = slo.alerts.iter().filter(|a| a.firing).count();
    view! {
        <p class="muted small">
            {format!("Availability ≥ {objective} % of requests without a 5xx over a rolling {} days, both colours together.", slo.window_days)}
        </p>
        {coverage.map(|c| view! { <p class="small env-error">{c}</p> })}
        <div class="slo-figures">
            <div class="figure" class:bad={met == Some(false)} data-testid="slo-availability">
                <span class="figure-label">"Availability"</span>
                <strong>{percent(slo.availability_percent, 3)}</strong>
                <span class="small muted">{format!("objective {objective} %")}</span>
            </div>
            <div class="figure" class:bad={slo.budget_remaining_percent.is_some_and(|b| b < 25.0)} data-testid="slo-budget">
                <span class="figure-label">"Error budget left"</span>
                <strong>{percent(slo.budget_remaining_percent, 1)}</strong>
                <span class="small muted">{spent}</span>
            </div>
            <div class="figure" class:bad={burn_1h.is_some_and(|b| b > 1.0)} data-testid="slo-burn">
                <span class="figure-label">"Burn rate, last hour"</span>
                <strong>{burn_1h.map(|b| format!("{b:.2}×")).unwrap_or_else(|| "no data".into())}</strong>
                <span class="small muted">"1× spends the budget in exactly the window"</span>
            </div>
            <div class="figure" data-testid="slo-time-left">
                <span class="figure-label">"Budget lasts"</span>
                <strong>{time_left}</strong>
                <span class="small muted">"at the last hour's burn"</span>
            </div>
        </div>
        <div class="slo-tables">
            <table class="kpis burn-rates">
                <thead><tr><th>"Window"</th><th>"Burn rate"</th></tr></thead>
                <tbody>
                    {slo.burn_rates.iter().map(|b| view! {
                        <tr><th>{b.window.clone()}</th><td class="num">{b.rate.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "no data".into())}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
            <table class="kpis burn-alerts" data-testid="burn-alerts">
                <thead><tr><th>"Burn alert"</th><th>"Fires when"</th><th>"Now"</th></tr></thead>
                <tbody>
                    {slo.alerts.iter().map(|a| view! {
                        <tr data-firing=a.firing.to_string()>
                            <th>{a.name.clone()}</th>
                            <td class="small">{format!("{} and {} both > {}× ({:.0} % of the budget in {})", a.long_window, a.short_window, a.threshold, a.budget_percent, a.long_window)}</td>
                            <td>{match a.firing {
                                true => view! { <span class="alarm-state alarm-firing">"FIRING"</span> }.into_any(),
                                false => view! { <span class="alarm-state alarm-ok">"quiet"</span> }.into_any(),
                            }}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <p class="small muted">{format!("{firing} burn alert(s) firing.")}</p>
        <div class="slo-charts">
            <figure>
                <figcaption class="small muted">"Availability per day, % — dashed: the objective; vertical lines: deploys"</figcaption>
                <TimeSeries points=slo.daily_availability.clone() threshold=objective
                    threshold_label=format!("objective {objective} %") markers=markers.clone()
                    floor=floor ceiling=100.0 decimals=2
                    title="Availability per day".to_string() unit="%"/>
            </figure>
            <figure>
                <figcaption class="small muted">"Error budget left, % — dashed: spent; vertical lines: deploys"</figcaption>
                <TimeSeries points=slo.budget_history.clone() threshold=0.0
                    threshold_label="budget spent".to_string() markers=markers
                    ceiling=100.0 decimals=0
                    title="Error budget remaining over the window".to_string() unit="%"/>
            </figure>
        </div>
    }
}
