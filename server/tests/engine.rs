//! The release engine against the emulator, through the real AWS SDK: CI registers a build with a token, an
//! engineer requests the deploy, the requester's own approval is refused, an approver approves, and the engine
//! snapshots, registers the revision, deploys green, waits for it, switches the listener, bakes and scales blue
//! down — each change with its AWS request id. Then: the health gate rolls a bad release back by itself, a
//! person rolls one back in one action, and two requests for one service queue.

mod support;

use app::dto::{DeploymentDetail, DeploymentState, Outcome};
use server::config::Colour;
use std::time::Duration;
use support::console::TestConsole;

use support::deploy::{
    act, api, live_colour, register, register_service, request, token, view, wait_for, DIGEST,
};

/// A webhook receiver on loopback that refuses its first delivery (500), to show retries, and keeps the rest.
async fn webhook() -> (
    url::Url,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    use axum::{http::StatusCode, routing::post, Router};
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let refused_once = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keep = received.clone();
    let app = Router::new().route(
        "/hook",
        post(move |body: String| {
            let keep = keep.clone();
            let refused_once = refused_once.clone();
            async move {
                if !refused_once.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                keep.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}/hook", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

async fn start_with_hook(hook: Option<url::Url>) -> TestConsole {
    let console = TestConsole::start(true, |config| {
        if let Some(url) = hook {
            config.notifications = server::config::notify::NotificationConfig {
                webhooks: vec![server::config::notify::Webhook {
                    name: "slack".into(),
                    url,
                    events: Vec::new(),
                }],
                retry_base_ms: 50,
                max_attempts: 5,
            };
        }
        config.engine.poll = Duration::from_millis(100);
        config.engine.lease = Duration::from_secs(5);
        for environment in &mut config.environments {
            environment.deploy.bake_secs = 2;
            environment.deploy.scale_down_delay_secs = 1;
            environment.deploy.ready_timeout_secs = 60;
            environment.deploy.pause_secs = 1;
        }
        config.security.per_user_per_minute = 10_000;
        config.security.per_ip_per_minute = 10_000;
    })
    .await;
    console.moto.control(
        "/signalbox-moto/config",
        r#"{"backup_settle_secs": 0.3, "ecs_settle_secs": 0.3}"#,
    );
    console
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approved_release_goes_live_on_green_with_snapshots_and_every_change_recorded() {
    let (hook, received) = webhook().await;
    let console = start_with_hook(Some(hook)).await;
    let ci = token(&console, &["releases:write", "deployments:request", "read"]).await;

    // CI registers the build; the same build again answers the stored release, a different one is refused.
    let release = register(
        &console,
        &ci,
        "1.3.0",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/accunode-api:1.3.0",
    )
    .await;
    let again = register(
        &console,
        &ci,
        "1.3.0",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/accunode-api:1.3.0",
    )
    .await;
    assert_eq!(again.id, release.id);
    let changed = serde_json::json!({"service": "api", "version": "1.3.0", "image": "other:1"});
    let (status, body) = api(
        &console,
        &ci,
        reqwest::Method::POST,
        "/api/v1/releases",
        &changed.to_string(),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let bad = serde_json::json!({"service": "api", "version": "1.3.1", "image": "x:1", "digest": "md5:abc"});
    let (status, body) = api(
        &console,
        &ci,
        reqwest::Method::POST,
        "/api/v1/releases",
        &bad.to_string(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("digest"), "{body}");

    // The engineer requests it: the plan says blue is live, green goes live, what changes, what is snapshotted.
    let eddie = console.browser_as("eddie").await;
    let requested = request(&eddie, &console, &release.id, "production").await;
    let id = requested.summary.id.clone();
    assert_eq!(requested.summary.state, DeploymentState::Requested);
    assert_eq!(
        (requested.plan.from_colour, requested.plan.to_colour),
        (Colour::Blue, Colour::Green)
    );
    let fields: Vec<&str> = requested
        .plan
        .diff
        .iter()
        .map(|d| d.field.as_str())
        .collect();
    assert_eq!(
        fields,
        ["image", "environment.FEATURE_BATCH_SCORING"],
        "{:?}",
        requested.plan.diff
    );
    assert!(requested.plan.diff[0]
        .after
        .as_deref()
        .unwrap()
        .ends_with(DIGEST));
    assert_eq!(
        requested.plan.snapshots.len(),
        2,
        "{:?}",
        requested.plan.snapshots
    );
    assert!(
        requested
            .plan
            .gates
            .iter()
            .any(|g| g == "5xx > 5.0 % for 2 min"),
        "{:?}",
        requested.plan.gates
    );
    // The evidence beside it: the live colour's gate and whether production is recoverable from its backups.
    assert_eq!(requested.live_verdict, Some(app::dto::Verdict::NoData));
    let backups = requested.backups.clone().expect("a backup verdict");
    assert_eq!(
        backups.recoverable,
        app::dto::Recoverable::AtRisk,
        "{backups:?}"
    );

    // The requester may not approve, whatever their roles; the refusal is audited with the reason.
    let (status, body) = act(
        &eddie,
        &console,
        "decide",
        &[("id", &id), ("action", "approve")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let ada = console.browser_as("ada").await;
    // An admin who did not request it may; but first, a rejection needs a reason.
    let (status, body) = act(
        &ada,
        &console,
        "decide",
        &[("id", &id), ("action", "reject")],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("reason"), "{body}");
    let rita = console.browser_as("rita").await;
    let (status, body) = act(
        &rita,
        &console,
        "decide",
        &[("id", &id), ("action", "approve"), ("reason", "CAB-118")],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let done = wait_for(&console, &id, DeploymentState::Done).await;
    assert_eq!(live_colour(&console, "production", "api").await, (0, 100));
    let states: Vec<(&str, &str)> = done
        .steps
        .iter()
        .map(|s| (s.kind.as_str(), s.state.as_str()))
        .collect();
    assert!(
        states.iter().all(|(_, state)| *state == "done"),
        "{states:?}"
    );
    // Each change was ours, made once, with AWS's request id.
    for step in done.steps.iter().filter(|s| s.applied_by.is_some()) {
        assert_eq!(step.applied_by.as_deref(), Some("call"), "{step:?}");
        assert_eq!(step.calls.len(), 1, "{step:?}");
        let request_id = step.calls[0].request_id.as_deref().unwrap_or_default();
        assert!(request_id.len() >= 20, "{step:?}");
    }
    let applied: Vec<&str> = done
        .steps
        .iter()
        .filter(|s| s.applied_by.is_some())
        .map(|s| s.kind.as_str())
        .collect();
    assert_eq!(
        applied,
        [
            "snapshot_database",
            "snapshot_cache",
            "register_task_definition",
            "deploy_idle",
            "switch",
            "scale_down"
        ]
    );

    // AWS agrees: green runs the new revision with the release's image and variable, blue is at 0, snapshots exist.
    let runtime = console.running.engine.environment("production").unwrap();
    let ecs = runtime
        .aws
        .fleet
        .services(
            "accunode-production",
            &[
                "accunode-production-api-blue".into(),
                "accunode-production-api-green".into(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(ecs["accunode-production-api-blue"].desired, 0);
    let green = &ecs["accunode-production-api-green"];
    assert_eq!(green.desired, 4);
    let spec = runtime
        .aws
        .deployer
        .task_definition_spec(&green.task_definition_arn)
        .await
        .unwrap();
    assert!(spec.image.ends_with(DIGEST), "{}", spec.image);
    assert_eq!(
        spec.environment
            .get("FEATURE_BATCH_SCORING")
            .map(String::as_str),
        Some("on")
    );
    assert_eq!(spec.tags.get("signalbox:deployment"), Some(&id));
    let snapshot = &done.plan.snapshots[0];
    let db_snapshots = runtime
        .aws
        .databases
        .snapshots("accunode-production-db")
        .await
        .unwrap();
    assert!(
        db_snapshots
            .iter()
            .any(|s| snapshot.ends_with(&s.id) && s.status == "available"),
        "{snapshot} in {db_snapshots:?}"
    );

    // The audit trail has the request, the refusal, the approval, each state and the switch, and is intact.
    let events = console.audit().await;
    // Each about this deployment, refusals included, so its page can list them.
    let target = format!("deployment/{id}");
    let has = |action: &str, outcome: Outcome| {
        events.iter().any(|e| {
            e.record.action == action && e.record.outcome == outcome && e.record.target == target
        })
    };
    assert!(has("deployments.request", Outcome::Allowed));
    assert!(has("deployments.approve", Outcome::Denied));
    assert!(has("deployments.reject", Outcome::Denied));
    assert!(has("deployments.approve", Outcome::Allowed));
    for state in [
        "snapshot",
        "deploying",
        "ready",
        "switching",
        "baking",
        "retiring",
        "done",
    ] {
        assert!(
            has(&format!("deployment.{state}"), Outcome::Allowed),
            "no deployment.{state} event"
        );
    }
    let switch = events
        .iter()
        .find(|e| e.record.action == "deployment.switch")
        .unwrap();
    assert!(
        switch.record.parameters.contains("aws_request_id"),
        "{}",
        switch.record.parameters
    );
    // The webhook heard the request, the approval and the switch, in Slack's format, despite refusing once.
    let wanted = ["approval_requested", "approved", "switched"];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let heard = loop {
        let heard: Vec<String> = received
            .lock()
            .unwrap()
            .iter()
            .map(|n| {
                n["signalbox"]["event"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        let all = wanted.iter().all(|e| heard.iter().any(|x| x == e));
        if all || std::time::Instant::now() > deadline {
            break heard;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        wanted.iter().all(|e| heard.iter().any(|x| x == e)),
        "{heard:?}"
    );
    let switched = received
        .lock()
        .unwrap()
        .iter()
        .find(|n| n["signalbox"]["event"] == "switched")
        .cloned()
        .unwrap();
    assert!(
        switched["text"]
            .as_str()
            .unwrap()
            .contains("all traffic switched to green"),
        "{switched}"
    );
    assert!(switched["signalbox"]["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/deployments/{id}")));
    let report = server::audit::verify(&console.running.storage)
        .await
        .unwrap();
    assert!(report.broken.is_none(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_health_gate_rolls_back_a_bad_release_during_the_bake_and_a_person_can_roll_back_in_one_action(
) {
    let console = TestConsole::start(true, |config| {
        config.engine.poll = Duration::from_millis(100);
        for environment in &mut config.environments {
            environment.deploy.bake_secs = 120;
            environment.deploy.scale_down_delay_secs = 1;
            environment.deploy.approvals_required = 0;
        }
    })
    .await;
    console.moto.control(
        "/signalbox-moto/config",
        r#"{"backup_settle_secs": 0.3, "ecs_settle_secs": 0.3}"#,
    );
    let ci = token(&console, &["releases:write"]).await;
    let eddie = console.browser_as("eddie").await;

    // No approval is configured here: it starts at once and bakes.
    let release = register(&console, &ci, "2.0.0", "accunode-api:2.0.0").await;
    let id = request(&eddie, &console, &release.id, "production")
        .await
        .summary
        .id;
    wait_for(&console, &id, DeploymentState::Baking).await;
    assert_eq!(live_colour(&console, "production", "api").await, (0, 100));

    // While production is not recoverable (point-in-time recovery 2 h behind), a new request is refused.
    console.moto.control(
        "/signalbox-moto/backups",
        r#"{"region": "us-east-1", "rds_instance": "accunode-production-db", "restorable_lag_minutes": 120}"#,
    );
    let collector = console
        .running
        .backups
        .iter()
        .find(|c| c.environment().name == "production")
        .unwrap();
    collector.collect_once().await;
    let blocked = register(&console, &ci, "2.0.9", "accunode-api:2.0.9").await;
    let refused = eddie
        .post_form(
            &console.url("/api/deploy/request"),
            &[
                ("release", blocked.id.as_str()),
                ("environment", "production"),
            ],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("not recoverable"), "{}", refused.body);
    console.moto.control(
        "/signalbox-moto/backups",
        r#"{"region": "us-east-1", "rds_instance": "accunode-production-db", "restorable_lag_minutes": 5}"#,
    );
    collector.collect_once().await;

    // Green answers 7 % 5xx: the gate's rule "5xx > 5 % for 2 min" fires and the engine rolls back by itself.
    let run_dir = tempfile::tempdir().unwrap();
    console
        .moto
        .publish_five_percent_breach("production", "api", "green", run_dir.path());
    let rolled = wait_for(&console, &id, DeploymentState::RolledBack).await;
    assert_eq!(live_colour(&console, "production", "api").await, (100, 0));
    let reason = rolled.summary.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("automatic rollback: health gate failed on green"),
        "{reason}"
    );
    assert!(reason.contains("5xx"), "{reason}");
    let outcome: serde_json::Value =
        serde_json::from_str(rolled.outcome.as_deref().unwrap()).unwrap();
    let rule = &outcome["rules"][0];
    assert!(
        rule["value"].as_f64().unwrap() > 5.0 && rule["threshold"].as_f64() == Some(5.0),
        "{outcome}"
    );
    let rollback_switch = rolled
        .steps
        .iter()
        .find(|s| s.phase == "rollback" && s.kind == "switch")
        .unwrap();
    assert_eq!(rollback_switch.applied_by.as_deref(), Some("call"));
    // The bake is where it stopped: failed, with the gate's words; what was left of the plan is skipped.
    let bake = rolled.steps.iter().find(|s| s.kind == "bake").unwrap();
    assert_eq!(bake.state, "failed", "{bake:?}");
    assert!(
        bake.error.as_deref().unwrap_or_default().contains("5xx"),
        "{bake:?}"
    );
    let events = console.audit().await;
    assert!(events
        .iter()
        .any(|e| e.record.action == "deployment.auto_rollback"
            && e.record.parameters.contains("5xx")));

    // In staging (green live), a release goes to blue; rita rolls it back with one action while it bakes.
    let release = register(&console, &ci, "2.0.1", "accunode-api:2.0.1").await;
    let id = request(&eddie, &console, &release.id, "staging")
        .await
        .summary
        .id;
    wait_for(&console, &id, DeploymentState::Baking).await;
    assert_eq!(live_colour(&console, "staging", "api").await, (100, 0));
    let rita = console.browser_as("rita").await;
    let (status, body) = act(
        &rita,
        &console,
        "rollback",
        &[("id", &id), ("action", "rollback_now")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let rolled = wait_for(&console, &id, DeploymentState::RolledBack).await;
    assert_eq!(live_colour(&console, "staging", "api").await, (0, 100));
    assert!(rolled.summary.reason.unwrap().starts_with("rolled back by"));
    // A deployer may not roll back.
    let (status, _) = act(
        &eddie,
        &console,
        "rollback",
        &[("id", &id), ("action", "rollback_now")],
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_requests_for_one_service_queue_and_run_one_after_the_other() {
    let console = TestConsole::start(true, |config| {
        config.engine.poll = Duration::from_millis(100);
        for environment in &mut config.environments {
            environment.deploy.bake_secs = 1;
            environment.deploy.scale_down_delay_secs = 0;
            environment.deploy.approvals_required = 0;
        }
    })
    .await;
    console.moto.control(
        "/signalbox-moto/config",
        r#"{"backup_settle_secs": 0.3, "ecs_settle_secs": 0.3}"#,
    );
    let ci = token(&console, &["releases:write"]).await;
    let eddie = console.browser_as("eddie").await;
    let first = register(&console, &ci, "3.0.0", "accunode-api:3.0.0").await;
    let second = register(&console, &ci, "3.0.1", "accunode-api:3.0.1").await;
    let a = request(&eddie, &console, &first.id, "staging")
        .await
        .summary
        .id;
    let b = request(&eddie, &console, &second.id, "staging")
        .await
        .summary
        .id;
    // While the first runs, the second waits in the queue behind it.
    let mut saw_queue = false;
    for _ in 0..100 {
        let second = view(&console, &b).await;
        if second.summary.state == DeploymentState::Queued
            && second.blocked_by.as_deref() == Some(a.as_str())
        {
            assert_eq!(second.queue_position, Some(1));
            saw_queue = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        saw_queue,
        "the second request never showed as queued behind the first"
    );
    let first_done = wait_for(&console, &a, DeploymentState::Done).await;
    let second_done = wait_for(&console, &b, DeploymentState::Done).await;
    // One after the other: the second started after the first finished. Both were planned green → blue when
    // requested; the first made blue live, so the second was re-planned at its start and went back to green.
    let first_end = first_done.summary.finished_at.unwrap();
    let second_start = second_done.steps[0].started_at.clone().unwrap();
    assert!(second_start >= first_end, "{second_start} < {first_end}");
    assert_eq!(
        (first_done.plan.from_colour, first_done.plan.to_colour),
        (Colour::Green, Colour::Blue)
    );
    assert_eq!(
        (second_done.plan.from_colour, second_done.plan.to_colour),
        (Colour::Blue, Colour::Green)
    );
    assert!(second_done
        .summary
        .reason
        .as_deref()
        .unwrap_or_default()
        .starts_with("re-planned at start"));
    assert_eq!(live_colour(&console, "staging", "api").await, (0, 100));
}

/// ECS's circuit breaker fails the new colour's rollout: the deployment fails while waiting for it, with ECS's
/// reason, and cleans up without moving traffic. Then a service routed by a listener rule (not the listener's
/// default action) switches by weights on its rule.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_ecs_rollout_fails_before_traffic_moves_and_a_rule_routed_service_switches_by_weights(
) {
    let console = TestConsole::start(true, |config| {
        config.engine.poll = Duration::from_millis(100);
        for environment in &mut config.environments {
            environment.deploy.bake_secs = 1;
            environment.deploy.pause_secs = 1;
            environment.deploy.scale_down_delay_secs = 0;
            environment.deploy.ready_timeout_secs = 60;
            environment.deploy.weights = vec![10, 50, 100];
            environment.deploy.bake_requires_data = environment.name == "production";
        }
    })
    .await;
    console.moto.control(
        "/signalbox-moto/config",
        r#"{"backup_settle_secs": 0.3, "ecs_settle_secs": 0.3}"#,
    );
    let ci = token(&console, &["releases:write"]).await;
    let eddie = console.browser_as("eddie").await;

    // Staging runs green; the release goes to blue, whose tasks never start.
    console.moto.control(
        "/signalbox-moto/ecs",
        r#"{"cluster": "accunode-staging", "service": "accunode-staging-api-blue", "rollout": "fail"}"#,
    );
    let release = register(&console, &ci, "7.0.0", "accunode-api:7.0.0").await;
    let id = request(&eddie, &console, &release.id, "staging")
        .await
        .summary
        .id;
    let failed = wait_for(&console, &id, DeploymentState::Failed).await;
    let reason = failed.summary.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("ECS rollout of blue failed")
            && reason.contains("ECS deployment circuit breaker: tasks failed to start."),
        "{reason}"
    );
    let wait_ready = failed
        .steps
        .iter()
        .find(|s| s.kind == "wait_ready")
        .unwrap();
    assert_eq!(wait_ready.state, "failed", "{wait_ready:?}");
    assert!(
        failed
            .steps
            .iter()
            .filter(|s| s.kind == "switch")
            .all(|s| s.state != "done"),
        "no traffic moved"
    );
    let cleanup: Vec<_> = failed
        .steps
        .iter()
        .filter(|s| s.phase == "cleanup")
        .collect();
    assert!(
        !cleanup.is_empty() && cleanup.iter().all(|s| s.state == "done"),
        "{cleanup:?}"
    );
    assert_eq!(live_colour(&console, "staging", "api").await, (0, 100));

    // The worker is routed by listener rule 10: its switch moves the rule's weights 10 → 50 → 100 %.
    let release = register_service(&console, &ci, "worker", "7.0.0", "accunode-worker:7.0.0").await;
    let id = request(&eddie, &console, &release.id, "staging")
        .await
        .summary
        .id;
    let done = wait_for(&console, &id, DeploymentState::Done).await;
    let to = done.plan.to_colour;
    let switches: Vec<_> = done.steps.iter().filter(|s| s.kind == "switch").collect();
    assert_eq!(switches.len(), 3, "{switches:?}");
    for (switch, percent) in switches.iter().zip([10, 50, 100]) {
        assert!(
            switch.detail.starts_with("listener rule 10: ")
                && switch.detail.contains(&format!("{to} {percent} %")),
            "{switch:?}"
        );
        assert_eq!(switch.calls.len(), 1);
        assert_eq!(switch.calls[0].operation, "ELBv2 ModifyRule");
        assert!(switch.calls[0].request_id.is_some());
    }
    let shares = live_colour(&console, "staging", "worker").await;
    assert_eq!(
        shares,
        match to {
            Colour::Blue => (100, 0),
            Colour::Green => (0, 100),
        }
    );
    // The api's listener default action was not touched by the worker's switch.
    assert_eq!(live_colour(&console, "staging", "api").await, (0, 100));

    // Production asks for data: the emulator publishes no metrics for green, so the bake cannot pass on its own.
    // It halts for a person, who rolls back (typing the service's name, as production asks).
    let release = register(&console, &ci, "7.0.1", "accunode-api:7.0.1").await;
    let id = request(&eddie, &console, &release.id, "production")
        .await
        .summary
        .id;
    let rita = console.browser_as("rita").await;
    let (status, body) = act(
        &rita,
        &console,
        "decide",
        &[("id", &id), ("action", "approve"), ("reason", "CAB-7")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let halted = wait_for(&console, &id, DeploymentState::Halted).await;
    let reason = halted.summary.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("the bake ended with no health data for green"),
        "{reason}"
    );
    assert_eq!(live_colour(&console, "production", "api").await, (0, 100));
    let (status, body) = act(
        &rita,
        &console,
        "rollback",
        &[("id", &id), ("action", "rollback_now"), ("confirm", "api")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    wait_for(&console, &id, DeploymentState::RolledBack).await;
    assert_eq!(live_colour(&console, "production", "api").await, (100, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_errors_are_retried_then_halt_with_the_step_and_reason_and_the_deployment_resumes_or_rolls_back(
) {
    let console = TestConsole::start(true, |config| {
        config.engine.poll = Duration::from_millis(100);
        config.engine.step_max_attempts = 3;
        for environment in &mut config.environments {
            environment.deploy.bake_secs = 1;
            environment.deploy.scale_down_delay_secs = 0;
            environment.deploy.approvals_required = 0;
            environment.deploy.weights = vec![10, 100];
            environment.deploy.pause_secs = 1;
        }
    })
    .await;
    console.moto.control(
        "/signalbox-moto/config",
        r#"{"backup_settle_secs": 0.2, "ecs_settle_secs": 0.2}"#,
    );
    let ci = token(&console, &["releases:write"]).await;
    let eddie = console.browser_as("eddie").await;
    let rita = console.browser_as("rita").await;

    // Throttled twice: retried with back-off, then through; one ModifyListener per weighted step went through.
    console.moto.control(
        "/signalbox-moto/faults",
        r#"{"operation": "ModifyListener", "code": "Throttling", "status": 400, "message": "Rate exceeded", "count": 2}"#,
    );
    let _ = console.moto.aws_requests(true).await;
    let release = register(&console, &ci, "6.0.0", "accunode-api:6.0.0").await;
    let id = request(&eddie, &console, &release.id, "staging")
        .await
        .summary
        .id;
    let done = wait_for(&console, &id, DeploymentState::Done).await;
    let switches: Vec<_> = done.steps.iter().filter(|s| s.kind == "switch").collect();
    assert_eq!(switches.len(), 2, "10 % then 100 %");
    assert_eq!(switches[0].attempts, 3, "{:?}", switches[0]);
    let outcomes: Vec<&str> = switches[0]
        .calls
        .iter()
        .map(|c| c.outcome.as_str())
        .collect();
    assert_eq!(
        outcomes,
        ["error", "error", "ok"],
        "{:?}",
        switches[0].calls
    );
    assert_eq!(switches[0].detail, "listener: blue 10 % / green 90 %");
    assert_eq!(live_colour(&console, "staging", "api").await, (100, 0));

    // Refused access: not worth retrying, the deployment halts at the switch with the reason, traffic untouched.
    console.moto.control(
        "/signalbox-moto/faults",
        r#"{"operation": "ModifyListener", "code": "AccessDenied", "status": 403, "message": "not for you"}"#,
    );
    let release = register(&console, &ci, "6.0.1", "accunode-api:6.0.1").await;
    let id = request(&eddie, &console, &release.id, "staging")
        .await
        .summary
        .id;
    let halted = wait_for(&console, &id, DeploymentState::Halted).await;
    let reason = halted.summary.reason.clone().unwrap();
    assert!(reason.starts_with("Switch 10 % of traffic to green failed after 1 attempt(s): AWS refused access (ELBv2 ModifyListener)"), "{reason}");
    assert!(
        !reason.contains("not for you"),
        "AWS's text stays in the log: {reason}"
    );
    assert_eq!(live_colour(&console, "staging", "api").await, (100, 0));
    assert!(halted.actions.contains(&app::dto::DeploymentAction::Retry));
    // A switch was attempted, so stopping here is a rollback (which would find blue still live), never a
    // cleanup that assumes no traffic moved.
    assert!(halted
        .actions
        .contains(&app::dto::DeploymentAction::RollbackNow));
    let events = console.audit().await;
    assert!(events.iter().any(|e| e.record.action == "deployment.halted"
        && e.record.reason.contains("AWS refused access")));

    // With the permission back, "retry step" resumes where it stopped, and it finishes.
    console.moto.control("/signalbox-moto/faults/clear", "{}");
    let (status, body) = act(
        &rita,
        &console,
        "control",
        &[("id", &id), ("action", "retry")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    wait_for(&console, &id, DeploymentState::Done).await;
    assert_eq!(live_colour(&console, "staging", "api").await, (0, 100));
}

/// Benchmark, not a pass/fail test: the time from "roll back now" to the listener sending all traffic back,
/// on the emulator, over 10 rollbacks. Run with
/// `cargo test -p server --test engine -- --ignored --nocapture bench_rollback`.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn bench_rollback_to_listener_switched() {
    let console = TestConsole::start(true, |config| {
        config.engine.poll = Duration::from_millis(1000);
        for environment in &mut config.environments {
            environment.deploy.bake_secs = 600;
            environment.deploy.approvals_required = 0;
        }
    })
    .await;
    console.moto.control(
        "/signalbox-moto/config",
        r#"{"backup_settle_secs": 0.2, "ecs_settle_secs": 0.2}"#,
    );
    let ci = token(&console, &["releases:write"]).await;
    let eddie = console.browser_as("eddie").await;
    let rita = console.browser_as("rita").await;
    let mut millis = Vec::new();
    let mut calls = Vec::new();
    for run in 0..10 {
        let release = register(&console, &ci, &format!("9.0.{run}"), "accunode-api:9").await;
        let id = request(&eddie, &console, &release.id, "staging")
            .await
            .summary
            .id;
        wait_for(&console, &id, DeploymentState::Baking).await;
        let live = view(&console, &id).await.plan.from_colour;
        let _ = console.moto.aws_requests(true).await;
        let started = std::time::Instant::now();
        let (status, body) = act(
            &rita,
            &console,
            "rollback",
            &[("id", &id), ("action", "rollback_now")],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let goal = server::engine::plan::target_shares(live, 100);
        while live_colour(&console, "staging", "api").await != goal {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        millis.push(started.elapsed().as_secs_f64() * 1000.0);
        calls.push(console.moto.requests_by_operation().await);
        wait_for(&console, &id, DeploymentState::RolledBack).await;
    }
    let mut sorted = millis.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let switches: Vec<u64> = calls
        .iter()
        .map(|c| {
            c.get("elasticloadbalancing:ModifyListener")
                .copied()
                .unwrap_or(0)
        })
        .collect();
    println!(
        "rollback → listener switched (emulator, 10 runs, worker poll 1 s so only the wake-up counts): \
         p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms; ModifyListener calls per rollback: {switches:?}",
        sorted[4], sorted[8], sorted[9]
    );
    assert!(switches.iter().all(|n| *n == 1), "{switches:?}");
}

/// A deploy request through the page's server function, with a break-glass reason (empty: none).
async fn ask(
    console: &TestConsole,
    browser: &support::browser::Browser,
    release: &str,
    environment: &str,
    glass: &str,
) -> support::browser::Page {
    browser
        .post_form(
            &console.url("/api/deploy/request"),
            &[
                ("release", release),
                ("environment", environment),
                ("break_glass", glass),
            ],
        )
        .await
}

/// A freeze window refuses deploys, an admin may break glass with a reason (kept on the deployment and audited),
/// a deployer may not, and a reason sent where nothing is frozen is not kept: that deploy broke no glass.
#[tokio::test(flavor = "multi_thread")]
async fn a_freeze_refuses_deploys_until_an_admin_breaks_glass_and_only_a_freeze_keeps_the_reason() {
    let console = TestConsole::start(true, |config| {
        config.engine.workers = 0;
        for environment in &mut config.environments {
            environment.deploy.approvals_required = 1;
            if environment.name == "staging" {
                let now = time::OffsetDateTime::now_utc();
                environment.deploy.freeze = vec![server::config::FreezeWindow {
                    from: now - time::Duration::hours(1),
                    until: now + time::Duration::hours(1),
                    reason: "year-end change freeze".into(),
                }];
            }
        }
    })
    .await;
    let ci = token(&console, &["releases:write"]).await;
    let release = register(&console, &ci, "9.9.0", "accunode-api:9.9.0").await;
    let eddie = console.browser_as("eddie").await;
    let ada = console.browser_as("ada").await;
    let refused = ask(&console, &eddie, &release.id, "staging", "").await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.contains("year-end change freeze"),
        "{}",
        refused.body
    );
    let not_admin = ask(&console, &eddie, &release.id, "staging", "hotfix for ACC-7").await;
    assert_eq!(not_admin.status, 403, "{}", not_admin.body);

    let broke = ask(&console, &ada, &release.id, "staging", "hotfix for ACC-7").await;
    assert_eq!(broke.status, 200, "{}", broke.body);
    let broke: DeploymentDetail = serde_json::from_str(&broke.body).unwrap();
    assert_eq!(broke.break_glass.as_deref(), Some("hotfix for ACC-7"));

    // Production is not frozen: the reason is dropped, and nothing says glass was broken.
    let plain = ask(&console, &ada, &release.id, "production", "no freeze here").await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    let plain: DeploymentDetail = serde_json::from_str(&plain.body).unwrap();
    assert_eq!(plain.break_glass, None);

    let events = console.audit().await;
    let about = |id: &str| format!("deployment/{id}");
    assert!(events
        .iter()
        .any(|e| e.record.target == about(&broke.summary.id)
            && e.record.parameters.contains("hotfix for ACC-7")));
    assert!(!events
        .iter()
        .any(|e| e.record.target == about(&plain.summary.id)
            && e.record.parameters.contains("no freeze here")));
    assert!(events.iter().any(|e| e.record.outcome == Outcome::Denied
        && e.record.reason.contains("year-end change freeze")));
}
