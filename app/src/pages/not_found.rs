use leptos::prelude::*;
use leptos_meta::Title;

/// Any address the console does not know. Answers 404 when rendered on the server.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::services::set_page_status(&crate::error::AppError::not_found("page"));
    view! {
        <Title text="Not found"/>
        <section class="panel notice" role="alert">
            <h1>"Not found"</h1>
            <p>"There is nothing at this address. " <a href="/">"Back to the overview"</a></p>
        </section>
    }
}
