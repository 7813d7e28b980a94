use crate::error::AppError;
use leptos::prelude::*;

/// An error as the person using the console should read it: what happened and what they can do. Rendered on the
/// server, it also gives the page the error's HTTP status (404 for an unknown name, 403 for a refusal).
#[component]
pub fn ErrorPanel(error: AppError) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::services::set_page_status(&error);
    let (title, hint) = match &error {
        AppError::Unauthorized => ("Sign-in required", "Sign in again to continue."),
        AppError::Forbidden { .. } => {
            ("Not allowed", "Ask an administrator for the role you need.")
        }
        AppError::NotFound { .. } => (
            "Not found",
            "Check the address, or go back to the overview.",
        ),
        AppError::Validation { .. } => {
            ("Check your input", "Correct the field named and try again.")
        }
        AppError::Conflict { .. } => ("Conflict", "Reload to see the current state."),
        AppError::Upstream { .. } => (
            "A dependency failed",
            "Signalbox keeps retrying; the rest of the console still works.",
        ),
        AppError::Internal { .. } => (
            "Something broke on our side",
            "Try again; if it persists, give the reference to an administrator.",
        ),
    };
    view! {
        <section class="panel error-panel" role="alert">
            <h2>{title}</h2>
            <p>{error.to_string()}</p>
            <p class="muted">{hint} " " <a href="/">"Overview"</a></p>
        </section>
    }
}
