//! Faults between the console and AWS at each step of a deployment: AWS errors, throttling, calls held past the
//! timeout, connections dropped before a call reached AWS and after AWS applied it, refused access. Injected by
//! the emulator's fault layer (end2end/stack/moto_launcher.py, `/signalbox-moto/faults`), which sits in front of
//! moto on the wire, so the console sees them exactly as it would see AWS's. Every deployment must end in a
//! safe, explained state — finished, or halted with the step and our words until a person retries or rolls
//! back — with every call that reached AWS recorded and the audit chain intact. The matrix runs on SQLite and on
//! PostgreSQL and writes its table to target/faults/. Then the database itself goes away in the middle of a
//! switch (PostgreSQL).

mod support;

use app::dto::{DeploymentDetail, DeploymentState};
use std::collections::HashMap;
use std::time::Duration;
use support::console::TestConsole;
use support::deploy::{act, live_colour, register, request, token, wait_for, wait_settled};

/// When the fault goes in.
#[derive(Clone, Copy)]
enum When {
    /// Before the deployment is requested.
    AtRequest,
    /// Once the deployment reaches this state (for a step late in the plan whose AWS call is also made earlier).
    OnceIn(DeploymentState),
}

/// What a person does when the deployment halts; the fault is cleared first, as an operator fixes the cause.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Remedy {
    Retry,
    RollBack,
}

struct Fault {
    /// The step the fault is aimed at.
    step: &'static str,
    /// The AWS operation, as the emulator names it.
    operation: &'static str,
    /// What happens to it, for the table.
    what: &'static str,
    /// The rest of the fault's JSON for `/signalbox-moto/faults`.
    spec: &'static str,
    when: When,
    /// `None`: the engine gets through by itself. `Some`: it halts, and this is what the person does.
    halts_then: Option<Remedy>,
}

const MATRIX: &[Fault] = &[
    Fault {
        step: "snapshot database",
        operation: "CreateDBSnapshot",
        what: "500 InternalFailure, twice",
        spec: r#""code": "InternalFailure", "status": 500, "count": 2"#,
        when: When::AtRequest,
        halts_then: None,
    },
    Fault {
        step: "snapshot cache",
        operation: "CreateSnapshot",
        what: "connection dropped before AWS, once",
        spec: r#""drop": true, "count": 1"#,
        when: When::AtRequest,
        halts_then: None,
    },
    Fault {
        step: "register revision",
        operation: "RegisterTaskDefinition",
        what: "applied, then the connection dropped",
        spec: r#""drop": true, "phase": "after", "count": 1"#,
        when: When::AtRequest,
        halts_then: None,
    },
    Fault {
        step: "register revision",
        operation: "RegisterTaskDefinition",
        what: "403 AccessDenied, until fixed",
        spec: r#""code": "AccessDenied", "status": 403"#,
        when: When::AtRequest,
        halts_then: Some(Remedy::Retry),
    },
    Fault {
        step: "deploy new colour",
        operation: "UpdateService",
        what: "400 Throttling, twice",
        spec: r#""code": "ThrottlingException", "status": 400, "count": 2"#,
        when: When::AtRequest,
        halts_then: None,
    },
    Fault {
        step: "deploy new colour",
        operation: "UpdateService",
        what: "applied, answer held past the timeout",
        spec: r#""delay_ms": 2500, "phase": "after", "count": 1"#,
        when: When::AtRequest,
        halts_then: None,
    },
    Fault {
        step: "wait for ready",
        operation: "DescribeServices",
        what: "throttled, until fixed",
        spec: r#""code": "ThrottlingException", "status": 400"#,
        when: When::OnceIn(DeploymentState::Ready),
        halts_then: Some(Remedy::Retry),
    },
    Fault {
        step: "wait for ready",
        operation: "DescribeTargetHealth",
        what: "connection dropped, 3 times",
        spec: r#""drop": true, "count": 3"#,
        when: When::OnceIn(DeploymentState::Ready),
        halts_then: None,
    },
    Fault {
        step: "switch traffic",
        operation: "ModifyListener",
        what: "held past the timeout, applied late",
        spec: r#""delay_ms": 1500, "count": 1"#,
        when: When::AtRequest,
        halts_then: None,
    },
    Fault {
        step: "switch traffic",
        operation: "ModifyListener",
        what: "applied, then the connection dropped",
        spec: r#""drop": true, "phase": "after", "count": 1"#,
        when: When::AtRequest,
        halts_then: None,
    },
    Fault {
        step: "switch traffic",
        operation: "ModifyListener",
        what: "503 ServiceUnavailable, every time",
        spec: r#""code": "ServiceUnavailable", "status": 503"#,
        when: When::AtRequest,
        halts_then: Some(Remedy::RollBack),
    },
    Fault {
        step: "switch traffic",
        operation: "ModifyListener",
        what: "403 AccessDenied, until fixed",
        spec: r#""code": "AccessDenied", "status": 403"#,
        when: When::AtRequest,
        halts_then: Some(Remedy::Retry),
    },
    Fault {
        step: "scale old colour down",
        operation: "UpdateService",
        what: "403 AccessDenied, until fixed",
        spec: r#""code": "AccessDenied", "status": 403"#,
        when: When::OnceIn(DeploymentState::Baking),
        halts_then: Some(Remedy::Retry),
    },
];

