//! A `signalbox` process of the real binary, killed when dropped, and the wait for it to be ready.

use std::process::Child;
use std::time::{Duration, Instant};

pub struct Replica {
    pub base: String,
    pub child: Child,
}

impl Replica {
    /// Starts the `signalbox` binary at `binary` on `port`, with `config`, `database_url`, the IdP and moto, AWS
    /// retries off (a fault is seen at once) and the engine polling fast; `extra` environment variables last.
    pub fn spawn(
        binary: &str,
        port: u16,
        config: &std::path::Path,
        database_url: &str,
        idp: &super::idp::Idp,
        moto: &super::moto::Moto,
        extra: &[(&str, &str)],
    ) -> Replica {
        let base = format!("http://127.0.0.1:{port}");
        let mut command = std::process::Command::new(binary);
        command
            .current_dir(super::moto::repo_root())
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
            .env("SIGNALBOX_ENGINE_POLL_MS", "100")
            .env("LOG_LEVEL", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit());
        for (name, value) in extra {
            command.env(name, value);
        }
        let child = command.spawn().expect("start the signalbox binary");
        Replica { base, child }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (up to 60 s) until `/readyz` answers 200.
pub async fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reqwest::get(format!("{base}/readyz"))
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "{base} did not become ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
