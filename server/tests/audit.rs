//! The audit trail's storage on both backends: appends seal a chain, pages are keyset and filtered, a state change
//! and its event commit together, and the verifier finds a modified, a deleted and a reordered row.

mod support;

use app::dto::{AuditRecord, Outcome};
use server::storage::{self, ApiTokenRow, AuditQuery, SharedStorage};
use std::future::Future;
use time::OffsetDateTime;

/// Raw access to the same database, to do what an attacker with SQL access would.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn exec(&self, sql: &str) {
        match self {
            Raw::Sqlite(pool) => {
                sqlx::raw_sql(sql).execute(pool).await.expect(sql);
            }
            Raw::Postgres(pool) => {
                sqlx::raw_sql(sql).execute(pool).await.expect(sql);
            }
        }
    }
}

use support::database_config as config;

async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(SharedStorage, Raw) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("audit.db").display()
    );
    let store = storage::connect(&config(&url)).await.expect("sqlite store");
    let raw = Raw::Sqlite(sqlx::SqlitePool::connect(&url).await.unwrap());
    test(store, raw).await;
}

async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(SharedStorage, Raw) -> Fut,
    Fut: Future<Output = ()>,
{
    let database = support::postgres::create_database().await;
    let store = storage::connect(&config(&database.url))
        .await
        .expect("postgres store");
    let raw_pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    test(store, Raw::Postgres(raw_pool.clone())).await;
    raw_pool.close().await;
    support::postgres::drop_database(&database).await;
}

macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() {
                on_sqlite($body).await;
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn postgres() {
                on_postgres($body).await;
            }
        }
    };
}

fn record(actor: &str, action: &str, environment: Option<&str>) -> AuditRecord {
    AuditRecord {
        actor: actor.into(),
        actor_kind: "user".into(),
        authority: "approver".into(),
        action: action.into(),
        target: "production/api".into(),
        environment: environment.map(str::to_string),
        parameters: r#"{"to":"green"}"#.into(),
        outcome: Outcome::Allowed,
        reason: String::new(),
        request_id: "req".into(),
        client_addr: "127.0.0.1".into(),
    }
}

async fn append(store: &SharedStorage, n: usize) {
    for i in 0..n {
        let actor = if i % 2 == 0 { "rita" } else { "eddie" };
        let environment = if i % 3 == 0 {
            Some("production")
        } else {
            Some("staging")
        };
        store
            .append_audit(
                &record(actor, &format!("deploy.step{}", i % 4), environment)
                    .target(format!("deployment/dep-{}", i % 5)),
            )
            .await
            .unwrap();
    }
}

on_both!(
    appends_form_one_chain_and_pages_are_filtered_keyset,
    |store: SharedStorage, _raw: Raw| async move {
        append(&store, 30).await;
        let report = server::audit::verify(&store).await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.events, 30);

        let all = AuditQuery::default();
        let first = store.audit_page(&all, None, 10).await.unwrap();
        assert_eq!(
            first.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (21..=30).rev().collect::<Vec<_>>()
        );
        let second = store.audit_page(&all, Some(21), 10).await.unwrap();
        assert_eq!(second.first().unwrap().seq, 20);

        let rita = AuditQuery {
            actor: Some("rita".into()),
            ..Default::default()
        };
        let events = store.audit_page(&rita, None, 100).await.unwrap();
        assert_eq!(events.len(), 15);
        assert!(events.iter().all(|e| e.record.actor == "rita"));

        // An action filter is a prefix at a dot: "deploy" matches deploy.step0, "deploy.step1" only itself.
        let deploy = AuditQuery {
            action: Some("deploy".into()),
            ..Default::default()
        };
        assert_eq!(
            store.audit_page(&deploy, None, 100).await.unwrap().len(),
            30
        );
        let step1 = AuditQuery {
            action: Some("deploy.step1".into()),
            ..Default::default()
        };
        assert!(store
            .audit_page(&step1, None, 100)
            .await
            .unwrap()
            .iter()
            .all(|e| e.record.action == "deploy.step1"));

        let production = AuditQuery {
            environment: Some("production".into()),
            ..Default::default()
        };
        assert_eq!(
            store
                .audit_page(&production, None, 100)
                .await
                .unwrap()
                .len(),
            10
        );

        // Filters combine, and a cursor pages within them: rita's production deploy.step0 events are every
        // twelfth (seq 1, 13, 25).
        let combined = AuditQuery {
            actor: Some("rita".into()),
            action: Some("deploy.step0".into()),
            environment: Some("production".into()),
            ..Default::default()
        };
        let seqs =
            |events: Vec<app::dto::AuditEvent>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(
            seqs(store.audit_page(&combined, None, 100).await.unwrap()),
            [25, 13, 1]
        );
        assert_eq!(
            seqs(store.audit_page(&combined, Some(25), 100).await.unwrap()),
            [13, 1]
        );
        let with_target = AuditQuery {
            target: Some("deployment/dep-2".into()),
            ..combined
        };
        assert_eq!(
            seqs(store.audit_page(&with_target, None, 100).await.unwrap()),
            [13]
        );

        // A target filter is exact: dep-1 is not dep-10.
        let one_deployment = AuditQuery {
            target: Some("deployment/dep-1".into()),
            ..Default::default()
        };
        let events = store.audit_page(&one_deployment, None, 100).await.unwrap();
        assert_eq!(events.len(), 6);
        assert!(events.iter().all(|e| e.record.target == "deployment/dep-1"));

        let future = server::audit::chain::canonical_time(
            OffsetDateTime::now_utc() + time::Duration::hours(1),
        );
        let later = AuditQuery {
            from: Some(future.clone()),
            ..Default::default()
        };
        assert!(store
            .audit_page(&later, None, 100)
            .await
            .unwrap()
            .is_empty());
        let before_future = AuditQuery {
            until: Some(future),
            ..Default::default()
        };
        assert_eq!(
            store
                .audit_page(&before_future, None, 100)
                .await
                .unwrap()
                .len(),
            30
        );
    }
);

