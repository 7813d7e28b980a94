use crate::api::health::get_service_health;
use crate::api::load::load;
use crate::api::overview::get_service;
use crate::components::alarms::AlarmsPanel;
use crate::components::deferred::deferred;
use crate::components::deployments::DeploymentsPanel;
use crate::components::environment_card::LoadedEnvironment;
use crate::components::error_panel::ErrorPanel;
use crate::components::health_panel::HealthPanel;
use crate::components::slo_panel::SloPanel;
use crate::dto::{ColourOverview, PanelState, ServiceHealth};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// One service of one environment: its colours, then its health per colour. An unknown environment or service
/// renders the not-found panel with 404.
/// "api in production". The server renders the title after the page, when the route's parameters may already be
/// disposed (a panic under load, found by the benchmark): read them only if they are still there.
fn page_title(params: Memo<leptos_router::params::ParamsMap>) -> String {
    params
        .try_with(|p| {
            format!(
                "{} in {}",
                p.get("service").unwrap_or_default(),
                p.get("env").unwrap_or_default()
            )
        })
        .unwrap_or_else(|| "Service".into())
}

#[component]
pub fn ServicePage() -> impl IntoView {
    let params = use_params_map();
    let names = move || {
        let params = params.read();
        (
            params.get("env").unwrap_or_default(),
            params.get("service").unwrap_or_default(),
        )
    };
    // Both refetch when the server says a reading changed.
    let live_names = move || (names(), crate::components::live::live_version());
    let service = load(live_names, |((environment, service), _)| {
        get_service(environment, service)
    });
    let health = load(live_names, |((environment, service), _)| {
        get_service_health(environment, service)
    });
    // Both colours of the service and the reading's freshness, once the topology answered.
    let service_colours = move || {
        let environment = service.get().and_then(Result::ok);
        let state = environment
            .as_ref()
            .map(|e| PanelState {
                as_of: e.as_of.clone(),
                age_secs: e.age_secs,
                stale: e.stale,
                error: e.error.clone(),
            })
            .unwrap_or_default();
        let colours = environment
            .and_then(|environment| environment.services.into_iter().next())
            .map(|s| vec![s.blue, s.green])
            .unwrap_or_default();
        (colours, state)
    };
    view! {
        <Title text=move || page_title(params)/>
        <LoadedEnvironment result=service/>
        <Transition fallback=|| view! { <p class="muted">"Loading health…"</p> }>
            // Borrowed here and cloned only in the deferred part: the server walks this closure three times per
            // request (twice looking for resource reads, once to render), and the health is the page's largest value.
            {move || health.with(|result| result.as_ref().map(|result| match result {
                Ok(_) => {
                    let (colours, topology) = service_colours();
                    deferred(move || match health.get_untracked() {
                        Some(Ok(health)) => health_panels(health, colours, topology).into_any(),
                        _ => ().into_any(),
                    })
                }
                // The colours above already show the not-found panel for an unknown name.
                Err(crate::error::AppError::NotFound { .. }) => ().into_any(),
                Err(error) => view! { <ErrorPanel error=error.clone()/> }.into_any(),
            }))}
        </Transition>
    }
}

/// The panels below the colours, from one health reading.
fn health_panels(
    mut health: ServiceHealth,
    colours: Vec<ColourOverview>,
    topology: PanelState,
) -> impl IntoView {
    // Parts moved out rather than cloned: this page is the console's busiest under load.
    let markers = health.deploy_markers.clone();
    let slo = health.slo.take();
    let slo_state = std::mem::take(&mut health.slo_state);
    let alarms_state = std::mem::take(&mut health.alarms_state);
    let alarms = health.alarms.clone();
    // Each panel erased to its own type: the page's view type would otherwise nest too deep.
    view! {
        {view! { <HealthPanel health/> }.into_any()}
        {view! { <DeploymentsPanel colours state=topology/> }.into_any()}
        {view! { <AlarmsPanel alarms state=alarms_state/> }.into_any()}
        {view! { <SloPanel slo state=slo_state markers/> }.into_any()}
    }
}
