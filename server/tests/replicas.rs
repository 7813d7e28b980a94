//! Two console processes (the real binary) on one PostgreSQL: a session made on one is valid on the other, and a
//! sign-out on either ends it for both — what several replicas behind a load balancer need.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::browser::Browser;
use support::idp::Idp;
use support::moto::{free_port, repo_root, Moto};

struct Replica {
    base: String,
    child: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_replica(port: u16, database_url: &str, idp: &Idp, moto: &Moto) -> Replica {
    let base = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .current_dir(repo_root())
        .env(
            "SIGNALBOX_CONFIG",
            repo_root().join("signalbox.example.toml"),
        )
        .env("SIGNALBOX_LISTEN", format!("127.0.0.1:{port}"))
        .env("SIGNALBOX_PUBLIC_URL", &base)
        .env("DATABASE_URL", database_url)
        .env("SIGNALBOX_OIDC_ISSUER", &idp.issuer)
        .env("SIGNALBOX_OIDC_CLIENT_SECRET", "signalbox-demo-secret")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("SIGNALBOX_AWS_MAX_ATTEMPTS", "1")
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the signalbox binary");
    Replica { base, child }
}

async fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = reqwest::get(format!("{base}/readyz")).await {
            if response.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{base} did not become ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
    let storage = server::storage::connect(&server::config::DatabaseConfig {
        url: server::secret::DatabaseUrl::new(database.url.clone()),
        pool_size: 2,
        pool_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap();
    let report = server::audit::verify(&storage).await.unwrap();
    assert!(report.is_intact() && report.events >= 2, "{report:?}");
    drop((a, b));
    support::postgres::drop_database(&database).await;
}