on_both!(
    concurrent_appends_from_many_tasks_keep_one_unbroken_chain,
    |store: SharedStorage, _raw: Raw| async move {
        let tasks: Vec<_> = (0..4)
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..15 {
                        store
                            .append_audit(&record(&format!("task{t}"), &format!("x.{i}"), None))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let report = server::audit::verify(&store).await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.events, 60);
    }
);

on_both!(
    the_verifier_finds_a_modified_row,
    |store: SharedStorage, raw: Raw| async move {
        append(&store, 10).await;
        raw.exec("UPDATE audit_events SET parameters = '{\"to\":\"blue\"}' WHERE seq = 4")
            .await;
        let report = server::audit::verify(&store).await.unwrap();
        let broken = report.broken.expect("a modified row is found");
        assert_eq!(broken.seq, 4);
        assert!(broken.problem.contains("modified"), "{}", broken.problem);
    }
);

on_both!(
    the_verifier_finds_a_deleted_row,
    |store: SharedStorage, raw: Raw| async move {
        append(&store, 10).await;
        raw.exec("DELETE FROM audit_events WHERE seq = 6").await;
        let broken = server::audit::verify(&store)
            .await
            .unwrap()
            .broken
            .expect("a deleted row is found");
        assert_eq!(broken.seq, 6);
        assert!(broken.problem.contains("missing"), "{}", broken.problem);

        // Renumbering the rows after the deletion does not hide it: the next event no longer links.
        raw.exec("UPDATE audit_events SET seq = seq - 1 WHERE seq > 6")
            .await;
        let broken = server::audit::verify(&store)
            .await
            .unwrap()
            .broken
            .expect("still found");
        assert_eq!(broken.seq, 6);
    }
);

on_both!(
    the_verifier_finds_reordered_rows,
    |store: SharedStorage, raw: Raw| async move {
        append(&store, 10).await;
        // Swap events 3 and 4 by exchanging their seq numbers.
        raw.exec("UPDATE audit_events SET seq = -3 WHERE seq = 3")
            .await;
        raw.exec("UPDATE audit_events SET seq = 3 WHERE seq = 4")
            .await;
        raw.exec("UPDATE audit_events SET seq = 4 WHERE seq = -3")
            .await;
        let broken = server::audit::verify(&store)
            .await
            .unwrap()
            .broken
            .expect("reordering is found");
        assert_eq!(broken.seq, 3);
    }
);

fn token(id: &str) -> ApiTokenRow {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    ApiTokenRow {
        id: id.into(),
        name: "ci".into(),
        scopes: "read".into(),
        secret_hash: format!("hash-{id}"),
        created_by: "ada".into(),
        created_at: now,
        expires_at: now + time::Duration::days(30),
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
    }
}

on_both!(
    a_state_change_and_its_audit_event_commit_or_fail_together,
    |store: SharedStorage, _raw: Raw| async move {
        store
            .insert_api_token(&token("t1"), &record("ada", "token.create", None))
            .await
            .unwrap();
        assert_eq!(store.audit_chain(0, 100).await.unwrap().len(), 1);

        // The same id again violates the primary key: neither the token nor its event is written.
        let error = store
            .insert_api_token(&token("t1"), &record("ada", "token.create", None))
            .await;
        assert!(error.is_err());
        assert_eq!(
            store.audit_chain(0, 100).await.unwrap().len(),
            1,
            "no event without its change"
        );
        assert_eq!(store.api_tokens().await.unwrap().len(), 1);

        let now = OffsetDateTime::now_utc();
        let revoked = store
            .revoke_api_token("t1", "ada", now, &record("ada", "token.revoke", None))
            .await
            .unwrap()
            .expect("token exists");
        assert_eq!(revoked.revoked_by.as_deref(), Some("ada"));
        assert!(store
            .revoke_api_token("nope", "ada", now, &record("ada", "token.revoke", None))
            .await
            .unwrap()
            .is_none());
        let actions: Vec<_> = store
            .audit_chain(0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.record.action)
            .collect();
        assert_eq!(
            actions,
            ["token.create", "token.revoke"],
            "an unknown token's revocation writes nothing"
        );

        let found = store
            .api_token_by_secret_hash("hash-t1")
            .await
            .unwrap()
            .unwrap();
        assert!(found.revoked_at.is_some());
        store.touch_api_token("t1", now).await.unwrap();
        let touched = store
            .api_token_by_secret_hash("hash-t1")
            .await
            .unwrap()
            .unwrap();
        assert!(touched.last_used_at.is_some());
    }
);

