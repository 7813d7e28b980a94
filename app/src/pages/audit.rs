use crate::api::audit::{list_audit_events, VerifyAudit};
use crate::api::load::load;
use crate::auth::Permission;
use crate::components::deferred::deferred;
use crate::components::error_panel::ErrorPanel;
use crate::components::user_menu::{may, use_me};
use crate::dto::{AuditEvent, AuditFilter, ChainReport};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

fn filter_query(filter: &AuditFilter) -> String {
    filter
        .fields()
        .iter()
        .filter_map(|(key, value)| {
            value
                .as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{key}={}", urlencode(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The audit trail: filters, newest first, server-side keyset paging, export and the tamper check.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        let q = query.get();
        let get = |key: &str| q.get(key).filter(|v| !v.trim().is_empty());
        AuditFilter {
            actor: get("actor"),
            action: get("action"),
            environment: get("environment"),
            from: get("from"),
            until: get("until"),
            target: get("target"),
        }
    });
    let before = Memo::new(move |_| {
        query
            .get()
            .get("before")
            .and_then(|b| b.parse::<i64>().ok())
    });
    let page = load(
        move || (filter.get(), before.get()),
        |(filter, before)| list_audit_events(filter, before),
    );
    let value = move |key: &'static str| move || query.get().get(key).unwrap_or_default();

    view! {
        <Title text="Audit trail"/>
        <div class="page-head">
            <h1>"Audit trail"</h1>
            <div class="actions">
                <a class="button" rel="external" download
                    href=move || format!("/audit/export.csv?{}", filter_query(&filter.get()))>"Export CSV"</a>
                <a class="button" rel="external" download
                    href=move || format!("/audit/export.json?{}", filter_query(&filter.get()))>"Export JSON"</a>
            </div>
        </div>
        <VerifyPanel/>
        <form class="panel filters" method="get" action="/audit" aria-label="Filter the audit trail">
            <label>"Actor" <input name="actor" prop:value=value("actor") placeholder="subject or token:id"/></label>
            <label>"Action" <input name="action" prop:value=value("action") placeholder="e.g. auth or token.create"/></label>
            <label>"Environment" <input name="environment" prop:value=value("environment")/></label>
            <label>"From" <input name="from" prop:value=value("from") placeholder="YYYY-MM-DD"/></label>
            <label>"Until" <input name="until" prop:value=value("until") placeholder="YYYY-MM-DD"/></label>
            <div class="filter-actions">
                <button class="button" type="submit">"Filter"</button>
                <a href="/audit">"Clear"</a>
            </div>
        </form>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || page.get().map(|result| match result {
                Ok(page) => {
                    let next = page.next.map(|seq| {
                        let filters = filter_query(&filter.get_untracked());
                        let sep = if filters.is_empty() { "" } else { "&" };
                        format!("/audit?{filters}{sep}before={seq}")
                    });
                    deferred(move || view! {
                        <AuditTable events=page.events/>
                        <nav class="pager" aria-label="Pages">
                            {before.get().map(|_| view! {
                                <a href=move || format!("/audit?{}", filter_query(&filter.get()))>"Newest"</a>
                            })}
                            {next.map(|href| view! { <a href=href id="older">"Older events"</a> })}
                        </nav>
                    })
                }
                Err(error) => view! { <ErrorPanel error/> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn AuditTable(events: Vec<AuditEvent>) -> impl IntoView {
    if events.is_empty() {
        return view! { <p class="panel muted" id="no-events">"No events match."</p> }.into_any();
    }
    view! {
        <div class="panel table-wrap">
            <table class="audit-table">
                <thead><tr>
                    <th>"#"</th><th>"Time (UTC)"</th><th>"Actor"</th><th>"Action"</th><th>"Target"</th>
                    <th>"Outcome"</th><th>"Reason / parameters"</th><th>"Request"</th>
                </tr></thead>
                <tbody>
                    {events.into_iter().map(|event| {
                        let outcome = event.record.outcome.as_str();
                        let target = match &event.record.environment {
                            Some(env) if !event.record.target.contains(env.as_str()) => format!("{} ({env})", event.record.target),
                            _ => event.record.target.clone(),
                        };
                        let details = if event.record.reason.is_empty() { event.record.parameters.clone() } else { event.record.reason.clone() };
                        view! {
                            <tr data-seq=event.seq data-action=event.record.action.clone() data-outcome=outcome>
                                <td class="num">{event.seq}</td>
                                <td class="nowrap" title=event.occurred_at.clone()>{event.occurred_at.get(..19).unwrap_or(&event.occurred_at).replace('T', " ")}</td>
                                <td>{event.record.actor.clone()}<div class="muted small">{event.record.authority.clone()}</div></td>
                                <td><code>{event.record.action.clone()}</code></td>
                                <td>{target}</td>
                                <td><span class=format!("outcome outcome-{outcome}")>{outcome}</span></td>
                                <td class="details">{details}</td>
                                <td class="muted small" title=event.hash.clone()>{event.record.client_addr.clone()}<br/>{event.record.request_id.chars().take(8).collect::<String>()}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }.into_any()
}

/// Runs the tamper check on demand (auditors and admins).
#[component]
fn VerifyPanel() -> impl IntoView {
    let verify = ServerAction::<VerifyAudit>::new();
    let me = use_me();
    let allowed = move || me.is_some_and(|me| may(me, Permission::VerifyAudit));
    let result = move || {
        verify.value().get().map(|result: Result<ChainReport, AppError>| match result {
            Ok(report) if report.is_intact() => view! {
                <p class="chain-ok" id="chain-result" data-intact="true">
                    "Intact. " {report.events} " events checked; head " <code>{report.head.clone().unwrap_or_default()}</code>
                </p>
            }.into_any(),
            Ok(report) => view! {
                <p class="chain-broken" id="chain-result" data-intact="false" role="alert">"Tampered. " {report.summary()}</p>
            }.into_any(),
            Err(error) => view! { <ErrorPanel error/> }.into_any(),
        })
    };
    view! {
        <Transition fallback=|| ()>
            {move || allowed().then(|| view! {
                <section class="panel verify">
                    <div class="page-head">
                        <div>
                            <h2>"Tamper check"</h2>
                            <p class="muted small">"Re-computes every event's SHA-256 and its link to the one before."</p>
                        </div>
                        <button class="button" id="verify-chain" on:click=move |_| { verify.dispatch(VerifyAudit {}); }
                            disabled=move || verify.pending().get()>
                            {move || if verify.pending().get() { "Checking…" } else { "Verify chain" }}
                        </button>
                    </div>
                    {result}
                </section>
            })}
        </Transition>
    }
}
