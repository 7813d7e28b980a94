use crate::api::load::Loaded;
use crate::components::colour::{ColourCell, RoutingBadge};
use crate::components::deferred::deferred;
use crate::components::error_panel::ErrorPanel;
use crate::dto::{Colour, EnvironmentOverview};
use crate::error::AppError;
use leptos::prelude::*;

/// One environment: its freshness, its error panel if AWS failed, and a row per service.
#[component]
pub fn EnvironmentCard(environment: EnvironmentOverview) -> impl IntoView {
    let freshness = match (&environment.as_of, environment.age_secs) {
        // RFC 3339 from the server; the clock time is what a person reads.
        (Some(as_of), Some(age)) => format!(
            "as of {age} s ago · {} UTC",
            as_of.get(11..19).unwrap_or(as_of)
        ),
        _ => "not read from AWS yet".to_string(),
    };
    let href = format!("/env/{}", environment.name);
    let environment_name = environment.name.clone();
    view! {
        <section class="panel environment" data-environment=environment.name.clone()>
            <header class="environment-head">
                <h2><a href=href>{environment.name.clone()}</a></h2>
                <span class="muted">{environment.region.clone()}</span>
                <span class="muted small freshness">{freshness}</span>
                {environment.stale.then(|| view! { <span class="badge stale">"stale"</span> })}
                <a class="small backups-link" href=format!("/env/{}/backups", environment.name)>"Backups"</a>
            </header>
            {environment.error.clone().map(|error| view! {
                <div class="env-error" role="alert" data-testid="environment-error">
                    <strong>"AWS could not be read for " {environment.name.clone()} ". "</strong>
                    {error}
                </div>
            })}
            <table class="services">
                <thead>
                    <tr><th scope="col">"Service"</th><th scope="col">"Blue"</th><th scope="col">"Green"</th></tr>
                </thead>
                <tbody>
                    {environment.services.into_iter().map(move |service| {
                        let live = service.routing.live_colour();
                        let name = service.name.clone();
                        let row_name = name.clone();
                        let service_href = format!("/env/{environment_name}/service/{name}");
                        view! {
                            <tr data-service=row_name>
                                <th scope="row">
                                    <div class="service-name"><a href=service_href>{name}</a></div>
                                    <RoutingBadge routing=service.routing.clone()/>
                                </th>
                                <ColourCell colour=service.colour(Colour::Blue).clone() live=live == Some(Colour::Blue)/>
                                <ColourCell colour=service.colour(Colour::Green).clone() live=live == Some(Colour::Green)/>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// An environment (or one service of it) once its server function answers; an error becomes the panel, and on
/// the server the page's HTTP status (404 for an unknown name).
#[component]
pub fn LoadedEnvironment(result: Loaded<Result<EnvironmentOverview, AppError>>) -> impl IntoView {
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || result.get().map(|result| match result {
                Ok(environment) => deferred(move || view! { <EnvironmentCard environment/> }),
                Err(error) => view! { <ErrorPanel error/> }.into_any(),
            })}
        </Transition>
    }
}
