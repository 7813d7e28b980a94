//! The release engine: deployments as durable state machines in the database, advanced by workers that claim
//! one deployment at a time with a lease, so any replica can pick up where another stopped. `plan` lays out the
//! steps, `steps` reads and changes AWS for each, `actions` is what people may do, `worker` runs them, and
//! `service` is the `ReleaseService` pages and the API call.

pub mod actions;
pub mod marker_cache;
pub mod plan;
pub mod planner;
pub mod record;
pub mod service;
pub mod steps;
pub mod worker;

use crate::aws::EnvironmentAws;
use crate::backups::collector::BackupCollector;
use crate::config::{EngineConfig, EnvironmentConfig};
use crate::health::collector::HealthCollector;
use crate::health::gate::Rule;
use crate::notify::{Notification, Notifier};
use crate::storage::SharedStorage;
use std::sync::Arc;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// What the engine needs of one environment.
pub struct EnvironmentRuntime {
    pub config: EnvironmentConfig,
    /// The region its clients use (the environment's, or the default).
    pub region: String,
    pub aws: EnvironmentAws,
    pub health: Arc<HealthCollector>,
    pub backups: Arc<BackupCollector>,
}

pub struct Engine {
    storage: SharedStorage,
    /// `backups.block_production_deploys`.
    block_unrecoverable: bool,
    settings: EngineConfig,
    rules: Vec<Rule>,
    environments: Vec<EnvironmentRuntime>,
    /// Actions wake the workers at once instead of at their next poll.
    wake: Notify,
    /// This process, in lease records: host, pid and a random suffix.
    process: String,
    /// Bumped on every change this process writes, for live pages.
    changes: watch::Sender<u64>,
    notifier: Notifier,
    /// Where the console is reached, for links in notifications.
    public_url: url::Url,
}

impl Engine {
    pub fn new(
        storage: SharedStorage,
        block_unrecoverable: bool,
        settings: EngineConfig,
        rules: Vec<Rule>,
        environments: Vec<EnvironmentRuntime>,
        notifier: Notifier,
        public_url: url::Url,
    ) -> Arc<Engine> {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        let process = format!(
            "{host}:{}:{}",
            std::process::id(),
            &crate::identity::tokens::short_reference()
        );
        Arc::new(Engine {
            storage,
            block_unrecoverable,
            settings,
            rules,
            environments,
            wake: Notify::new(),
            process,
            changes: watch::Sender::new(0),
            notifier,
            public_url,
        })
    }

    /// Announces an event of `row` to the webhooks that want it; never waits.
    pub fn announce(&self, row: &crate::storage::DeploymentRow, event: &'static str, text: String) {
        let link = self
            .public_url
            .join(&format!("/deployments/{}", row.id))
            .map(|u| u.to_string())
            .unwrap_or_default();
        self.notifier.send(Notification {
            event,
            text,
            deployment: row.id.clone(),
            environment: row.environment.clone(),
            service: row.service.clone(),
            link,
        });
    }

    pub fn environment(&self, name: &str) -> Option<&EnvironmentRuntime> {
        self.environments.iter().find(|e| e.config.name == name)
    }

    pub fn storage(&self) -> &SharedStorage {
        &self.storage
    }

    /// Wakes every worker of this process; other replicas see the change at their next poll.
    pub fn wake(&self) {
        self.wake.notify_waiters();
        self.changes.send_modify(|n| *n += 1);
    }

    /// A counter that moves whenever this process changed a deployment.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn spawn_workers(self: &Arc<Self>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        (0..self.settings.workers)
            .map(|i| {
                let engine = self.clone();
                let owner = format!("{}/w{i}", self.process);
                tokio::spawn(engine.run_worker(owner, shutdown.clone()))
            })
            .collect()
    }
}
