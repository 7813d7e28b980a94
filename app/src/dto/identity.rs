//! Wire types of the audit trail and API tokens.

use crate::auth::Scope;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allowed,
    Denied,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        [Outcome::Allowed, Outcome::Denied, Outcome::Failed]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// What happened, before it is sealed into the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The IdP subject, `token:<id>`, `anonymous` or `system`.
    pub actor: String,
    /// user, token, anonymous or system.
    pub actor_kind: String,
    /// The actor's roles (users) or scopes (tokens) when it acted, comma-separated.
    pub authority: String,
    /// Dotted verb, e.g. `auth.sign_in`, `token.create`, `audit.view`.
    pub action: String,
    /// What the action was on (a token id, an environment/service, a URL path).
    pub target: String,
    pub environment: Option<String>,
    /// The parameters, or before/after, as a JSON object.
    pub parameters: String,
    pub outcome: Outcome,
    pub reason: String,
    pub request_id: String,
    pub client_addr: String,
}

impl AuditRecord {
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// `parameters` must be a JSON object; anything else is stored as `{"value": …}`.
    pub fn parameters(mut self, parameters: String) -> Self {
        self.parameters = parameters;
        self
    }
}

/// A sealed event: its place in the chain, when, and the hashes that link it to the one before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub seq: i64,
    /// RFC 3339, UTC, microseconds: the exact text that was hashed.
    pub occurred_at: String,
    #[serde(flatten)]
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

/// The Audit page's filters; every field optional. Times are RFC 3339 or a plain date (YYYY-MM-DD).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub environment: Option<String>,
    pub from: Option<String>,
    pub until: Option<String>,
    /// Exactly this target, e.g. `deployment/dep-…`.
    #[serde(default)]
    pub target: Option<String>,
}

impl AuditFilter {
    /// Each filter with its query-string name, in the order the page shows them.
    pub fn fields(&self) -> [(&'static str, &Option<String>); 6] {
        [
            ("actor", &self.actor),
            ("action", &self.action),
            ("environment", &self.environment),
            ("from", &self.from),
            ("until", &self.until),
            ("target", &self.target),
        ]
    }
}

/// One page, newest first; `next` is the cursor for the following (older) page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next: Option<i64>,
}

/// The tamper check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    pub events: i64,
    /// The hash of the newest event: write it down elsewhere to detect a truncated tail later.
    pub head: Option<String>,
    pub broken: Option<BrokenLink>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenLink {
    pub seq: i64,
    pub problem: String,
}

impl ChainReport {
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }

    pub fn summary(&self) -> String {
        match &self.broken {
            None => format!(
                "intact: {} events, head {}",
                self.events,
                self.head.as_deref().unwrap_or("(empty)")
            ),
            Some(link) => format!("broken at event {}: {}", link.seq, link.problem),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
}

/// A token just created: the only time its secret leaves the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: ApiTokenView,
    pub secret: String,
}
