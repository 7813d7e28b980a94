//! The audit trail: an append-only, hash-chained record of sign-ins, sign-outs, denied attempts, token uses and
//! state changes. [`chain`] seals and verifies; [`StoredAudit`] is the console's `AuditService`; [`export`]
//! streams it as CSV or JSON.

pub mod chain;
pub mod export;

use crate::storage::{AuditQuery, SharedStorage};
use app::dto::{AuditFilter, AuditPage, AuditRecord, ChainReport};
use app::error::AppError;
use app::services::AuditService;

/// Events read per round trip by the verifier and the export.
pub const BATCH: u32 = 1000;

pub struct StoredAudit {
    storage: SharedStorage,
}

impl StoredAudit {
    pub fn new(storage: SharedStorage) -> Self {
        StoredAudit { storage }
    }
}

/// Turns the page's filters into a query, refusing what cannot be read.
pub fn query_from(filter: &AuditFilter) -> Result<AuditQuery, AppError> {
    let text = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let time = |field: &str, value: &Option<String>| -> Result<Option<String>, AppError> {
        match text(value) {
            None => Ok(None),
            Some(v) => chain::parse_time(&v)
                .map(|at| Some(chain::canonical_time(at)))
                .ok_or_else(|| AppError::Validation {
                    field: field.into(),
                    message: format!("{v:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"),
                }),
        }
    };
    for (field, value) in filter.fields() {
        app::validate::optional_key(field, value.as_deref())?;
    }
    Ok(AuditQuery {
        actor: text(&filter.actor),
        action: text(&filter.action),
        environment: text(&filter.environment),
        from: time("from", &filter.from)?,
        until: time("until", &filter.until)?,
        target: text(&filter.target),
    })
}

/// Re-computes every link, oldest first, in batches.
pub async fn verify(storage: &SharedStorage) -> Result<ChainReport, crate::storage::StorageError> {
    let mut verifier = chain::Verifier::default();
    while let Some(after) = verifier.position() {
        let batch = storage.audit_chain(after, BATCH).await?;
        if batch.is_empty() {
            break;
        }
        batch.iter().for_each(|event| verifier.check(event));
    }
    Ok(verifier.finish())
}

#[async_trait::async_trait]
impl AuditService for StoredAudit {
    async fn record(&self, record: AuditRecord) -> Result<(), AppError> {
        self.storage.append_audit(&record).await?;
        Ok(())
    }

    async fn page(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<AuditPage, AppError> {
        let query = query_from(filter)?;
        let mut events = self.storage.audit_page(&query, before, limit + 1).await?;
        let next = if events.len() > limit as usize {
            events.truncate(limit as usize);
            events.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(AuditPage { events, next })
    }

    async fn verify(&self) -> Result<ChainReport, AppError> {
        Ok(verify(&self.storage).await?)
    }
}
