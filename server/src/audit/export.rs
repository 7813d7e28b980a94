//! The audit trail as a download: CSV or JSON, streamed batch by batch (keyset, newest first) so an export of a
//! million events holds one batch in memory. Each export is itself an audit event.

use super::{query_from, BATCH};
use crate::http::AppState;
use app::auth::{decide, Caller, Permission};
use app::dto::{AuditEvent, AuditFilter, Outcome};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::stream::{self, StreamExt};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

const CSV_HEADER: &str = "seq,occurred_at,actor,actor_kind,authority,action,target,environment,parameters,outcome,reason,request_id,client_addr,prev_hash,hash\n";

fn csv_field(value: &str) -> String {
    // Cells starting with = + - @ are formulas in spreadsheets: prefix them so an export cannot run one.
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

pub fn csv_line(event: &AuditEvent) -> String {
    let r = &event.record;
    let fields = [
        event.seq.to_string(),
        event.occurred_at.clone(),
        r.actor.clone(),
        r.actor_kind.clone(),
        r.authority.clone(),
        r.action.clone(),
        r.target.clone(),
        r.environment.clone().unwrap_or_default(),
        r.parameters.clone(),
        r.outcome.as_str().to_string(),
        r.reason.clone(),
        r.request_id.clone(),
        r.client_addr.clone(),
        event.prev_hash.clone(),
        event.hash.clone(),
    ];
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

pub async fn export_csv(
    state: State<AppState>,
    caller: Extension<Caller>,
    filter: Query<AuditFilter>,
) -> Response {
    export(state, caller, filter, Format::Csv).await
}

pub async fn export_json(
    state: State<AppState>,
    caller: Extension<Caller>,
    filter: Query<AuditFilter>,
) -> Response {
    export(state, caller, filter, Format::Json).await
}

async fn export(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(filter): Query<AuditFilter>,
    format: Format,
) -> Response {
    let action = "audit.export";
    if let Err(refusal) = decide(&caller, Permission::ViewAudit) {
        let _ = state
            .storage
            .append_audit(&caller.record(action, Outcome::Denied, refusal.reason))
            .await;
        return crate::http::api_v1::ApiError(refusal.error).into_response();
    }
    let query = match query_from(&filter) {
        Ok(query) => query,
        Err(error) => return crate::http::api_v1::ApiError(error).into_response(),
    };
    let parameters = serde_json::to_string(&filter).unwrap_or_else(|_| "{}".into());
    let record = caller
        .record(action, Outcome::Allowed, "")
        .parameters(parameters);
    if let Err(error) = state.storage.append_audit(&record).await {
        return crate::http::api_v1::ApiError(error.into()).into_response();
    }

    let storage = state.storage.clone();
    // (cursor, first batch?, finished?)
    let batches = stream::unfold((None::<i64>, true, false), move |(before, first, done)| {
        let storage = storage.clone();
        let query = query.clone();
        async move {
            if done {
                return None;
            }
            match storage.audit_page(&query, before, BATCH).await {
                Ok(events) => {
                    let finished = events.len() < BATCH as usize;
                    let next = events.last().map(|e| e.seq);
                    let mut chunk = String::new();
                    for (i, event) in events.iter().enumerate() {
                        match format {
                            Format::Csv => chunk.push_str(&csv_line(event)),
                            Format::Json => {
                                if !(first && i == 0) {
                                    chunk.push_str(",\n");
                                }
                                chunk.push_str(&serde_json::to_string(event).unwrap_or_default());
                            }
                        }
                    }
                    Some((
                        Ok::<_, std::io::Error>(chunk),
                        (next, false, finished || next.is_none()),
                    ))
                }
                Err(error) => {
                    // The response has started: end it visibly broken rather than silently short.
                    tracing::error!(%error, "audit export failed part-way");
                    Some((
                        Err(std::io::Error::other("audit export failed")),
                        (before, false, true),
                    ))
                }
            }
        }
    });
    let (content_type, extension, head, tail) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv", CSV_HEADER, ""),
        Format::Json => ("application/json", "json", "[\n", "\n]\n"),
    };
    let body = stream::once(async move { Ok(head.to_string()) })
        .chain(batches)
        .chain(stream::once(async move { Ok(tail.to_string()) }));
    let date = crate::audit::chain::canonical_time(time::OffsetDateTime::now_utc());
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"signalbox-audit-{}.{extension}\"",
                    &date[..10]
                ),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_quotes_what_needs_quoting_and_defuses_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
