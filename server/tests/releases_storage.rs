//! Releases and deployments in storage, on SQLite and PostgreSQL: a lease is held by one worker at a time
//! however many race for it, a stale writer writes nothing, one deployment per environment and service is
//! active (the database says so), the requester's own approval is refused by the SQL itself, and history
//! pages by key.

mod support;

use app::dto::{AuditRecord, Outcome};
use server::storage::{
    self, ApprovalRow, Commit, CommitOutcome, DeploymentQuery, DeploymentRow, ReleaseRow,
    SharedStorage,
};
use std::collections::HashSet;
use std::future::Future;
use time::OffsetDateTime;

async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(SharedStorage) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signalbox.db");
    let store = storage::connect(&support::database_config(&format!(
        "sqlite://{}?mode=rwc",
        path.display()
    )))
    .await
    .unwrap();
    test(store).await;
}

async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(SharedStorage) -> Fut,
    Fut: Future<Output = ()>,
{
    let database = support::postgres::create_database().await;
    let store = storage::connect(&support::database_config(&database.url))
        .await
        .unwrap();
    test(store).await;
    support::postgres::drop_database(&database).await;
}

macro_rules! conformance {
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

fn audit(action: &str) -> AuditRecord {
    AuditRecord {
        actor: "test".into(),
        actor_kind: "user".into(),
        authority: "deployer".into(),
        action: action.into(),
        target: String::new(),
        environment: None,
        parameters: "{}".into(),
        outcome: Outcome::Allowed,
        reason: String::new(),
        request_id: String::new(),
        client_addr: String::new(),
    }
}

async fn release(store: &SharedStorage, version: &str) -> ReleaseRow {
    let row = ReleaseRow {
        seq: 0,
        id: format!("rel-{version}"),
        service: "api".into(),
        version: version.into(),
        image: format!("accunode-api:{version}"),
        digest: None,
        commit_sha: "4f2a9c1d".into(),
        notes: String::new(),
        ticket_url: None,
        change: "{}".into(),
        registered_by: "ci".into(),
        registered_at: OffsetDateTime::now_utc(),
    };
    let (stored, created) = store
        .insert_release(&row, &audit("releases.register"))
        .await
        .unwrap();
    assert!(created);
    stored
}

fn deployment(
    id: &str,
    environment: &str,
    service: &str,
    release: &str,
    state: &str,
) -> DeploymentRow {
    let now = OffsetDateTime::now_utc();
    DeploymentRow {
        seq: 0,
        id: id.into(),
        environment: environment.into(),
        service: service.into(),
        release_id: release.into(),
        state: state.into(),
        ending: None,
        paused: false,
        from_colour: "blue".into(),
        to_colour: "green".into(),
        requested_by: "eddie".into(),
        requested_by_name: "Eddie".into(),
        requested_at: now,
        approvals_required: 1,
        plan: "{}".into(),
        reason: None,
        outcome: None,
        break_glass: None,
        next_run_at: 0,
        lease_owner: None,
        lease_until: None,
        lease_epoch: 0,
        version: 0,
        updated_at: now,
        finished_at: None,
        release_version: None,
    }
}

fn commit(row: DeploymentRow) -> Commit {
    Commit {
        row,
        steps: Vec::new(),
        approval: None,
        aws_calls: Vec::new(),
        audit: vec![audit("deployment.test")],
    }
}

conformance!(
    each_due_deployment_is_claimed_by_one_worker_and_a_stale_writer_writes_nothing,
    |store: SharedStorage| async move {
        let rel = release(&store, "1.0.0").await;
        for i in 0..24 {
            let row = deployment(
                &format!("dep-{i}"),
                &format!("env-{i}"),
                "api",
                &rel.id,
                "queued",
            );
            store
                .insert_deployment(&row, &[], &audit("deployments.request"))
                .await
                .unwrap();
        }
        let now = 1_000_000_000_000i64;
        let mut tasks = Vec::new();
        for worker in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(id) = store
                    .claim(&format!("worker-{worker}"), now, 60_000)
                    .await
                    .unwrap()
                {
                    mine.push(id);
                }
                mine
            }));
        }
        let mut claimed = Vec::new();
        for task in tasks {
            claimed.extend(task.await.unwrap());
        }
        let unique: HashSet<&String> = claimed.iter().collect();
        assert_eq!(claimed.len(), 24, "{claimed:?}");
        assert_eq!(
            unique.len(),
            24,
            "a deployment was claimed twice: {claimed:?}"
        );
        // Leased: nobody claims again until the lease runs out; then someone does, with a higher epoch.
        assert_eq!(store.claim("late", now + 1000, 60_000).await.unwrap(), None);
        let before = store.deployment("dep-0").await.unwrap().unwrap();
        let again = store.claim("late", now + 61_000, 60_000).await.unwrap();
        assert!(again.is_some());
        let taken = store
            .deployment(again.as_deref().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(taken.lease_owner.as_deref(), Some("late"));
        assert_eq!(taken.lease_epoch, 2);
        // The first owner's write, based on the version it read, is refused and changes nothing.
        if taken.id == before.id {
            let mut stale = before.clone();
            stale.state = "snapshot".into();
            assert_eq!(
                store.commit(&commit(stale)).await.unwrap(),
                CommitOutcome::Stale
            );
            assert_eq!(
                store.deployment("dep-0").await.unwrap().unwrap().state,
                "queued"
            );
        }
        let mut stale = taken.clone();
        stale.version -= 1;
        stale.state = "snapshot".into();
        assert_eq!(
            store.commit(&commit(stale)).await.unwrap(),
            CommitOutcome::Stale
        );
        let events = store.audit_chain(0, 1000).await.unwrap();
        assert!(
            !events.iter().any(|e| e.record.action == "deployment.test"),
            "a refused commit left its event"
        );
    }
);

