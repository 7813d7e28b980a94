use crate::api::load::load;
use crate::api::overview::get_overview;
use crate::components::deferred::deferred;
use crate::components::environment_card::EnvironmentCard;
use crate::components::error_panel::ErrorPanel;
use leptos::prelude::*;
use leptos_meta::Title;

/// Every environment and service: which colour is live, and what each colour runs.
#[component]
pub fn OverviewPage() -> impl IntoView {
    // Refetched whenever the server says a reading changed.
    let overview = load(crate::components::live::live_version, |_| get_overview());
    view! {
        <Title text="Overview"/>
        <div class="page-head">
            <h1>"Overview"</h1>
            <button class="button" on:click=move |_| overview.refetch()>"Refresh"</button>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || overview.get().map(|result| match result {
                Ok(overview) if overview.environments.is_empty() => view! {
                    <section class="panel notice">
                        <h2>"No environments configured"</h2>
                        <p>"Describe them in the configuration file (see " <code>"signalbox.example.toml"</code> ")."</p>
                    </section>
                }.into_any(),
                Ok(overview) => deferred(move || overview.environments.into_iter()
                    .map(|environment| view! { <EnvironmentCard environment/> })
                    .collect_view()
                    ),
                Err(error) => view! { <ErrorPanel error/> }.into_any(),
            })}
        </Transition>
    }
}
