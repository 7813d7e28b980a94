//! Releases CI registered, newest first, paged on the server; a deployer picks one to deploy.

use crate::api::load::load;
use crate::api::releases::list_releases;
use crate::auth::Permission;
use crate::components::deferred::deferred;
use crate::components::error_panel::ErrorPanel;
use crate::components::user_menu::{may, use_me};
use crate::dto::ReleaseView;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

pub fn short_time(rfc3339: &str) -> String {
    format!(
        "{} UTC",
        rfc3339.get(..16).unwrap_or(rfc3339).replace('T', " ")
    )
}

fn short_commit(commit: &str) -> String {
    commit.chars().take(8).collect()
}

#[component]
pub fn ReleasesPage() -> impl IntoView {
    let query = use_query_map();
    let service = move || query.read().get("service").filter(|s| !s.is_empty());
    let before = move || {
        query
            .read()
            .get("before")
            .and_then(|b| b.parse::<i64>().ok())
    };
    let page = load(
        move || (service(), before()),
        |(service, before)| list_releases(service, before),
    );
    let deploy = move || use_me().is_some_and(|me| may(me, Permission::RequestDeploy));
    view! {
        <Title text="Releases"/>
        <h1>"Releases"</h1>
        <p class="muted">"Builds CI registered through " <code>"POST /api/v1/releases"</code> ". Each is immutable: image digest, commit, notes."</p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || page.get().map(|result| match result {
                Ok(page) => {
                    let next = page.next_before.map(|seq| match service() {
                        Some(s) => format!("/releases?service={s}&before={seq}"),
                        None => format!("/releases?before={seq}"),
                    });
                    // Read here, not in the deferred view: it reads the signed-in user's resource.
                    let deploy = deploy();
                    deferred(move || view! {
                        <section class="panel">
                            <table class="kpis releases" data-testid="releases">
                                <thead><tr>
                                    <th>"Version"</th><th>"Service"</th><th>"Image"</th><th>"Commit"</th>
                                    <th>"Notes"</th><th>"Registered"</th><th></th>
                                </tr></thead>
                                <tbody>
                                    {page.releases.into_iter().map(|r| view! { <ReleaseRow release=r deploy/> }).collect_view()}
                                </tbody>
                            </table>
                            {next.map(|href| view! { <p><a href=href>"Older releases →"</a></p> })}
                        </section>
                    })
                }
                Err(error) => view! { <ErrorPanel error/> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn ReleaseRow(release: ReleaseView, deploy: bool) -> impl IntoView {
    let href = format!("/deploy?release={}", release.id);
    let image = release.image_ref();
    view! {
        <tr data-release=release.id.clone()>
            <td><strong>{release.version.clone()}</strong></td>
            <td>{release.service.clone()}</td>
            <td><code class="small wrap">{image}</code></td>
            <td><code>{short_commit(&release.commit)}</code></td>
            <td class="small">
                {release.notes.clone()}
                {release.ticket_url.clone().map(|url| view! { " " <a href=url.clone() rel="noopener noreferrer">"ticket"</a> })}
            </td>
            <td class="small">{short_time(&release.registered_at)} <br/> <span class="muted">{release.registered_by.clone()}</span></td>
            <td>{deploy.then(|| view! { <a href=href class="button">"Deploy…"</a> })}</td>
        </tr>
    }
}