conformance!(
    one_deployment_per_environment_and_service_is_active,
    |store: SharedStorage| async move {
        let rel = release(&store, "1.0.0").await;
        for (id, service) in [("a", "api"), ("b", "api"), ("c", "worker")] {
            let row = deployment(id, "production", service, &rel.id, "queued");
            store
                .insert_deployment(&row, &[], &audit("deployments.request"))
                .await
                .unwrap();
        }
        let start = |id: &'static str| {
            let store = store.clone();
            async move {
                let mut row = store.deployment(id).await.unwrap().unwrap();
                row.state = "snapshot".into();
                store.commit(&commit(row)).await.unwrap()
            }
        };
        assert_eq!(start("a").await, CommitOutcome::Committed);
        assert_eq!(start("b").await, CommitOutcome::LaneBusy);
        assert_eq!(
            start("c").await,
            CommitOutcome::Committed,
            "another service has its own lane"
        );
        assert_eq!(
            store.deployment("b").await.unwrap().unwrap().state,
            "queued"
        );
        let lane = store.lane("production", "api").await.unwrap();
        assert_eq!(
            lane.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        // Once the first is done, the second may start.
        let mut first = store.deployment("a").await.unwrap().unwrap();
        first.state = "done".into();
        assert_eq!(
            store.commit(&commit(first)).await.unwrap(),
            CommitOutcome::Committed
        );
        assert_eq!(start("b").await, CommitOutcome::Committed);
    }
);

conformance!(
    the_requester_cannot_approve_their_own_deployment_even_past_the_service,
    |store: SharedStorage| async move {
        let rel = release(&store, "1.0.0").await;
        let row = deployment("d", "production", "api", &rel.id, "requested");
        let stored = store
            .insert_deployment(&row, &[], &audit("deployments.request"))
            .await
            .unwrap();
        let now = OffsetDateTime::now_utc();
        let approval = |actor: &str| ApprovalRow {
            deployment_id: "d".into(),
            actor: actor.into(),
            actor_name: actor.into(),
            decision: "approve".into(),
            reason: String::new(),
            decided_at: now,
            expires_at: now + time::Duration::hours(24),
        };
        let mut approved = stored.clone();
        approved.state = "queued".into();
        let mut own = commit(approved.clone());
        own.approval = Some(approval("eddie"));
        assert_eq!(
            store.commit(&own).await.unwrap(),
            CommitOutcome::SelfApproval
        );
        assert_eq!(
            store.deployment("d").await.unwrap().unwrap().state,
            "requested"
        );
        assert!(store.approvals("d").await.unwrap().is_empty());
        let mut other = commit(approved);
        other.approval = Some(approval("rita"));
        assert_eq!(
            store.commit(&other).await.unwrap(),
            CommitOutcome::Committed
        );
        assert_eq!(store.approvals("d").await.unwrap().len(), 1);
    }
);

