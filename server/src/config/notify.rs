//! `[[notifications.webhooks]]`: where deployment events are announced (Slack-compatible JSON).

use super::{invalid, ConfigError};
use serde::Deserialize;
use std::collections::HashMap;

/// The events a webhook may ask for.
pub const EVENTS: &[&str] = &[
    "approval_requested",
    "approved",
    "rejected",
    "switched",
    "rolled_back",
    "failed",
    // Stopped on an error it would not retry: someone must retry the step or roll back.
    "halted",
    "break_glass",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub name: String,
    pub url: url::Url,
    /// Empty: every event.
    pub events: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct NotificationConfig {
    pub webhooks: Vec<Webhook>,
    /// The first retry waits this long, each next one twice as long.
    pub retry_base_ms: u64,
    pub max_attempts: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileNotifications {
    #[serde(default)]
    webhooks: Vec<FileWebhook>,
    retry_base_ms: Option<u64>,
    max_attempts: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWebhook {
    name: String,
    /// The URL, or the environment variable that holds it (Slack URLs are secrets).
    url: Option<String>,
    url_env: Option<String>,
    #[serde(default)]
    events: Vec<String>,
}

pub(super) fn resolve_notifications(
    file: FileNotifications,
    env: &HashMap<String, String>,
) -> Result<NotificationConfig, ConfigError> {
    let mut webhooks = Vec::new();
    for (i, hook) in file.webhooks.into_iter().enumerate() {
        let key = format!("notifications.webhooks[{i}]");
        let raw = match (&hook.url, &hook.url_env) {
            (Some(url), None) => url.clone(),
            (None, Some(var)) => env
                .get(var)
                .cloned()
                .ok_or_else(|| invalid(format!("{key}.url_env"), format!("{var} is not set")))?,
            _ => return Err(invalid(&key, "set exactly one of url and url_env")),
        };
        let url = url::Url::parse(&raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| invalid(format!("{key}.url"), "expected an http(s) URL"))?;
        if let Some(unknown) = hook.events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
            return Err(invalid(
                format!("{key}.events"),
                format!("unknown event {unknown:?}; known: {}", EVENTS.join(", ")),
            ));
        }
        webhooks.push(Webhook {
            name: hook.name,
            url,
            events: hook.events,
        });
    }
    Ok(NotificationConfig {
        webhooks,
        retry_base_ms: file.retry_base_ms.unwrap_or(1000).clamp(10, 60_000),
        max_attempts: file.max_attempts.unwrap_or(5).clamp(1, 10),
    })
}