fn drill(environment: &str, days_ago: i64, snapshot: &str) -> server::storage::DrillRow {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    server::storage::DrillRow {
        id: 0,
        environment: environment.into(),
        performed_at: now - time::Duration::days(days_ago),
        performed_by: "eddie".into(),
        snapshot: snapshot.into(),
        duration_minutes: 42,
        passed: true,
        notes: "row counts match".into(),
        recorded_by: "eddie".into(),
        recorded_at: now,
    }
}

on_both!(
    a_restore_drill_and_its_audit_event_commit_together,
    |store: SharedStorage, _raw: Raw| async move {
        let older = store
            .insert_drill(
                &drill("production", 40, "db-pre-deploy"),
                &record("eddie", "backups.drill", Some("production")),
            )
            .await
            .unwrap();
        let newer = store
            .insert_drill(
                &drill("production", 3, "rds:db-2026-11-26"),
                &record("eddie", "backups.drill", Some("production")),
            )
            .await
            .unwrap();
        store
            .insert_drill(
                &drill("staging", 1, "stg"),
                &record("eddie", "backups.drill", Some("staging")),
            )
            .await
            .unwrap();
        let production = store.drills("production", 10).await.unwrap();
        assert_eq!(
            production.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![newer, older],
            "newest performed first, one environment only"
        );
        assert_eq!(
            production[0],
            server::storage::DrillRow {
                id: newer,
                ..drill("production", 3, "rds:db-2026-11-26")
            }
        );
        // An empty snapshot name violates the table's check: neither the drill nor its event is written.
        let events = store.audit_chain(0, 100).await.unwrap().len();
        assert!(store
            .insert_drill(
                &drill("production", 0, ""),
                &record("eddie", "backups.drill", Some("production")),
            )
            .await
            .is_err());
        assert_eq!(store.audit_chain(0, 100).await.unwrap().len(), events);
        assert_eq!(store.drills("production", 10).await.unwrap().len(), 2);
    }
);

on_both!(
    a_time_range_reads_exactly_its_events_and_a_lagging_clock_never_turns_time_back,
    |store: SharedStorage, raw: Raw| async move {
        append(&store, 30).await;
        let all = store.audit_chain(0, 1000).await.unwrap();
        let (from, until) = (all[9].occurred_at.clone(), all[20].occurred_at.clone());
        let staging_in_range = |e: &&app::dto::AuditEvent| {
            e.occurred_at >= from
                && e.occurred_at < until
                && e.record.environment.as_deref() == Some("staging")
        };
        let mut expected: Vec<i64> = all.iter().filter(staging_in_range).map(|e| e.seq).collect();
        expected.reverse();
        let query = AuditQuery {
            environment: Some("staging".into()),
            from: Some(from.clone()),
            until: Some(until.clone()),
            ..Default::default()
        };
        // Two pages of 4, then the rest: exactly the staging events of the range, newest first.
        let mut got = Vec::new();
        let mut before = None;
        loop {
            let page = store.audit_page(&query, before, 4).await.unwrap();
            got.extend(page.iter().map(|e| e.seq));
            match page.last() {
                Some(last) if page.len() == 4 => before = Some(last.seq),
                _ => break,
            }
        }
        assert!(!expected.is_empty());
        assert_eq!(got, expected);

        // An event stamped an hour ahead (another replica's clock): the next append keeps its time, not earlier.
        let last = all.last().unwrap();
        let ahead = OffsetDateTime::now_utc() + time::Duration::hours(1);
        let event = server::audit::chain::seal(
            record("clock", "clock.ahead", None),
            Some((last.seq, last.hash.clone())),
            ahead,
        );
        let r = &event.record;
        raw.exec(&format!(
            "INSERT INTO audit_events (seq, occurred_at, actor, actor_kind, authority, action, target, environment,
             parameters, outcome, reason, request_id, client_addr, prev_hash, hash)
             VALUES ({}, '{}', '{}', '{}', '{}', '{}', '{}', NULL, '{}', '{}', '{}', '{}', '{}', '{}', '{}')",
            event.seq, event.occurred_at, r.actor, r.actor_kind, r.authority, r.action, r.target, r.parameters,
            r.outcome.as_str(), r.reason, r.request_id, r.client_addr, event.prev_hash, event.hash
        ))
        .await;
        let next = store
            .append_audit(&record("rita", "after.ahead", None))
            .await
            .unwrap();
        assert_eq!(next.occurred_at, event.occurred_at);
        assert!(server::audit::verify(&store).await.unwrap().is_intact());
        let from_ahead = AuditQuery {
            from: Some(event.occurred_at.clone()),
            ..Default::default()
        };
        let seqs: Vec<i64> = store
            .audit_page(&from_ahead, None, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [next.seq, event.seq]);
    }
);
