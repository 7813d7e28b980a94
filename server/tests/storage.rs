//! One storage conformance suite, run against both backends: SQLite in a temporary file and PostgreSQL at
//! 127.0.0.1:5432 (a missing server fails the run).

mod support;

use server::config::DatabaseConfig;
use server::secret::DatabaseUrl;
use server::storage::{self, Backend, SharedStorage, TopologyChange, TopologySnapshot};
use std::future::Future;
use std::time::Duration;
use time::macros::datetime;

use support::database_config as config;

async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(SharedStorage) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("tempdir");
    // A nested directory that does not exist yet: the store creates it on first start.
    let path = dir.path().join("data/nested/signalbox.db");
    let store = storage::connect(&config(&format!("sqlite://{}?mode=rwc", path.display())))
        .await
        .expect("sqlite store");
    assert_eq!(store.backend(), Backend::Sqlite);
    test(store).await;
}

async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(SharedStorage) -> Fut,
    Fut: Future<Output = ()>,
{
    let database = support::postgres::create_database().await;
    let store = storage::connect(&config(&database.url))
        .await
        .expect("postgres store");
    assert_eq!(store.backend(), Backend::Postgres);
    test(store).await;
    support::postgres::drop_database(&database).await;
}

/// Declares `name` as two tests, one per backend, sharing one body.
macro_rules! conformance {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                on_sqlite($body).await;
            }
            #[tokio::test]
            async fn postgres() {
                on_postgres($body).await;
            }
        }
    };
}

fn snapshot(environment: &str, payload: &str, at: time::OffsetDateTime) -> TopologySnapshot {
    TopologySnapshot {
        environment: environment.into(),
        observed_at: at,
        payload: payload.into(),
    }
}

fn change(
    environment: &str,
    field: &str,
    before: &str,
    after: &str,
    at: time::OffsetDateTime,
) -> TopologyChange {
    TopologyChange {
        environment: environment.into(),
        service: "api".into(),
        field: field.into(),
        before: Some(before.into()),
        after: Some(after.into()),
        observed_at: at,
    }
}

conformance!(
    migrations_are_applied_and_reported,
    |store: SharedStorage| async move {
        store.ping().await.expect("ping");
        let status = store.schema_status().await.expect("schema status");
        assert!(status.expected >= 1, "{status:?}");
        assert_eq!(status.applied, status.expected, "{status:?}");
        assert!(status.is_current());
    }
);

conformance!(
    snapshots_round_trip_and_replace,
    |store: SharedStorage| async move {
        assert_eq!(store.latest_topology("production").await.unwrap(), None);
        let first = snapshot(
            "production",
            r#"[{"name":"api"}]"#,
            datetime!(2026-11-28 10:00:00.123 UTC),
        );
        store.record_topology(&first, &[]).await.unwrap();
        assert_eq!(
            store.latest_topology("production").await.unwrap(),
            Some(first)
        );

        let second = snapshot(
            "production",
            r#"[{"name":"api","v":2}]"#,
            datetime!(2026-11-28 10:00:15 UTC),
        );
        store.record_topology(&second, &[]).await.unwrap();
        assert_eq!(
            store.latest_topology("production").await.unwrap(),
            Some(second.clone())
        );
        // Environments are independent.
        assert_eq!(store.latest_topology("staging").await.unwrap(), None);
        let other = snapshot("staging", "[]", datetime!(2026-11-28 10:00:16 UTC));
        store.record_topology(&other, &[]).await.unwrap();
        assert_eq!(
            store.latest_topology("production").await.unwrap(),
            Some(second)
        );
    }
);

conformance!(
    changes_are_appended_newest_first_per_environment,
    |store: SharedStorage| async move {
        let t1 = datetime!(2026-11-28 10:00:00 UTC);
        let t2 = datetime!(2026-11-28 10:05:00 UTC);
        store
            .record_topology(
                &snapshot("production", "[]", t1),
                &[change("production", "live_colour", "blue", "green", t1)],
            )
            .await
            .unwrap();
        store
            .record_topology(
                &snapshot("production", "[]", t2),
                &[
                    change("production", "live_colour", "green", "blue", t2),
                    change("production", "green.task_definition", "api:7", "api:8", t2),
                ],
            )
            .await
            .unwrap();
        store
            .record_topology(
                &snapshot("staging", "[]", t2),
                &[change("staging", "live_colour", "blue", "green", t2)],
            )
            .await
            .unwrap();

        let changes = store.topology_changes("production", 10).await.unwrap();
        let fields: Vec<_> = changes
            .iter()
            .map(|c| (c.field.as_str(), c.after.as_deref().unwrap()))
            .collect();
        assert_eq!(
            fields,
            [
                ("green.task_definition", "api:8"),
                ("live_colour", "blue"),
                ("live_colour", "green")
            ]
        );
        assert_eq!(changes[0].observed_at, t2);
        assert_eq!(
            store.topology_changes("production", 1).await.unwrap().len(),
            1
        );
        assert_eq!(
            store.topology_changes("staging", 10).await.unwrap().len(),
            1
        );
    }
);

