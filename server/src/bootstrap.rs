//! Start-up as a library call, so tests run the real thing on port 0: storage (migrations), AWS clients per
//! environment, one collector per environment, the router. [`Running::stop`] shuts it all down gracefully.

use crate::audit::StoredAudit;
use crate::aws::EnvironmentAws;
use crate::backups::collector::BackupCollector;
use crate::backups::CollectedBackups;
use crate::config::Config;
use crate::health::collector::HealthCollector;
use crate::health::CollectedHealth;
use crate::http::{serve, AppParts, AppState};
use crate::identity::gate::Gate;
use crate::identity::oidc::Oidc;
use crate::identity::tokens::StoredTokens;
use crate::identity::IdentitySetupError;
use crate::overview::CollectedOverview;
use crate::storage::{self, SharedStorage, StorageError};
use crate::topology::TopologyCollector;
use app::services::Services;
use leptos::config::{Env, LeptosOptions};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Running {
    pub addr: SocketAddr,
    pub engine: Arc<crate::engine::Engine>,
    pub storage: SharedStorage,
    pub collectors: Vec<Arc<TopologyCollector>>,
    pub health: Vec<Arc<HealthCollector>>,
    pub backups: Vec<Arc<BackupCollector>>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Identity(#[from] IdentitySetupError),
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
}

pub fn leptos_options(config: &Config, addr: SocketAddr) -> LeptosOptions {
    // cargo-leptos sets LEPTOS_ENV=DEV while developing (live reload); anything else is production.
    let env = match std::env::var("LEPTOS_ENV").as_deref() {
        Ok("DEV") | Ok("dev") | Ok("development") => Env::DEV,
        _ => Env::PROD,
    };
    LeptosOptions::builder()
        .output_name("signalbox")
        .site_root(config.server.site_root.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .env(env)
        .build()
}

/// Connects storage, starts the collectors and serves on `listener`.
pub async fn start(config: Config, listener: TcpListener) -> Result<Running, StartError> {
    let storage = storage::connect(&config.database).await?;
    start_with_storage(config, listener, storage).await
}

pub async fn start_with_storage(
    config: Config,
    listener: TcpListener,
    storage: SharedStorage,
) -> Result<Running, StartError> {
    let addr = listener.local_addr()?;
    // Refuse to start without single sign-on: there is no anonymous mode.
    let (identity, client_secret) = crate::identity::client_secret(&config).await?;
    let (shutdown, shutdown_rx) = watch::channel(false);

    let mut collectors = Vec::new();
    let mut health = Vec::new();
    let mut backups = Vec::new();
    let mut regional = Vec::new();
    let mut workers = Vec::new();
    let mut runtimes = Vec::new();
    for environment in &config.environments {
        let region = config
            .region_of(environment)
            .unwrap_or_default()
            .to_string();
        let aws = EnvironmentAws::connect(&config, environment).await;
        let health_collector = HealthCollector::new(
            environment.clone(),
            aws.clone(),
            config.aws.poll_interval,
            config.health_rules.clone(),
            config.slo.clone(),
        );
        workers.push(tokio::spawn(
            health_collector.clone().run(shutdown_rx.clone()),
        ));
        health.push(health_collector.clone());
        let backup_collector = BackupCollector::new(
            environment.clone(),
            aws.clone(),
            storage.clone(),
            config.backups.clone(),
        );
        workers.push(tokio::spawn(
            backup_collector.clone().run(shutdown_rx.clone()),
        ));
        backups.push((region.clone(), backup_collector.clone()));
        runtimes.push(crate::engine::EnvironmentRuntime {
            config: environment.clone(),
            region: region.clone(),
            aws: aws.clone(),
            health: health_collector.clone(),
            backups: backup_collector,
        });
        let collector = TopologyCollector::new(
            environment.clone(),
            aws,
            storage.clone(),
            config.aws.poll_interval,
        );
        workers.push(tokio::spawn(collector.clone().run(shutdown_rx.clone())));
        regional.push((region, collector.clone()));
        collectors.push(collector);
    }

    let engine = crate::engine::Engine::new(
        storage.clone(),
        config.backups.block_production_deploys,
        config.engine.clone(),
        config.health_rules.clone(),
        runtimes,
        crate::notify::Notifier::start(config.notifications.clone()),
        config.server.public_url.clone(),
    );
    workers.extend(engine.spawn_workers(shutdown_rx.clone()));

    workers.push(tokio::spawn(delete_expired_sessions(
        storage.clone(),
        shutdown_rx.clone(),
    )));

    let gate = Gate::new(
        Oidc::new(identity, client_secret),
        storage.clone(),
        config.security.clone(),
        &config.server.public_url,
    );
    let state = AppState::new(AppParts {
        leptos_options: leptos_options(&config, addr),
        services: Services {
            overview: Arc::new(CollectedOverview::new(regional, health.clone())),
            audit: Arc::new(StoredAudit::new(storage.clone())),
            tokens: Arc::new(StoredTokens::new(storage.clone())),
            health: Arc::new(CollectedHealth::new(health.clone())),
            backups: Arc::new(CollectedBackups::new(backups.clone(), storage.clone())),
            releases: Arc::new(crate::engine::service::EngineReleases::new(engine.clone())),
        },
        storage: storage.clone(),
        gate: Arc::new(gate),
        live: crate::http::live::LiveSources {
            topology: collectors.clone(),
            health: health.clone(),
            backups: backups.iter().map(|(_, c)| c.clone()).collect(),
            engine: Some(engine.clone()),
        },
        render_slots: config.server.render_slots,
    });
    let mut server_shutdown = shutdown_rx.clone();
    let server = tokio::spawn(serve(listener, state, async move {
        let _ = server_shutdown.wait_for(|stop| *stop).await;
    }));
    tracing::info!(%addr, environments = config.environments.len(), database = ?storage.backend(), "Signalbox listening");
    Ok(Running {
        addr,
        engine,
        storage,
        collectors,
        health,
        backups: backups.into_iter().map(|(_, c)| c).collect(),
        shutdown,
        server,
        workers,
    })
}

/// Expired sessions are removed from the database every ten minutes.
async fn delete_expired_sessions(storage: SharedStorage, mut shutdown: watch::Receiver<bool>) {
    use tower_sessions::ExpiredDeletion;
    let store = storage.session_store();
    loop {
        if let Err(error) = store.delete_expired().await {
            tracing::warn!(%error, "could not delete expired sessions");
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

impl Running {
    /// Stops accepting requests, lets those in flight finish, stops the collectors.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        for worker in self.workers {
            let _ = worker.await;
        }
        self.server
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }

    /// Waits until the server ends by itself (it does not, unless it fails).
    pub async fn wait(&mut self) -> std::io::Result<()> {
        (&mut self.server)
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}
