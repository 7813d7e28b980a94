use crate::api::load::load;
use crate::api::overview::get_environment;
use crate::components::environment_card::LoadedEnvironment;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// One environment. An unknown name renders the not-found panel with status 404.
#[component]
pub fn EnvironmentPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.read().get("env").unwrap_or_default();
    // Refetched when the server says a reading changed.
    let environment = load(
        move || (name(), crate::components::live::live_version()),
        |(name, _)| get_environment(name),
    );
    view! {
        <Title text=name/>
        <LoadedEnvironment result=environment/>
    }
}