conformance!(
    a_failed_write_leaves_nothing_half_written,
    |store: SharedStorage| async move {
        let t = datetime!(2026-11-28 11:00:00 UTC);
        store
            .record_topology(&snapshot("production", "old", t), &[])
            .await
            .unwrap();
        // The second change breaks the schema's CHECK (an empty field name): the whole write must roll back.
        let bad = change("production", "", "blue", "green", t);
        let result = store
            .record_topology(
                &snapshot("production", "new", t),
                &[
                    change("production", "blue.task_definition", "api:1", "api:2", t),
                    bad,
                ],
            )
            .await;
        assert!(result.is_err(), "an empty field name must be refused");
        let kept = store.latest_topology("production").await.unwrap().unwrap();
        assert_eq!(kept.payload, "old");
        assert!(store
            .topology_changes("production", 10)
            .await
            .unwrap()
            .is_empty());
    }
);

conformance!(
    concurrent_writers_do_not_lose_changes,
    |store: SharedStorage| async move {
        let t = datetime!(2026-11-28 12:00:00 UTC);
        let writers = (0..8).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .record_topology(
                        &snapshot("production", &format!("payload {i}"), t),
                        &[change(
                            "production",
                            "live_colour",
                            "blue",
                            &format!("green-{i}"),
                            t,
                        )],
                    )
                    .await
            })
        });
        for writer in futures::future::join_all(writers).await {
            writer.expect("task").expect("write");
        }
        assert_eq!(
            store
                .topology_changes("production", 100)
                .await
                .unwrap()
                .len(),
            8
        );
        let payload = store
            .latest_topology("production")
            .await
            .unwrap()
            .unwrap()
            .payload;
        assert!(payload.starts_with("payload "), "{payload}");
    }
);

#[tokio::test]
async fn a_failing_migration_stops_start_up_with_a_clear_message() {
    // A database whose migration history claims a version this binary has with different contents: sqlx refuses
    // to run on it, and so must start-up.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signalbox.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    storage::connect(&config(&url)).await.expect("first start");
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = 1")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let error = match storage::connect(&config(&url)).await {
        Ok(_) => panic!("start-up must fail on a tampered migration history"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("migration"), "{error}");
}

#[tokio::test]
async fn an_unreachable_postgres_is_a_clear_error() {
    let error = match storage::connect(&DatabaseConfig {
        url: DatabaseUrl::new("postgres://signalbox:pw@127.0.0.1:9/signalbox"),
        pool_size: 1,
        pool_timeout: Duration::from_secs(2),
    })
    .await
    {
        Ok(_) => panic!("nothing listens on port 9"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("cannot connect to the database"), "{error}");
    assert!(
        !error.contains(":pw@"),
        "the password must not appear: {error}"
    );
}

/// A new session record that expires `expires_in` from now.
fn session_record(expires_in: time::Duration) -> tower_sessions::session::Record {
    tower_sessions::session::Record {
        id: Default::default(),
        data: Default::default(),
        expiry_date: time::OffsetDateTime::now_utc() + expires_in,
    }
}

// Sessions: what a page view reads back is what was last written, and a deleted or expired session is gone. With
// SQLite the store keeps the sessions in use in memory; these are the database's answers all the same.
conformance!(
    sessions_read_back_what_was_written,
    |store: SharedStorage| async move {
        use tower_sessions::session::Id;
        use tower_sessions::SessionStore;
        let sessions = store.session_store();
        let mut record = session_record(time::Duration::hours(1));
        record
            .data
            .insert("state".into(), serde_json::json!("pending"));
        sessions.create(&mut record).await.expect("create");
        let loaded = sessions
            .load(&record.id)
            .await
            .expect("load")
            .expect("created");
        assert_eq!(loaded.data["state"], "pending");

        record.data.insert("user".into(), serde_json::json!("vera"));
        sessions.save(&record).await.expect("save");
        let loaded = sessions
            .load(&record.id)
            .await
            .expect("load")
            .expect("saved");
        assert_eq!(loaded.data["user"], "vera");

        assert!(sessions.load(&Id::default()).await.expect("load").is_none());

        sessions.delete(&record.id).await.expect("delete");
        assert!(sessions.load(&record.id).await.expect("load").is_none());

        let mut expired = session_record(time::Duration::seconds(-1));
        sessions.create(&mut expired).await.expect("create");
        assert!(sessions.load(&expired.id).await.expect("load").is_none());
    }
);