/// The AWS changes whose every request the engine must have on record (no SDK retries on these: one request is
/// one recorded call). Snapshots go through clients with SDK retries, so several requests may be one call.
const CHANGES: &[&str] = &["ModifyListener", "UpdateService", "RegisterTaskDefinition"];

async fn start(database_url: Option<&str>) -> TestConsole {
    let console = TestConsole::start(true, |config| {
        if let Some(url) = database_url {
            config.database.url = server::secret::DatabaseUrl::new(url);
        }
        config.engine.poll = Duration::from_millis(100);
        config.engine.lease = Duration::from_secs(3);
        config.engine.step_max_attempts = 3;
        config.database.pool_timeout = Duration::from_secs(2);
        // A held call counts as no answer after 1 s; reads get 2 s with the SDK's retries.
        config.aws.attempt_timeout = Duration::from_secs(1);
        config.aws.operation_timeout = Duration::from_secs(2);
        for environment in &mut config.environments {
            environment.deploy.bake_secs = 2;
            environment.deploy.scale_down_delay_secs = 0;
            environment.deploy.approvals_required = 0;
            environment.deploy.weights = vec![100];
            environment.deploy.ready_timeout_secs = 60;
        }
        config.security.per_user_per_minute = 10_000;
        config.security.per_ip_per_minute = 10_000;
    })
    .await;
    console.moto.control(
        "/signalbox-moto/config",
        r#"{"backup_settle_secs": 0.2, "ecs_settle_secs": 0.2}"#,
    );
    console
}

/// The calls the deployment recorded, per AWS operation name ("ModifyListener").
fn recorded_calls(detail: &DeploymentDetail) -> HashMap<String, u64> {
    let mut calls = HashMap::new();
    for call in detail.steps.iter().flat_map(|s| &s.calls) {
        let name = call
            .operation
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        *calls.entry(name).or_insert(0) += 1;
    }
    calls
}

/// The requests the emulator received since the last reset, per AWS operation name.
async fn received_calls(console: &TestConsole) -> HashMap<String, u64> {
    let mut calls = HashMap::new();
    for (key, n) in console.moto.requests_by_operation().await {
        let name = key.rsplit(':').next().unwrap_or_default().to_string();
        *calls.entry(name).or_insert(0) += n;
    }
    calls
}

