//! "as of N s ago", a stale badge and the reason a read failed: every panel says how current it is.

use crate::dto::PanelState;
use leptos::prelude::*;

#[component]
pub fn Freshness(state: PanelState) -> impl IntoView {
    let text = match state.age_secs {
        Some(age) => format!("as of {age} s ago"),
        None => "not read yet".to_string(),
    };
    view! {
        <span class="muted small freshness" data-age=state.age_secs>{text}</span>
        {state.stale.then(|| view! { <span class="badge stale">"stale"</span> })}
        {state.error.map(|error| view! { <span class="panel-error small" role="status">{error}</span> })}
    }
}
