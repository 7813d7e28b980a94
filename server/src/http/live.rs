//! `GET /live`: a server-sent event each time a shared collector publishes a new reading, so open pages refetch
//! from the caches without a reload. Viewers only listen: the collectors' AWS calls do not depend on them.

use super::AppState;
use crate::health::collector::HealthCollector;
use crate::topology::TopologyCollector;
use app::auth::{decide, Caller, Permission};
use app::dto::Outcome;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::stream::{self, Stream, StreamExt};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Where updates come from.
#[derive(Clone, Default)]
pub struct LiveSources {
    pub topology: Vec<Arc<TopologyCollector>>,
    pub health: Vec<Arc<HealthCollector>>,
    pub backups: Vec<Arc<crate::backups::collector::BackupCollector>>,
    pub engine: Option<Arc<crate::engine::Engine>>,
}

/// (environment, "topology" | "health" | "backups") per new reading.
type Updates = std::pin::Pin<Box<dyn Stream<Item = (String, &'static str)> + Send>>;

/// A stream with one item per change of `receiver`, labelled.
fn changes<T: Send + Sync + 'static>(
    receiver: watch::Receiver<T>,
    environment: String,
    kind: &'static str,
) -> impl Stream<Item = (String, &'static str)> + Send {
    stream::unfold(receiver, move |mut receiver| {
        let environment = environment.clone();
        async move {
            receiver.changed().await.ok()?;
            Some(((environment, kind), receiver))
        }
    })
}

pub async fn live(State(state): State<AppState>, Extension(caller): Extension<Caller>) -> Response {
    if let Err(refusal) = decide(&caller, Permission::ViewConsole) {
        let _ = state
            .storage
            .append_audit(&caller.record("live.subscribe", Outcome::Denied, refusal.reason))
            .await;
        return super::api_v1::ApiError(refusal.error).into_response();
    }
    let sources = &state.live;
    let mut streams: Vec<Updates> = Vec::new();
    for collector in &sources.topology {
        let name = collector.environment().name.clone();
        streams.push(Box::pin(changes(collector.subscribe(), name, "topology")));
    }
    for collector in &sources.health {
        let name = collector.environment().name.clone();
        streams.push(Box::pin(changes(collector.subscribe(), name, "health")));
    }
    for collector in &sources.backups {
        let name = collector.environment().name.clone();
        streams.push(Box::pin(changes(collector.subscribe(), name, "backups")));
    }
    if let Some(engine) = &sources.engine {
        streams.push(Box::pin(changes(
            engine.subscribe(),
            String::new(),
            "deployments",
        )));
    }
    let events = stream::select_all(streams).map(|(environment, kind)| {
        Ok::<_, Infallible>(
            Event::default()
                .event("update")
                .data(serde_json::json!({ "environment": environment, "kind": kind }).to_string()),
        )
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
