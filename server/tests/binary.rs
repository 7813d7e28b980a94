//! The real `signalbox` binary: two processes on one PostgreSQL share sessions (a sign-out on either ends it for
//! both, as replicas behind a load balancer need), the OIDC client secret read from Parameter Store, and the
//! `audit-verify` command on an intact and a tampered database.

mod support;

use std::process::{Command, Stdio};
use support::browser::Browser;
use support::idp::Idp;
use support::moto::{free_port, repo_root, Moto};
use support::replica::{wait_ready, Replica};

fn start_replica(port: u16, database_url: &str, idp: &Idp, moto: &Moto) -> Replica {
    start_with(
        port,
        database_url,
        idp,
        moto,
        &[("SIGNALBOX_OIDC_CLIENT_SECRET", "signalbox-demo-secret")],
    )
}

fn start_with(
    port: u16,
    database_url: &str,
    idp: &Idp,
    moto: &Moto,
    extra: &[(&str, &str)],
) -> Replica {
    let base = format!("http://127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_signalbox"));
    command
        .current_dir(repo_root())
        .env(
            "SIGNALBOX_CONFIG",
            repo_root().join("signalbox.example.toml"),
        )
        .env("SIGNALBOX_LISTEN", format!("127.0.0.1:{port}"))
        .env("SIGNALBOX_PUBLIC_URL", &base)
        .env("DATABASE_URL", database_url)
        .env("SIGNALBOX_OIDC_ISSUER", &idp.issuer)
        .env_remove("SIGNALBOX_OIDC_CLIENT_SECRET")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SIGNALBOX_AWS_MAX_ATTEMPTS", "1")
        .env("LOG_LEVEL", "warn")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let child = command.spawn().expect("start the signalbox binary");
    Replica { base, child }
}

async fn whoami(browser: &Browser, base: &str) -> Option<String> {
    let page = browser.post_form(&format!("{base}/api/whoami"), &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let principal: Option<app::auth::Principal> = serde_json::from_str(&page.body).unwrap();
    principal.map(|p| p.subject)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_console_processes_on_one_postgres_share_sessions() {
    let database = support::postgres::create_database().await;
    let moto = Moto::seeded(&repo_root().join("signalbox.example.toml"));
    let (port_a, port_b) = (free_port(), free_port());
    let bases = [
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    ];
    let idp = Idp::start(&bases);
    let a = start_replica(port_a, &database.url, &idp, &moto);
    // Started together: both run the migrations; PostgreSQL's advisory lock makes one wait for the other.
    let b = start_replica(port_b, &database.url, &idp, &moto);
    wait_ready(&a.base).await;
    wait_ready(&b.base).await;

    // Cookies belong to the host, not the port: one browser, two replicas, like one load-balanced name.
    let browser = Browser::new();
    let landed = browser.sign_in(&a.base, "rita", "/").await;
    assert_eq!(landed.status, 200, "{}", landed.body);
    assert_eq!(whoami(&browser, &a.base).await.as_deref(), Some("rita"));
    assert_eq!(
        whoami(&browser, &b.base).await.as_deref(),
        Some("rita"),
        "replica B knows the session"
    );
    let page = browser.get(&format!("{}/env/production", b.base)).await;
    assert_eq!(page.status, 200, "B serves pages to A's session");

    let logout = browser
        .post_form(&format!("{}/auth/logout", b.base), &[])
        .await;
    assert_eq!(logout.status, 303);
    assert_eq!(
        whoami(&browser, &a.base).await,
        None,
        "signed out on B is signed out on A"
    );

    // Both wrote to one audit chain.
    let storage = server::storage::connect(&support::database_config(&database.url))
        .await
        .unwrap();
    let report = server::audit::verify(&storage).await.unwrap();
    assert!(report.is_intact() && report.events >= 2, "{report:?}");
    drop((a, b));
    support::postgres::drop_database(&database).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_oidc_client_secret_can_come_from_parameter_store() {
    let moto = Moto::start();
    moto.python(
        "client('ssm').put_parameter(Name='/signalbox/oidc-client-secret', Value='signalbox-demo-secret', \
         Type='SecureString')\n",
    );
    let port = free_port();
    let idp = Idp::start(&[format!("http://127.0.0.1:{port}")]);
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    let console = start_with(
        port,
        &database,
        &idp,
        &moto,
        &[
            (
                "SIGNALBOX_OIDC_CLIENT_SECRET_PARAMETER",
                "/signalbox/oidc-client-secret",
            ),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    wait_ready(&console.base).await;
    let browser = Browser::new();
    let landed = browser.sign_in(&console.base, "rita", "/").await;
    assert_eq!(
        landed.status, 200,
        "the token exchange used the secret from Parameter Store"
    );
    assert_eq!(
        whoami(&browser, &console.base).await.as_deref(),
        Some("rita")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_client_secret_parameter_stops_start_up_with_its_name() {
    let moto = Moto::start();
    let idp = Idp::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    let output = Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .current_dir(repo_root())
        .env(
            "SIGNALBOX_CONFIG",
            repo_root().join("signalbox.example.toml"),
        )
        .env("SIGNALBOX_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("DATABASE_URL", &database)
        .env("SIGNALBOX_OIDC_ISSUER", &idp.issuer)
        .env_remove("SIGNALBOX_OIDC_CLIENT_SECRET")
        .env("SIGNALBOX_OIDC_CLIENT_SECRET_PARAMETER", "/nowhere/secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "the console does not start without its client secret"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Parameter Store /nowhere/secret"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("x-amzn"),
        "the reason is ours, not the SDK's dump: {stderr}"
    );
}

fn audit_verify(database: &str) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .arg("audit-verify")
        .env("DATABASE_URL", database)
        .env_remove("SIGNALBOX_CONFIG")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run signalbox audit-verify");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_verify_command_reports_intact_or_the_first_broken_event() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    let storage = server::storage::connect(&support::database_config(&database))
        .await
        .unwrap();
    for i in 0..5 {
        let record = app::dto::AuditRecord {
            actor: "ada".into(),
            actor_kind: "user".into(),
            authority: "admin".into(),
            action: format!("test.{i}"),
            target: String::new(),
            environment: None,
            parameters: "{}".into(),
            outcome: app::dto::Outcome::Allowed,
            reason: String::new(),
            request_id: String::new(),
            client_addr: String::new(),
        };
        storage.append_audit(&record).await.unwrap();
    }
    let (code, out) = audit_verify(&database);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact: 5 events"), "{out}");

    let raw = sqlx::SqlitePool::connect(&database).await.unwrap();
    sqlx::query("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
        .execute(&raw)
        .await
        .unwrap();
    let (code, out) = audit_verify(&database);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("broken at event 2"), "{out}");
}
