use crate::api::overview::get_service;
use crate::components::environment_card::LoadedEnvironment;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// One service of one environment. An unknown environment or service renders the not-found panel with 404.
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
    let service = Resource::new(names, |(environment, service)| {
        get_service(environment, service)
    });
    view! {
        <Title text=move || { let (environment, service) = names(); format!("{service} in {environment}") }/>
        <LoadedEnvironment result=service/>
    }
}
