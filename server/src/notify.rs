//! Deployment notifications: Slack-compatible JSON (`{"text": …}` plus a `signalbox` object with the details)
//! posted to each configured webhook that wants the event. Sending never blocks the engine: events go into a
//! bounded queue, each delivery retries with exponential back-off on its own task, and a webhook that keeps
//! failing is logged and given up on.

use crate::config::notify::{NotificationConfig, Webhook};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// One of `config::notify::EVENTS`.
    pub event: &'static str,
    pub text: String,
    pub deployment: String,
    pub environment: String,
    pub service: String,
    /// The deployment page.
    pub link: String,
}

#[derive(Clone)]
pub struct Notifier {
    queue: Option<mpsc::Sender<Notification>>,
}

impl Notifier {
    /// A notifier that sends nothing (no webhook configured).
    pub fn disabled() -> Notifier {
        Notifier { queue: None }
    }

    /// Starts the delivery task; it ends when every `Notifier` clone is dropped.
    pub fn start(config: NotificationConfig) -> Notifier {
        if config.webhooks.is_empty() {
            return Notifier::disabled();
        }
        let (queue, mut events) = mpsc::channel::<Notification>(1000);
        let config = Arc::new(config);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client");
        tokio::spawn(async move {
            while let Some(notification) = events.recv().await {
                for hook in config
                    .webhooks
                    .iter()
                    .filter(|h| wants(h, notification.event))
                {
                    tokio::spawn(deliver(
                        client.clone(),
                        hook.clone(),
                        notification.clone(),
                        config.retry_base_ms,
                        config.max_attempts,
                    ));
                }
            }
        });
        Notifier { queue: Some(queue) }
    }

    /// Queues the notification; when the queue is full it is dropped with a warning, never waited on.
    pub fn send(&self, notification: Notification) {
        if let Some(queue) = &self.queue {
            if let Err(error) = queue.try_send(notification) {
                tracing::warn!(%error, "notification dropped: the queue is full or closed");
            }
        }
    }
}

fn wants(hook: &Webhook, event: &str) -> bool {
    hook.events.is_empty() || hook.events.iter().any(|e| e == event)
}

pub fn payload(notification: &Notification) -> serde_json::Value {
    json!({
        "text": format!("{} <{}|details>", notification.text, notification.link),
        "signalbox": {
            "event": notification.event,
            "deployment": notification.deployment,
            "environment": notification.environment,
            "service": notification.service,
            "url": notification.link,
        }
    })
}

async fn deliver(
    client: reqwest::Client,
    hook: Webhook,
    notification: Notification,
    retry_base_ms: u64,
    max_attempts: u32,
) {
    let body = payload(&notification).to_string();
    for attempt in 1..=max_attempts {
        let outcome = client
            .post(hook.url.clone())
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        match outcome {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => {
                tracing::warn!(webhook = %hook.name, status = %response.status(), attempt, "webhook refused a notification")
            }
            Err(error) => {
                tracing::warn!(webhook = %hook.name, %error, attempt, "webhook unreachable")
            }
        }
        if attempt < max_attempts {
            let wait = retry_base_ms.saturating_mul(1 << (attempt - 1).min(10));
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
    tracing::error!(webhook = %hook.name, event = notification.event, deployment = %notification.deployment, "notification given up after {max_attempts} attempts");
}
