//! A whole console for a test: moto (seeded with the example topology or empty), the real OpenID provider, a
//! database (SQLite in a temporary directory unless the test gives a PostgreSQL URL), started on port 0.

use super::browser::Browser;
use super::idp::Idp;
use super::moto::{repo_root, Moto};
use server::bootstrap::{self, Running};
use server::config::Config;
use server::secret::DatabaseUrl;

pub struct TestConsole {
    pub running: Running,
    pub idp: Idp,
    pub moto: Moto,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    _dir: tempfile::TempDir,
}

/// Points the configuration's sign-in at `issuer` and its public URL at `base`.
pub fn point_identity(config: &mut Config, issuer: &str, base: &str) {
    config.server.public_url = url::Url::parse(base).unwrap();
    let identity = config.identity.as_mut().expect("identity configured");
    identity.issuer = url::Url::parse(issuer).unwrap();
    identity.redirect_url = url::Url::parse(&format!("{base}/auth/callback")).unwrap();
    identity.post_logout_url = url::Url::parse(&format!("{base}/auth/signed-out")).unwrap();
}

impl TestConsole {
    /// `seeded`: build the example topology in moto first. `configure` adjusts the configuration last.
    pub async fn start(seeded: bool, configure: impl FnOnce(&mut Config)) -> TestConsole {
        let moto = if seeded {
            Moto::seeded(&repo_root().join("signalbox.example.toml"))
        } else {
            Moto::start()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let idp = Idp::start(std::slice::from_ref(&base));
        let dir = tempfile::tempdir().unwrap();
        let mut config = moto.example_config();
        config.database.url = DatabaseUrl::new(format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("signalbox.db").display()
        ));
        point_identity(&mut config, &idp.issuer, &base);
        configure(&mut config);
        let running = bootstrap::start(config, listener)
            .await
            .expect("console starts");
        TestConsole {
            running,
            idp,
            moto,
            base,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A browser signed in as `user` (a demo user: vera, eddie, rita, audrey, ada).
    pub async fn browser_as(&self, user: &str) -> Browser {
        let browser = Browser::new();
        let landed = browser.sign_in(&self.base, user, "/").await;
        if landed.status != 200 {
            let reasons: Vec<String> = self
                .audit()
                .await
                .into_iter()
                .map(|e| {
                    format!(
                        "{} {:?} {}",
                        e.record.action, e.record.outcome, e.record.reason
                    )
                })
                .collect();
            panic!(
                "{user} did not land on the overview ({}): {reasons:#?}",
                landed.status
            );
        }
        browser
    }

    /// Every audit event, oldest first.
    pub async fn audit(&self) -> Vec<app::dto::AuditEvent> {
        self.running.storage.audit_chain(0, 100_000).await.unwrap()
    }
}