fn steps_of(detail: &DeploymentDetail) -> String {
    detail
        .steps
        .iter()
        .map(|s| {
            format!(
                "{} [{}] {} ×{} {:?} {:?}",
                s.title, s.state, s.detail, s.attempts, s.applied_by, s.error
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The listener is where the deployment's end says it is: on the new colour when done, on the old one otherwise.
async fn assert_listener_matches(console: &TestConsole, detail: &DeploymentDetail) {
    let shares = live_colour(console, "staging", "api").await;
    let on = |colour: server::config::Colour| match colour {
        server::config::Colour::Blue => (100, 0),
        server::config::Colour::Green => (0, 100),
    };
    let switched = detail
        .steps
        .iter()
        .any(|s| s.kind == "switch" && s.phase == "forward" && s.state == "done");
    let expected = match detail.summary.state {
        DeploymentState::Done => on(detail.plan.to_colour),
        DeploymentState::Halted if switched => on(detail.plan.to_colour),
        _ => on(detail.plan.from_colour),
    };
    assert_eq!(
        shares,
        expected,
        "{:?}: listener not where the record says\n{}",
        detail.summary.state,
        steps_of(detail)
    );
}

async fn run_matrix(console: &TestConsole, backend: &str) -> String {
    let ci = token(console, &["releases:write"]).await;
    let eddie = console.browser_as("eddie").await;
    let rita = console.browser_as("rita").await;
    let mut table = String::from(
        "| step | AWS operation | fault | what the engine did | first end | person | final | calls received / recorded |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for (i, fault) in MATRIX.iter().enumerate() {
        console.moto.control("/signalbox-moto/faults/clear", "{}");
        let spec = format!(r#"{{"operation": "{}", {}}}"#, fault.operation, fault.spec);
        let release = register(
            console,
            &ci,
            &format!("7.{i}.0"),
            &format!("accunode-api:7.{i}.0"),
        )
        .await;
        // Green's tasks take 3 s to start when the fault waits for "ready", so the test sees that state.
        let settle = match fault.when {
            When::OnceIn(DeploymentState::Ready) => 3.0,
            _ => 0.2,
        };
        console.moto.control(
            "/signalbox-moto/config",
            &format!(r#"{{"ecs_settle_secs": {settle}}}"#),
        );
        let _ = console.moto.aws_requests(true).await;
        if let When::AtRequest = fault.when {
            console.moto.control("/signalbox-moto/faults", &spec);
        }
        let id = request(&eddie, console, &release.id, "staging")
            .await
            .summary
            .id;
        if let When::OnceIn(state) = fault.when {
            wait_for(console, &id, state).await;
            console.moto.control("/signalbox-moto/faults", &spec);
        }
        let first = wait_settled(console, &id).await;
        let label = format!("{backend} row {i} ({} {})", fault.step, fault.what);
        let first_state = first.summary.state;
        let faulted = first
            .steps
            .iter()
            .filter(|s| {
                s.error.is_some() || s.attempts > 1 || s.applied_by.as_deref() == Some("observed")
            })
            .map(|s| {
                format!(
                    "{}: {} attempt(s){}",
                    s.title,
                    s.attempts,
                    match s.applied_by.as_deref() {
                        Some("observed") => ", found applied",
                        _ => "",
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let final_detail = match fault.halts_then {
            None => {
                assert_eq!(
                    first_state,
                    DeploymentState::Done,
                    "{label}: {:?}\n{}",
                    first.summary.reason,
                    steps_of(&first)
                );
                first.clone()
            }
            Some(remedy) => {
                assert_eq!(
                    first_state,
                    DeploymentState::Halted,
                    "{label}: {:?}\n{}",
                    first.summary.reason,
                    steps_of(&first)
                );
                let reason = first.summary.reason.clone().unwrap_or_default();
                // Explained in our words: the step, the attempts, the kind of failure; never AWS's own text.
                assert!(
                    reason.contains("failed after") && reason.contains(fault.operation),
                    "{label}: {reason}"
                );
                assert!(
                    !reason.contains("Injected by signalbox-moto"),
                    "{label}: {reason}"
                );
                assert_listener_matches(console, &first).await;
                console.moto.control("/signalbox-moto/faults/clear", "{}");
                let (endpoint, action) = match remedy {
                    Remedy::Retry => ("control", "retry"),
                    Remedy::RollBack => ("rollback", "rollback_now"),
                };
                let (status, body) =
                    act(&rita, console, endpoint, &[("id", &id), ("action", action)]).await;
                assert_eq!(status, 200, "{label}: {body}");
                let end = wait_settled(console, &id).await;
                let expected = match remedy {
                    Remedy::Retry => DeploymentState::Done,
                    Remedy::RollBack => DeploymentState::RolledBack,
                };
                assert_eq!(
                    end.summary.state,
                    expected,
                    "{label}: {:?}\n{}",
                    end.summary.reason,
                    steps_of(&end)
                );
                end
            }
        };
        assert_listener_matches(console, &final_detail).await;

        // Every change that reached AWS is on record: as many requests received as calls recorded.
        let received = received_calls(console).await;
        let recorded = recorded_calls(&final_detail);
        let mut counts = Vec::new();
        for operation in CHANGES {
            let got = received.get(*operation).copied().unwrap_or(0);
            let kept = recorded.get(*operation).copied().unwrap_or(0);
            assert_eq!(
                got,
                kept,
                "{label}: {operation} received {got}, recorded {kept}\n{}",
                steps_of(&final_detail)
            );
            counts.push(format!("{operation} {got}/{kept}"));
        }
        // A forward switch that is done was made by a recorded call or found made; either way audited.
        for step in final_detail.steps.iter().filter(|s| s.state == "done") {
            if !matches!(step.kind.as_str(), "wait_ready" | "pause" | "bake") {
                assert!(
                    matches!(step.applied_by.as_deref(), Some("call" | "observed")),
                    "{label}: {step:?}"
                );
            }
        }
        // The audit trail has the end, and every switch call that got through or was found applied.
        let target = format!("deployment/{id}");
        let events: Vec<_> = console
            .audit()
            .await
            .into_iter()
            .filter(|e| e.record.target == target)
            .collect();
        let last_state_event = events
            .iter()
            .rev()
            .find(|e| {
                e.record.actor == "signalbox-engine"
                    && e.record.action.starts_with("deployment.")
                    && DeploymentState::parse(&e.record.action["deployment.".len()..]).is_some()
            })
            .map(|e| e.record.action.clone());
        assert_eq!(
            last_state_event,
            Some(format!(
                "deployment.{}",
                final_detail.summary.state.as_str()
            )),
            "{label}"
        );
        let switch_events = events
            .iter()
            .filter(|e| e.record.action == "deployment.switch")
            .count();
        let switches_made = final_detail
            .steps
            .iter()
            .filter(|s| {
                s.kind == "switch"
                    && s.state == "done"
                    && (s.applied_by.as_deref() == Some("call")
                        || (s.applied_by.as_deref() == Some("observed") && s.attempts > 0))
            })
            .count();
        assert_eq!(
            switch_events,
            switches_made,
            "{label}\n{}",
            steps_of(&final_detail)
        );

        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            fault.step,
            fault.operation,
            fault.what,
            if faulted.is_empty() {
                "SDK retries absorbed it".to_string()
            } else {
                faulted
            },
            match first_state {
                DeploymentState::Halted => format!(
                    "halted: {}",
                    first.summary.reason.clone().unwrap_or_default()
                ),
                other => other.label().to_string(),
            },
            match fault.halts_then {
                None => "—",
                Some(Remedy::Retry) => "retry step",
                Some(Remedy::RollBack) => "roll back",
            },
            final_detail.summary.state.label(),
            counts.join(", ")
        ));
    }
    assert!(server::audit::verify(&console.running.storage)
        .await
        .unwrap()
        .is_intact());
    table
}

fn write_table(backend: &str, table: &str) {
    let dir = support::moto::repo_root().join("target/faults");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("engine-{backend}.md")), table).unwrap();
    println!("{table}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_step_survives_aws_faults_in_a_safe_explained_state_on_sqlite() {
    let console = start(None).await;
    let table = run_matrix(&console, "sqlite").await;
    write_table("sqlite", &table);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_step_survives_aws_faults_in_a_safe_explained_state_on_postgres() {
    let database = support::postgres::create_database().await;
    let console = start(Some(&database.url)).await;
    let table = run_matrix(&console, "postgres").await;
    write_table("postgres", &table);
    drop(console);
    support::postgres::drop_database(&database).await;
}

/// PostgreSQL goes away while AWS applies the switch: the answer cannot be written. The engine keeps no state
/// of its own, so when the database is back it reads the listener, finds the switch made, records it (with its
/// audit event) and finishes; the listener changed once.
#[tokio::test(flavor = "multi_thread")]
async fn the_database_dropped_in_the_middle_of_a_switch_is_recovered_from_aws() {
    let database = support::postgres::create_database().await;
    let console = start(Some(&database.url)).await;
    let ci = token(&console, &["releases:write"]).await;
    let eddie = console.browser_as("eddie").await;
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&support::postgres::admin_url())
        .await
        .unwrap();

    // The switch is applied at once; its answer comes 1.5 s later, into a console without a database.
    console.moto.control(
        "/signalbox-moto/faults",
        r#"{"operation": "ModifyListener", "delay_ms": 1500, "phase": "after", "count": 1}"#,
    );
    let release = register(&console, &ci, "8.0.0", "accunode-api:8.0.0").await;
    let _ = console.moto.aws_requests(true).await;
    let id = request(&eddie, &console, &release.id, "staging")
        .await
        .summary
        .id;
    console
        .moto
        .wait_for_call(
            "elasticloadbalancing:ModifyListener",
            1,
            Duration::from_secs(60),
        )
        .await
        .expect("the switch was sent");
    // No new connections, and the console's are cut: 5 s without a database (its pool waits 2 s at most).
    sqlx::query(&format!(
        "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
        database.name
    ))
    .execute(&admin)
    .await
    .unwrap();
    let cut: Vec<(bool,)> =
        sqlx::query_as("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&database.name)
            .fetch_all(&admin)
            .await
            .unwrap();
    assert!(!cut.is_empty(), "the console had connections to cut");
    tokio::time::sleep(Duration::from_secs(5)).await;
    sqlx::query(&format!(
        "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
        database.name
    ))
    .execute(&admin)
    .await
    .unwrap();

    let done = wait_settled(&console, &id).await;
    assert_eq!(
        done.summary.state,
        DeploymentState::Done,
        "{:?}\n{}",
        done.summary.reason,
        steps_of(&done)
    );
    assert_listener_matches(&console, &done).await;
    let switch = done.steps.iter().find(|s| s.kind == "switch").unwrap();
    assert_eq!(switch.attempts, 1, "{switch:?}");
    // The answer never made it to the database: the switch was found made, not recorded from the call.
    assert_eq!(switch.applied_by.as_deref(), Some("observed"), "{switch:?}");
    assert!(switch.calls.is_empty(), "{switch:?}");
    assert_eq!(
        received_calls(&console)
            .await
            .get("ModifyListener")
            .copied(),
        Some(1),
        "the listener changed once"
    );
    let events = console.audit().await;
    let target = format!("deployment/{id}");
    let switch_event = events
        .iter()
        .find(|e| e.record.target == target && e.record.action == "deployment.switch")
        .expect("the switch has its audit event");
    assert!(
        switch_event.record.parameters.contains("observed")
            || switch.applied_by.as_deref() == Some("call"),
        "{switch_event:?}"
    );
    assert!(server::audit::verify(&console.running.storage)
        .await
        .unwrap()
        .is_intact());
    admin.close().await;
    drop(console);
    support::postgres::drop_database(&database).await;
}
