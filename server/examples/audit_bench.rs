//! Prints how fast the audit chain appends (one transaction and chain lock per event, as the console writes
//! them) and how fast the verifier walks it, on SQLite and on PostgreSQL.
//!
//!   cargo run --release -p server --example audit_bench [events]      (default 5000)
//!
//! PostgreSQL: SIGNALBOX_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test (a scratch schema is
//! not used: the bench creates and drops its own database).

use app::dto::{AuditRecord, Outcome};
use server::config::DatabaseConfig;
use server::secret::DatabaseUrl;
use server::storage::SharedStorage;
use sqlx::Executor;
use std::time::{Duration, Instant};

fn record(i: usize) -> AuditRecord {
    AuditRecord {
        actor: format!("user{}", i % 7),
        actor_kind: "user".into(),
        authority: "approver".into(),
        action: "deploy.approve".into(),
        target: "production/api".into(),
        environment: Some("production".into()),
        parameters: format!(r#"{{"release":"v1.2.{i}","from":"blue","to":"green"}}"#),
        outcome: Outcome::Allowed,
        reason: String::new(),
        request_id: format!("{i:032x}"),
        client_addr: "127.0.0.1".into(),
    }
}

async fn run(name: &str, storage: SharedStorage, events: usize) {
    let mut latencies = Vec::with_capacity(events);
    let start = Instant::now();
    for i in 0..events {
        let t = Instant::now();
        storage.append_audit(&record(i)).await.expect("append");
        latencies.push(t.elapsed());
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let start = Instant::now();
    let report = server::audit::verify(&storage).await.expect("verify");
    let verify = start.elapsed();
    assert!(report.is_intact());
    println!(
        "{name:<10} append {events} events: {:>7.0} events/s  p50 {:>6.2} ms  p95 {:>6.2} ms  p99 {:>6.2} ms | verify {:>8.0} events/s ({:.2} s)",
        events as f64 / elapsed.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.95)),
        ms(pct(0.99)),
        report.events as f64 / verify.as_secs_f64(),
        verify.as_secs_f64(),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn config(url: &str) -> DatabaseConfig {
    DatabaseConfig {
        url: DatabaseUrl::new(url),
        pool_size: 5,
        pool_timeout: Duration::from_secs(10),
    }
}

#[tokio::main]
async fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    run(
        "sqlite",
        server::storage::connect(&config(&sqlite)).await.unwrap(),
        events,
    )
    .await;

    let admin = std::env::var("SIGNALBOX_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let pool = sqlx::PgPool::connect(&admin)
        .await
        .expect("PostgreSQL for the bench");
    let name = format!("signalbox_bench_{}", std::process::id());
    pool.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    {
        let storage = server::storage::connect(&config(url.as_str()))
            .await
            .unwrap();
        run("postgres", storage, events).await;
    }
    pool.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
}
