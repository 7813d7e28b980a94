//! The demo OpenID provider (end2end/idp, npm `oidc-provider`) on a free loopback port, started by the test and
//! gone with it (it exits when its stdin closes). Its fault switch makes it issue defective ID tokens.

use super::moto::{free_port, repo_root};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

pub struct Idp {
    pub issuer: String,
    child: Child,
    _stdin: ChildStdin,
}

impl Idp {
    /// Starts the provider with `consoles` (base URLs) registered as clients' redirect targets.
    pub fn start(consoles: &[String]) -> Idp {
        let server = repo_root().join("end2end/idp/server.mjs");
        assert!(
            repo_root()
                .join("end2end/idp/node_modules/oidc-provider")
                .exists(),
            "the IdP's npm modules are missing: run `make tools` (or end2end/stack/setup) first"
        );
        let port = free_port();
        let keys = std::env::temp_dir().join("signalbox-test-idp-jwks.json");
        let mut child = Command::new("node")
            .arg(server)
            .env("IDP_PORT", port.to_string())
            .env("IDP_CONSOLE_URLS", consoles.join(","))
            .env("IDP_EXIT_ON_STDIN_CLOSE", "1")
            .env("IDP_JWKS_FILE", keys)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node end2end/idp/server.mjs");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining: a closed pipe would make the provider's next write fail.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the IdP said `listening` within 30 s");
        let issuer = format!("http://127.0.0.1:{port}");
        assert_eq!(line.trim(), format!("listening {issuer}"));
        Idp {
            issuer,
            child,
            _stdin: stdin,
        }
    }

    /// Makes every ID token from now on defective in one way (see end2end/stack/README.md), or `none`.
    pub async fn fault(&self, mode: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/signalbox-idp/fault", self.issuer))
            .header("content-type", "application/json")
            .body(format!(r#"{{"id_token":"{mode}"}}"#))
            .send()
            .await
            .expect("fault switch");
        assert_eq!(response.status(), 200, "fault {mode}");
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
