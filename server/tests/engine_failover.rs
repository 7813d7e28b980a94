//! A console process killed mid-switch: replica A has sent ModifyListener and the emulator has applied it, but
//! A dies before the answer arrives (the harness holds it). Replica B, on the same PostgreSQL, takes the lease
//! when it runs out, reads the listener, finds it already on green, records the step as found done and finishes
//! the deployment. Each change reached AWS exactly once. And two replicas sent requests for one service at the same
//! moment: one runs, the other queues; the runner's replica is killed while waiting for green, the other finishes both.

mod support;

use app::dto::{DeploymentDetail, DeploymentState};
use std::time::{Duration, Instant};
use support::api::{admin_token, call as api};
use support::idp::Idp;
use support::moto::{free_port, repo_root, Moto};
use support::replica::{wait_ready, Replica};

/// What both replicas share: one PostgreSQL database, the seeded emulator, production approved on request with a
/// 2-second bake and the old colour kept 1 second, and an IdP that knows both replicas' addresses.
struct Shared {
    database: support::postgres::TestDatabase,
    moto: Moto,
    _dir: tempfile::TempDir,
    config: std::path::PathBuf,
    idp: Idp,
    ports: [u16; 2],
}

impl Shared {
    /// ECS in the emulator settles `ecs_settle_secs` after a change.
    async fn new(ecs_settle_secs: f64) -> Shared {
        let database = support::postgres::create_database().await;
        let moto = Moto::seeded(&repo_root().join("signalbox.example.toml"));
        moto.control(
            "/signalbox-moto/config",
            &format!(r#"{{"backup_settle_secs": 0.3, "ecs_settle_secs": {ecs_settle_secs}}}"#),
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("signalbox.toml");
        let text = std::fs::read_to_string(repo_root().join("signalbox.example.toml"))
            .unwrap()
            .replace("approvals_required = 1 ", "approvals_required = 0 ")
            .replace("bake_secs = 600 ", "bake_secs = 2 ")
            .replace("scale_down_delay_secs = 900 ", "scale_down_delay_secs = 1 ");
        assert!(text.contains("bake_secs = 2 "));
        std::fs::write(&config, text).unwrap();
        let ports = [free_port(), free_port()];
        let idp = Idp::start(&ports.map(|port| format!("http://127.0.0.1:{port}")));
        Shared {
            database,
            moto,
            _dir: dir,
            config,
            idp,
            ports,
        }
    }

    /// Starts replica `index` (0 or 1): the real binary, polling AWS every second, leases of 3 seconds.
    fn start(&self, index: usize) -> Replica {
        Replica::spawn(
            env!("CARGO_BIN_EXE_signalbox"),
            self.ports[index],
            &self.config,
            &self.database.url,
            &self.idp,
            &self.moto,
            &[
                ("SIGNALBOX_POLL_INTERVAL_SECS", "1"),
                ("SIGNALBOX_ENGINE_LEASE_SECS", "3"),
            ],
        )
    }
}

/// Waits (up to 90 s, by the API's long poll) until the deployment is finished or halted.
async fn wait_finished(base: &str, token: &str, id: &str) -> DeploymentDetail {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let waited = api(
            base,
            token,
            reqwest::Method::GET,
            &format!("/api/v1/deployments/{id}/wait?timeout_secs=10"),
            None,
        )
        .await;
        let detail: DeploymentDetail =
            serde_json::from_value(waited["deployment"].clone()).unwrap();
        if detail.summary.state.is_terminal() || detail.summary.state == DeploymentState::Halted {
            return detail;
        }
        assert!(
            Instant::now() < deadline,
            "not finished: {:?}",
            detail.summary
        );
    }
}

async fn register(base: &str, token: &str, version: &str) -> String {
    let release = api(
        base,
        token,
        reqwest::Method::POST,
        "/api/v1/releases",
        Some(serde_json::json!({
            "service": "api", "version": version, "image": format!("accunode-api:{version}")
        })),
    )
    .await;
    release["id"].as_str().unwrap().to_string()
}

async fn request_deploy(base: &str, token: &str, release: &str) -> String {
    let requested = api(
        base,
        token,
        reqwest::Method::POST,
        "/api/v1/deployments",
        Some(serde_json::json!({ "release": release, "environment": "production" })),
    )
    .await;
    requested["summary"]["id"].as_str().unwrap().to_string()
}

/// Starts replica A and has it deploy `version` to production/api while the emulator applies the switch but
/// holds its answer `hold_ms`; returns once the ModifyListener has reached the emulator: A, a CI token, the id.
async fn switch_held(shared: &Shared, version: &str, hold_ms: u64) -> (Replica, String, String) {
    let a = shared.start(0);
    wait_ready(&a.base).await;
    let token = admin_token(&a.base, &["releases:write", "deployments:request", "read"]).await;
    shared.moto.control(
        "/signalbox-moto/faults",
        &format!(
            r#"{{"operation": "ModifyListener", "delay_ms": {hold_ms}, "phase": "after", "count": 1}}"#
        ),
    );
    let _ = shared.moto.aws_requests(true).await;
    let release = register(&a.base, &token, version).await;
    let id = request_deploy(&a.base, &token, &release).await;
    shared
        .moto
        .wait_for_call(
            "elasticloadbalancing:ModifyListener",
            1,
            Duration::from_secs(90),
        )
        .await
        .expect("A switched");
    (a, token, id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_after_aws_applied_the_switch_is_finished_by_another_with_one_listener_change(
) {
    let shared = Shared::new(0.3).await;
    let (database, moto) = (&shared.database, &shared.moto);
    // Replica A sends the ModifyListener; the emulator applies it and holds the answer for 20 s.
    let (mut a, token, id) = switch_held(&shared, "5.0.0", 20_000).await;

    // As soon as the ModifyListener reached the emulator, A dies: SIGKILL, nothing recorded after the call.
    a.child.kill().unwrap();
    a.child.wait().unwrap();

    // B starts on the same database, waits out A's 3-second lease, and finishes.
    let b = shared.start(1);
    wait_ready(&b.base).await;
    let done = wait_finished(&b.base, &token, &id).await;
    assert_eq!(
        done.summary.state,
        DeploymentState::Done,
        "{:?}",
        done.summary.reason
    );

    // The switch step: intent recorded by A, found done by B, no call of its own.
    let switch = done.steps.iter().find(|s| s.kind == "switch").unwrap();
    assert_eq!(switch.applied_by.as_deref(), Some("observed"), "{switch:?}");
    assert!(
        switch.calls.is_empty(),
        "A died before recording its call: {switch:?}"
    );
    assert_eq!(switch.detail, "listener: green 100 %");

    // Exactly one of each change reached AWS.
    let counts = moto.requests_by_operation().await;
    let count = |op: &str| counts.get(op).copied().unwrap_or(0);
    assert_eq!(
        count("elasticloadbalancing:ModifyListener"),
        1,
        "{counts:?}"
    );
    assert_eq!(count("ecs:RegisterTaskDefinition"), 1, "{counts:?}");
    assert_eq!(
        count("ecs:UpdateService"),
        2,
        "deploy green, scale blue down: {counts:?}"
    );
    assert_eq!(count("rds:CreateDBSnapshot"), 1, "{counts:?}");
    assert_eq!(count("elasticache:CreateSnapshot"), 1, "{counts:?}");

    // The lease moved on: a higher epoch, B's name on the last claim; the audit chain is intact.
    let store = server::storage::connect(&support::database_config(&database.url))
        .await
        .unwrap();
    let row = store.deployment(&id).await.unwrap().unwrap();
    assert!(row.lease_epoch >= 2, "{row:?}");
    // The switch A made and never recorded has its audit event, written by B when it found it made.
    let events = store.audit_chain(0, 100_000).await.unwrap();
    assert!(
        events.iter().any(|e| e.record.action == "deployment.switch"
            && e.record.target == format!("deployment/{id}")
            && e.record.parameters.contains("observed")),
        "no audit event for the switch"
    );
    assert!(server::audit::verify(&store)
        .await
        .unwrap()
        .broken
        .is_none());
    drop(b);
    support::postgres::drop_database(database).await;
}

/// Two replicas on one PostgreSQL, each sent a request for production/api at the same moment: one runs, the
/// other queues behind it. The replica running the first is killed while it waits for green to become ready; the
/// other takes the lease when it runs out, finishes the first, then runs the second. Each change reached AWS once.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_to_two_replicas_queue_and_a_replica_killed_while_waiting_for_ready_is_resumed(
) {
    // Tasks take 3 s to start: long enough to kill a replica while it waits for them.
    let shared = Shared::new(3.0).await;
    let (database, moto) = (&shared.database, &shared.moto);
    let a = shared.start(0);
    let b = shared.start(1);
    wait_ready(&a.base).await;
    wait_ready(&b.base).await;
    let token = admin_token(&a.base, &["releases:write", "deployments:request", "read"]).await;
    let first_release = register(&a.base, &token, "6.0.0").await;
    let second_release = register(&b.base, &token, "6.0.1").await;
    let _ = moto.aws_requests(true).await;

    let (one, two) = tokio::join!(
        request_deploy(&a.base, &token, &first_release),
        request_deploy(&b.base, &token, &second_release)
    );

    // Whichever was claimed first runs; the other shows queued behind it. Never two active at once.
    let store = server::storage::connect(&support::database_config(&database.url))
        .await
        .unwrap();
    let active = |state: &str| {
        !matches!(state, "requested" | "queued")
            && !DeploymentState::parse(state).unwrap().is_terminal()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let (running, waiting) = loop {
        let x = store.deployment(&one).await.unwrap().unwrap();
        let y = store.deployment(&two).await.unwrap().unwrap();
        assert!(
            !(active(&x.state) && active(&y.state)),
            "both active: {} {}",
            x.state,
            y.state
        );
        if x.state == "ready" && y.state == "queued" {
            break (x, y);
        }
        if y.state == "ready" && x.state == "queued" {
            break (y, x);
        }
        assert!(
            Instant::now() < deadline,
            "never one waiting for ready and one queued: {} {}",
            x.state,
            y.state
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Kill a replica while the running deployment waits for green's tasks: the one holding its lease if one does
    // (a lease is held only during a tick; between polls any replica may take the next one).
    let holder = running.lease_owner.clone().unwrap_or_default();
    let b_pid = format!(":{}:", b.child.id());
    let (mut victim, survivor) = if holder.contains(&b_pid) {
        (b, a)
    } else {
        (a, b)
    };
    victim.child.kill().unwrap();
    victim.child.wait().unwrap();

    let first = wait_finished(&survivor.base, &token, &running.id).await;
    let second = wait_finished(&survivor.base, &token, &waiting.id).await;
    assert_eq!(
        first.summary.state,
        DeploymentState::Done,
        "{:?}",
        first.summary.reason
    );
    assert_eq!(
        second.summary.state,
        DeploymentState::Done,
        "{:?}",
        second.summary.reason
    );
    let ready = first.steps.iter().find(|s| s.kind == "wait_ready").unwrap();
    assert_eq!(ready.state, "done", "{ready:?}");
    // One after the other; the second was re-planned because the first changed the live colour.
    let first_end = first.summary.finished_at.clone().unwrap();
    let second_start = second.steps[0].started_at.clone().unwrap();
    assert!(second_start >= first_end, "{second_start} < {first_end}");
    assert_ne!(first.plan.to_colour, second.plan.to_colour);

    // Each change reached AWS once per deployment, whichever replica made it.
    let counts = moto.requests_by_operation().await;
    let count = |op: &str| counts.get(op).copied().unwrap_or(0);
    assert_eq!(count("ecs:RegisterTaskDefinition"), 2, "{counts:?}");
    assert_eq!(
        count("ecs:UpdateService"),
        4,
        "deploy + scale down, twice: {counts:?}"
    );
    assert_eq!(
        count("elasticloadbalancing:ModifyListener"),
        2,
        "{counts:?}"
    );
    assert_eq!(count("rds:CreateDBSnapshot"), 2, "{counts:?}");
    assert_eq!(count("elasticache:CreateSnapshot"), 2, "{counts:?}");
    assert!(server::audit::verify(&store)
        .await
        .unwrap()
        .broken
        .is_none());
    drop(survivor);
    support::postgres::drop_database(database).await;
}

/// SIGTERM — what an orchestrator sends before it stops a task — while the answer to a switch is on its way: the
/// console finishes the step it is in (the answer is recorded with AWS's request id and its audit event), lets go
/// of the lease and exits 0. Another replica carries on from there.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_in_the_middle_of_a_switch_records_the_answer_lets_go_and_exits_cleanly() {
    let shared = Shared::new(0.3).await;
    let (database, moto) = (&shared.database, &shared.moto);
    // The emulator applies the switch and holds its answer for 2 s.
    let (mut a, token, id) = switch_held(&shared, "5.1.0", 2_000).await;
    let signalled = Instant::now();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &a.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let exit = a.child.wait().unwrap();
    let took = signalled.elapsed();
    println!("SIGTERM to exit: {} ms", took.as_millis());
    assert!(exit.success(), "exit status {exit:?}");

    // A wrote what AWS answered before it went, and released the deployment.
    let store = server::storage::connect(&support::database_config(&database.url))
        .await
        .unwrap();
    let row = store.deployment(&id).await.unwrap().unwrap();
    assert_eq!(row.lease_owner, None, "{row:?}");
    let steps = store.steps(&id).await.unwrap();
    let switch = steps.iter().find(|s| s.kind == "switch").unwrap();
    assert_eq!(switch.state, "done", "{switch:?}");
    assert_eq!(switch.applied_by.as_deref(), Some("call"), "{switch:?}");

    // B finishes the deployment; the listener changed once, by the recorded call.
    let b = shared.start(1);
    wait_ready(&b.base).await;
    let done = wait_finished(&b.base, &token, &id).await;
    assert_eq!(
        done.summary.state,
        DeploymentState::Done,
        "{:?}",
        done.summary.reason
    );
    let switch = done.steps.iter().find(|s| s.kind == "switch").unwrap();
    assert_eq!(switch.calls.len(), 1, "{switch:?}");
    assert!(switch.calls[0].request_id.is_some(), "{switch:?}");
    let counts = moto.requests_by_operation().await;
    assert_eq!(
        counts
            .get("elasticloadbalancing:ModifyListener")
            .copied()
            .unwrap_or(0),
        1,
        "{counts:?}"
    );
    let events = store.audit_chain(0, 100_000).await.unwrap();
    assert!(events.iter().any(|e| e.record.action == "deployment.switch"
        && e.record.target == format!("deployment/{id}")
        && e.record.parameters.contains("aws_request_id")));
    assert!(server::audit::verify(&store)
        .await
        .unwrap()
        .broken
        .is_none());
    drop(b);
    support::postgres::drop_database(database).await;
}
