//! The `signalbox` binary.
//!
//!   signalbox                 start the console (the default)
//!   signalbox check-config    validate the configuration and print it, secrets redacted
//!   signalbox migrate         bring the database schema up to date and exit
//!   signalbox audit-verify    re-compute the audit trail's hash chain: exit 0 when intact, 1 at the first break
//!   signalbox token-create NAME SCOPE…   create an API token (30 days) and print its secret: the first CI token,
//!                             or a script's, without a browser; audited as the local operator

use server::bootstrap;
use server::config::Config;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// jemalloc, built in: under load glibc's malloc and free were the largest share of a page's CPU.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read when it starts: a background thread hands freed pages back to the system after
/// about a second, so memory falls back after a burst instead of staying at its peak (`_RJEM_MALLOC_CONF` in
/// the environment still overrides them).
#[export_name = "_rjem_malloc_conf"]
static JEMALLOC_CONF: MallocConf =
    MallocConf(c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr());

/// The `const char *` jemalloc looks for; a pointer to a string that never changes, so it may be shared.
#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);
unsafe impl Sync for MallocConf {}

const USAGE: &str = "usage: signalbox [serve | check-config | migrate | audit-verify | token-create NAME SCOPE…]\n\
configuration: SIGNALBOX_CONFIG=path/to/signalbox.toml plus environment variables; see signalbox.example.toml";

fn main() -> ExitCode {
    let command = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "serve".to_string());
    if matches!(command.as_str(), "-h" | "--help" | "help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let config = match Config::load_from_process() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("signalbox: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match command.as_str() {
        "serve" => runtime.block_on(serve(config)),
        "check-config" => {
            println!("{config:#?}");
            ExitCode::SUCCESS
        }
        "migrate" => runtime.block_on(async {
            match server::storage::connect(&config.database).await {
                Ok(storage) => {
                    let status = storage.schema_status().await;
                    println!("migrations applied: {status:?}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("signalbox: {e}");
                    ExitCode::FAILURE
                }
            }
        }),
        "audit-verify" => runtime.block_on(async {
            let storage = match server::storage::connect(&config.database).await {
                Ok(storage) => storage,
                Err(e) => {
                    eprintln!("signalbox: {e}");
                    return ExitCode::from(2);
                }
            };
            match server::audit::verify(&storage).await {
                Ok(report) => {
                    println!("audit trail {}", report.summary());
                    if report.is_intact() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("signalbox: {e}");
                    ExitCode::from(2)
                }
            }
        }),
        "token-create" => {
            let args: Vec<String> = std::env::args().skip(2).collect();
            runtime.block_on(token_create(&config, &args))
        }
        other => {
            eprintln!("signalbox: unknown command {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Creates an API token as the local operator (whoever can reach the database is trusted with it) and prints the
/// secret alone on stdout, for scripts.
async fn token_create(config: &Config, args: &[String]) -> ExitCode {
    use app::services::TokenService;
    const VALID_DAYS: u32 = 30;
    let Some((name, scopes)) = args.split_first() else {
        eprintln!("usage: signalbox token-create NAME SCOPE… (scopes: read, audit:read, releases:write, deployments:request, deployments:approve)");
        return ExitCode::from(2);
    };
    let (name, scopes) = match app::api::tokens::checked_token_request(name, scopes, VALID_DAYS) {
        Ok(checked) => checked,
        Err(e) => {
            eprintln!("signalbox: {e}");
            return ExitCode::from(2);
        }
    };
    let storage = match server::storage::connect(&config.database).await {
        Ok(storage) => storage,
        Err(e) => {
            eprintln!("signalbox: {e}");
            return ExitCode::from(2);
        }
    };
    let operator = app::auth::Principal {
        subject: "signalbox-cli".into(),
        name: "local operator".into(),
        kind: app::auth::PrincipalKind::User,
        roles: Vec::new(),
        scopes: Vec::new(),
        owner: None,
    };
    let audit = app::dto::AuditRecord {
        actor: operator.subject.clone(),
        actor_kind: "system".into(),
        authority: "database access".into(),
        action: "token.create".into(),
        target: String::new(),
        environment: None,
        parameters: "{}".into(),
        outcome: app::dto::Outcome::Allowed,
        reason: "created with signalbox token-create".into(),
        request_id: String::new(),
        client_addr: String::new(),
    };
    let tokens = server::identity::tokens::StoredTokens::new(storage);
    match tokens
        .create(&operator, &name, &scopes, VALID_DAYS, audit)
        .await
    {
        Ok(created) => {
            println!("{}", created.secret);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("signalbox: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_new(&config.log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if std::env::var("LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(config: Config) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(config.server.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "signalbox: cannot listen on {} (server.listen / SIGNALBOX_LISTEN): {e}",
                config.server.listen
            );
            return ExitCode::FAILURE;
        }
    };
    let public_url = config.server.public_url.clone();
    let mut running = match bootstrap::start(config, listener).await {
        Ok(running) => running,
        Err(e) => {
            // A failed migration lands here: the console does not start on a schema it does not understand.
            eprintln!("signalbox: start-up failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("Signalbox is up: open {public_url}");
    tokio::select! {
        result = running.wait() => {
            if let Err(e) = result {
                eprintln!("signalbox: server stopped: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
            match running.stop().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("signalbox: shutdown: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// SIGTERM (orchestrators) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
