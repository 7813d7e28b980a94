//! A console process killed mid-switch: replica A has sent ModifyListener and the emulator has applied it, but
//! A dies before the answer arrives (the harness holds it). Replica B, on the same PostgreSQL, takes the lease
//! when it runs out, reads the listener, finds it already on green, records the step as found done and finishes
//! the deployment. Each change reached AWS exactly once.

mod support;

use app::dto::{CreatedToken, DeploymentDetail, DeploymentState};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::browser::Browser;
use support::idp::Idp;
use support::moto::{free_port, repo_root, Moto};
use support::replica::{wait_ready, Replica};

fn start(
    port: u16,
    config: &std::path::Path,
    database_url: &str,
    idp: &Idp,
    moto: &Moto,
) -> Replica {
    let base = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .current_dir(repo_root())
        .env("SIGNALBOX_CONFIG", config)
        .env("SIGNALBOX_LISTEN", format!("127.0.0.1:{port}"))
        .env("SIGNALBOX_PUBLIC_URL", &base)
        .env("DATABASE_URL", database_url)
        .env("SIGNALBOX_OIDC_ISSUER", &idp.issuer)
        .env("SIGNALBOX_OIDC_CLIENT_SECRET", "signalbox-demo-secret")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SIGNALBOX_AWS_MAX_ATTEMPTS", "1")
        .env("SIGNALBOX_AWS_ATTEMPT_TIMEOUT_MS", "20000")
        .env("SIGNALBOX_AWS_OPERATION_TIMEOUT_MS", "30000")
        .env("SIGNALBOX_POLL_INTERVAL_SECS", "1")
        .env("SIGNALBOX_ENGINE_LEASE_SECS", "3")
        .env("SIGNALBOX_ENGINE_POLL_MS", "100")
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the signalbox binary");
    Replica { base, child }
}

async fn api(
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_after_aws_applied_the_switch_is_finished_by_another_with_one_listener_change(
) {
    let database = support::postgres::create_database().await;
    let moto = Moto::seeded(&repo_root().join("signalbox.example.toml"));
    moto.control(
        "/signalbox-moto/config",
        r#"{"backup_settle_secs": 0.3, "ecs_settle_secs": 0.3}"#,
    );
    // Production as configured, but approved on request, a 2-second bake and the old colour kept 1 second.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("signalbox.toml");
    let text = std::fs::read_to_string(repo_root().join("signalbox.example.toml"))
        .unwrap()
        .replace("approvals_required = 1 ", "approvals_required = 0 ")
        .replace("bake_secs = 600 ", "bake_secs = 2 ")
        .replace("scale_down_delay_secs = 900 ", "scale_down_delay_secs = 1 ");
    assert!(text.contains("bake_secs = 2 "));
    std::fs::write(&config, text).unwrap();

    let (port_a, port_b) = (free_port(), free_port());
    let bases = [
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    ];
    let idp = Idp::start(&bases);
    let mut a = start(port_a, &config, &database.url, &idp, &moto);
    wait_ready(&a.base).await;
    let admin = Browser::new();
    assert_eq!(admin.sign_in(&a.base, "ada", "/").await.status, 200);
    let created = admin
        .post_form(
            &format!("{}/api/tokens/create", a.base),
            &[
                ("name", "ci"),
                ("scopes[0]", "releases:write"),
                ("scopes[1]", "deployments:request"),
                ("scopes[2]", "read"),
                ("valid_days", "1"),
            ],
        )
        .await;
    let token = serde_json::from_str::<CreatedToken>(&created.body)
        .unwrap()
        .secret;

    // Replica A will send the ModifyListener; the emulator applies it and holds the answer for 20 s.
    moto.control(
        "/signalbox-moto/faults",
        r#"{"operation": "ModifyListener", "delay_ms": 20000, "phase": "after", "count": 1}"#,
    );
    let _ = moto.aws_requests(true).await;
    let release = api(
        &a.base,
        &token,
        reqwest::Method::POST,
        "/api/v1/releases",
        Some(serde_json::json!({
            "service": "api", "version": "5.0.0", "image": "accunode-api:5.0.0"
        })),
    )
    .await;
    let requested = api(
        &a.base,
        &token,
        reqwest::Method::POST,
        "/api/v1/deployments",
        Some(serde_json::json!({
            "release": release["id"], "environment": "production"
        })),
    )
    .await;
    let id = requested["summary"]["id"].as_str().unwrap().to_string();

    // As soon as the ModifyListener reached the emulator, A dies: SIGKILL, nothing recorded after the call.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let counts = moto.requests_by_operation().await;
        if counts
            .get("elasticloadbalancing:ModifyListener")
            .copied()
            .unwrap_or(0)
            >= 1
        {
            break;
        }
        assert!(Instant::now() < deadline, "A never switched: {counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.child.kill().unwrap();
    a.child.wait().unwrap();

    // B starts on the same database, waits out A's 3-second lease, and finishes.
    let b = start(port_b, &config, &database.url, &idp, &moto);
    wait_ready(&b.base).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let done: DeploymentDetail = loop {
        let waited = api(
            &b.base,
            &token,
            reqwest::Method::GET,
            &format!("/api/v1/deployments/{id}/wait?timeout_secs=10"),
            None,
        )
        .await;
        let detail: DeploymentDetail =
            serde_json::from_value(waited["deployment"].clone()).unwrap();
        if detail.summary.state.is_terminal() || detail.summary.state == DeploymentState::Halted {
            break detail;
        }
        assert!(
            Instant::now() < deadline,
            "not finished: {:?}",
            detail.summary
        );
    };
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
    assert!(server::audit::verify(&store)
        .await
        .unwrap()
        .broken
        .is_none());
    drop(b);
    support::postgres::drop_database(&database).await;
}