conformance!(
    history_pages_by_key_with_filters,
    |store: SharedStorage| async move {
        let rel = release(&store, "1.0.0").await;
        for i in 0..30 {
            let environment = if i % 3 == 0 { "staging" } else { "production" };
            let state = if i % 2 == 0 { "done" } else { "rolled_back" };
            let row = deployment(&format!("d{i:02}"), environment, "api", &rel.id, state);
            store
                .insert_deployment(&row, &[], &audit("deployments.request"))
                .await
                .unwrap();
        }
        let query = DeploymentQuery {
            environment: Some("production".into()),
            state: Some("done".into()),
            ..Default::default()
        };
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = store.deployments(&query, before, 4).await.unwrap();
            if page.is_empty() {
                break;
            }
            // A history page carries the release's version, not the plan.
            assert!(page.iter().all(|d| d.release_version.as_deref()
                == Some(rel.version.as_str())
                && d.plan.is_empty()));
            before = page.last().map(|d| d.seq);
            seen.extend(page.into_iter().map(|d| d.id));
        }
        let expected: Vec<String> = (0..30)
            .rev()
            .filter(|i| i % 3 != 0 && i % 2 == 0)
            .map(|i| format!("d{i:02}"))
            .collect();
        assert_eq!(seen, expected);
        // Every filter of the history, together: the service and release narrow nothing here, an unknown
        // release everything.
        let every_filter = DeploymentQuery {
            service: Some("api".into()),
            release_id: Some(rel.id.clone()),
            ..query.clone()
        };
        let page = store.deployments(&every_filter, None, 100).await.unwrap();
        assert_eq!(page.len(), expected.len());
        let unknown_release = DeploymentQuery {
            release_id: Some("rel-none".into()),
            ..every_filter
        };
        assert!(store
            .deployments(&unknown_release, None, 100)
            .await
            .unwrap()
            .is_empty());
        let releases = store.releases(Some("api"), None, 10).await.unwrap();
        assert_eq!(releases.len(), 1);
        assert_eq!(store.releases(None, None, 10).await.unwrap().len(), 1);
        assert!(store
            .releases(Some("web"), None, 10)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .releases(Some("api"), Some(releases[0].seq), 10)
            .await
            .unwrap()
            .is_empty());
        // The same service and version again: the stored row, nothing written.
        let mut twin = rel.clone();
        twin.id = "rel-other".into();
        let (stored, created) = store
            .insert_release(&twin, &audit("releases.register"))
            .await
            .unwrap();
        assert!(!created);
        assert_eq!(stored.id, rel.id);
    }
);

conformance!(
    a_services_switches_in_a_window_are_its_chart_markers,
    |store: SharedStorage| async move {
        use server::config::Colour;
        use server::engine::plan::{Phase, Step};
        let rel = release(&store, "1.0.0").await;
        let now = OffsetDateTime::now_utc();
        let switch = |id: &str,
                      seq: i32,
                      to: Colour,
                      percent: u8,
                      phase: Phase,
                      done: Option<OffsetDateTime>| {
            let mut row =
                server::engine::record::step_row(id, seq, &Step::Switch { to, percent }, phase);
            if let Some(at) = done {
                row.state = "done".into();
                row.finished_at = Some(at);
            }
            row
        };
        let insert = |id: &'static str, environment: &'static str, steps: Vec<storage::StepRow>| {
            let store = store.clone();
            let rel = rel.id.clone();
            async move {
                let row = deployment(id, environment, "api", &rel, "done");
                store
                    .insert_deployment(&row, &steps, &audit("deployments.request"))
                    .await
                    .unwrap();
            }
        };
        let hours = |h: i64| now - time::Duration::hours(h);
        // Forty days ago: outside the window.
        insert(
            "old",
            "production",
            vec![switch(
                "old",
                0,
                Colour::Green,
                100,
                Phase::Forward,
                Some(hours(960)),
            )],
        )
        .await;
        // Today: 10 %, then all, then rolled back to blue; a pause is not a switch.
        let mut pause =
            server::engine::record::step_row("new", 1, &Step::Pause { secs: 60 }, Phase::Forward);
        pause.state = "done".into();
        pause.finished_at = Some(hours(3));
        insert(
            "new",
            "production",
            vec![
                switch("new", 0, Colour::Green, 10, Phase::Forward, Some(hours(3))),
                pause,
                switch("new", 2, Colour::Green, 100, Phase::Forward, Some(hours(2))),
                switch("new", 3, Colour::Blue, 100, Phase::Rollback, Some(hours(1))),
            ],
        )
        .await;
        // Another environment's switch, and a switch not yet made: not markers here.
        insert(
            "other",
            "staging",
            vec![switch(
                "other",
                0,
                Colour::Green,
                100,
                Phase::Forward,
                Some(hours(1)),
            )],
        )
        .await;
        insert(
            "pending",
            "production",
            vec![switch(
                "pending",
                0,
                Colour::Green,
                100,
                Phase::Forward,
                None,
            )],
        )
        .await;

        let since = now - time::Duration::days(35);
        let markers = store
            .switches("production", "api", since, 500)
            .await
            .unwrap();
        let seen: Vec<(&str, &str, &str)> = markers
            .iter()
            .map(|m| {
                (
                    m.deployment_id.as_str(),
                    m.phase.as_str(),
                    m.release_version.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("new", "forward", "1.0.0"),
                ("new", "forward", "1.0.0"),
                ("new", "rollback", "1.0.0")
            ]
        );
        assert!(
            markers
                .windows(2)
                .all(|w| w[0].finished_at <= w[1].finished_at),
            "oldest first"
        );
        // Only the newest deployments are read: the newest one here has made no switch yet.
        assert!(store
            .switches("production", "api", since, 1)
            .await
            .unwrap()
            .is_empty());
    }
);
