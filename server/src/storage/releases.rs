//! Releases, deployments and their steps, approvals and AWS calls. Every change to a deployment goes through
//! [`ReleaseStore::commit`]: one transaction, guarded by the row's `version` (so a worker whose lease was taken
//! over, or that raced a person's action, writes nothing), with its audit events.

use super::StorageError;
use app::dto::AuditRecord;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReleaseRow {
    pub seq: i64,
    pub id: String,
    pub service: String,
    pub version: String,
    pub image: String,
    pub digest: Option<String>,
    pub commit_sha: String,
    pub notes: String,
    pub ticket_url: Option<String>,
    /// JSON: environment variables, CPU and memory the release sets.
    pub change: String,
    pub registered_by: String,
    pub registered_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeploymentRow {
    pub seq: i64,
    pub id: String,
    pub environment: String,
    pub service: String,
    pub release_id: String,
    pub state: String,
    /// The terminal state a cleanup ends in (failed or cancelled).
    pub ending: Option<String>,
    pub paused: bool,
    pub from_colour: String,
    pub to_colour: String,
    pub requested_by: String,
    pub requested_by_name: String,
    pub requested_at: OffsetDateTime,
    pub approvals_required: i32,
    /// JSON: the plan frozen at request time.
    pub plan: String,
    /// Why it is halted, failed, cancelled or rolled back, in words.
    pub reason: Option<String>,
    /// JSON: the health rules that fired, with their numbers.
    pub outcome: Option<String>,
    pub break_glass: Option<String>,
    /// Unix milliseconds.
    pub next_run_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub lease_epoch: i64,
    /// Bumped by every write: the optimistic lock.
    pub version: i64,
    pub updated_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    /// The release's version, read with a list page (which leaves `plan` empty); `None` elsewhere.
    #[sqlx(default)]
    pub release_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StepRow {
    pub deployment_id: String,
    pub seq: i32,
    pub kind: String,
    pub phase: String,
    pub params: String,
    pub state: String,
    pub attempts: i32,
    pub not_before: Option<i64>,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    /// `call` when our request made the change, `observed` when AWS was already there (a resumed step).
    pub applied_by: Option<String>,
    pub detail: String,
    pub result: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AwsCallRow {
    pub deployment_id: String,
    pub step_seq: i32,
    pub operation: String,
    pub request_id: Option<String>,
    /// ok, error, or unknown (no answer: it may have been applied).
    pub outcome: String,
    pub error_code: Option<String>,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApprovalRow {
    pub deployment_id: String,
    pub actor: String,
    pub actor_name: String,
    pub decision: String,
    pub reason: String,
    pub decided_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A switch step that moved traffic: the deployment's (forward) or its rollback's.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SwitchRow {
    pub deployment_id: String,
    pub release_version: String,
    pub phase: String,
    /// The step's JSON: where the traffic went and how much.
    pub params: String,
    pub finished_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploymentQuery {
    pub environment: Option<String>,
    pub service: Option<String>,
    pub state: Option<String>,
    pub release_id: Option<String>,
}

/// One change to a deployment. `row.version` is the version read; the stored row gets `version + 1`.
#[derive(Debug, Clone)]
pub struct Commit {
    pub row: DeploymentRow,
    /// Inserted, or replacing the step with the same `seq`.
    pub steps: Vec<StepRow>,
    /// Inserted only while the requester is someone else (the SQL says so too).
    pub approval: Option<ApprovalRow>,
    pub aws_calls: Vec<AwsCallRow>,
    pub audit: Vec<AuditRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed,
    /// Someone wrote first (a person's action, or another replica): read again.
    Stale,
    /// Another deployment of the same environment and service is active.
    LaneBusy,
    /// The approval's author requested the deployment.
    SelfApproval,
}

#[async_trait::async_trait]
pub trait ReleaseStore: Send + Sync + 'static {
    /// Stores a release and its audit event; when `(service, version)` exists, returns that row and writes
    /// nothing (`false`).
    async fn insert_release(
        &self,
        release: &ReleaseRow,
        audit: &AuditRecord,
    ) -> Result<(ReleaseRow, bool), StorageError>;
    async fn release(&self, id: &str) -> Result<Option<ReleaseRow>, StorageError>;
    /// Newest first, `seq < before`.
    async fn releases(
        &self,
        service: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ReleaseRow>, StorageError>;

    async fn insert_deployment(
        &self,
        row: &DeploymentRow,
        steps: &[StepRow],
        audit: &AuditRecord,
    ) -> Result<DeploymentRow, StorageError>;
    async fn deployment(&self, id: &str) -> Result<Option<DeploymentRow>, StorageError>;
    /// Newest first, `seq < before`.
    async fn deployments(
        &self,
        query: &DeploymentQuery,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeploymentRow>, StorageError>;
    /// The unfinished deployments of one environment and service, oldest first: the queue.
    async fn lane(
        &self,
        environment: &str,
        service: &str,
    ) -> Result<Vec<DeploymentRow>, StorageError>;
    async fn steps(&self, deployment_id: &str) -> Result<Vec<StepRow>, StorageError>;
    async fn approvals(&self, deployment_id: &str) -> Result<Vec<ApprovalRow>, StorageError>;
    async fn aws_calls(&self, deployment_id: &str) -> Result<Vec<AwsCallRow>, StorageError>;
    /// The switches of one environment and service since `since`, oldest first, among its `recent` newest
    /// deployments (so the read stays small however long the history).
    async fn switches(
        &self,
        environment: &str,
        service: &str,
        since: OffsetDateTime,
        recent: u32,
    ) -> Result<Vec<SwitchRow>, StorageError>;

    async fn commit(&self, commit: &Commit) -> Result<CommitOutcome, StorageError>;
    /// Takes the lease of one deployment that is due and not leased (or whose lease ran out); returns its id.
    /// PostgreSQL skips rows another replica is claiming (`FOR UPDATE SKIP LOCKED`).
    async fn claim(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<String>, StorageError>;
}

/// The states a worker may pick up.
pub const CLAIMABLE: &str =
    "('queued', 'snapshot', 'deploying', 'ready', 'switching', 'baking', 'retiring', 'rolling_back')";

macro_rules! release_store_impl {
    ($store:ty, $backend:expr, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::releases::ReleaseStore for $store {
            async fn insert_release(
                &self,
                release: &$crate::storage::releases::ReleaseRow,
                audit: &app::dto::AuditRecord,
            ) -> Result<($crate::storage::releases::ReleaseRow, bool), $crate::storage::StorageError> {
                let mut tx = self.begin_chain().await?;
                let existing: Option<$crate::storage::releases::ReleaseRow> =
                    sqlx::query_as("SELECT * FROM releases WHERE service = $1 AND version = $2")
                        .bind(&release.service)
                        .bind(&release.version)
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some(existing) = existing {
                    return Ok((existing, false));
                }
                let stored: $crate::storage::releases::ReleaseRow = sqlx::query_as(
                    "INSERT INTO releases (id, service, version, image, digest, commit_sha, notes, ticket_url, change,
                         registered_by, registered_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *",
                )
                .bind(&release.id)
                .bind(&release.service)
                .bind(&release.version)
                .bind(&release.image)
                .bind(&release.digest)
                .bind(&release.commit_sha)
                .bind(&release.notes)
                .bind(&release.ticket_url)
                .bind(&release.change)
                .bind(&release.registered_by)
                .bind(release.registered_at)
                .fetch_one(&mut *tx)
                .await?;
                Self::append_audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok((stored, true))
            }

            async fn release(
                &self,
                id: &str,
            ) -> Result<Option<$crate::storage::releases::ReleaseRow>, $crate::storage::StorageError> {
                Ok(sqlx::query_as("SELECT * FROM releases WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn releases(
                &self,
                service: Option<&str>,
                before: Option<i64>,
                limit: u32,
            ) -> Result<Vec<$crate::storage::releases::ReleaseRow>, $crate::storage::StorageError> {
                // Only the filters present become conditions (see `audit_page` for why).
                let mut sql = sqlx::QueryBuilder::<$db>::new("SELECT * FROM releases WHERE TRUE");
                if let Some(service) = service {
                    sql.push(" AND service = ").push_bind(service.to_owned());
                }
                if let Some(before) = before {
                    sql.push(" AND seq < ").push_bind(before);
                }
                sql.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(limit));
                Ok(sql.build_query_as().fetch_all(&self.pool).await?)
            }

            async fn insert_deployment(
                &self,
                row: &$crate::storage::releases::DeploymentRow,
                steps: &[$crate::storage::releases::StepRow],
                audit: &app::dto::AuditRecord,
            ) -> Result<$crate::storage::releases::DeploymentRow, $crate::storage::StorageError> {
                let mut tx = self.begin_chain().await?;
                let stored: $crate::storage::releases::DeploymentRow = sqlx::query_as(
                    "INSERT INTO deployments (id, environment, service, release_id, state, ending, paused, from_colour,
                         to_colour, requested_by, requested_by_name, requested_at, approvals_required, plan, reason,
                         outcome, break_glass, next_run_at, lease_owner, lease_until, lease_epoch, version, updated_at,
                         finished_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, NULL, NULL,
                         0, 0, $19, NULL)
                     RETURNING *",
                )
                .bind(&row.id)
                .bind(&row.environment)
                .bind(&row.service)
                .bind(&row.release_id)
                .bind(&row.state)
                .bind(&row.ending)
                .bind(row.paused)
                .bind(&row.from_colour)
                .bind(&row.to_colour)
                .bind(&row.requested_by)
                .bind(&row.requested_by_name)
                .bind(row.requested_at)
                .bind(row.approvals_required)
                .bind(&row.plan)
                .bind(&row.reason)
                .bind(&row.outcome)
                .bind(&row.break_glass)
                .bind(row.next_run_at)
                .bind(row.updated_at)
                .fetch_one(&mut *tx)
                .await?;
                for step in steps {
                    Self::upsert_step(&mut tx, step).await?;
                }
                Self::append_audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(stored)
            }

            async fn deployment(
                &self,
                id: &str,
            ) -> Result<Option<$crate::storage::releases::DeploymentRow>, $crate::storage::StorageError> {
                Ok(sqlx::query_as("SELECT * FROM deployments WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn deployments(
                &self,
                query: &$crate::storage::releases::DeploymentQuery,
                before: Option<i64>,
                limit: u32,
            ) -> Result<Vec<$crate::storage::releases::DeploymentRow>, $crate::storage::StorageError> {
                // A page of the history needs no plan (kilobytes of JSON per row): the version comes from the
                // release instead.
                // Only the filters present become conditions (see `audit_page` for why).
                let mut sql = sqlx::QueryBuilder::<$db>::new(
                    "SELECT d.seq, d.id, d.environment, d.service, d.release_id, d.state, d.ending, d.paused,
                            d.from_colour, d.to_colour, d.requested_by, d.requested_by_name, d.requested_at,
                            d.approvals_required, '' AS plan, d.reason, d.outcome, d.break_glass, d.next_run_at,
                            d.lease_owner, d.lease_until, d.lease_epoch, d.version, d.updated_at, d.finished_at,
                            r.version AS release_version
                     FROM deployments d JOIN releases r ON r.id = d.release_id WHERE TRUE",
                );
                if let Some(environment) = &query.environment {
                    sql.push(" AND d.environment = ").push_bind(environment.clone());
                }
                if let Some(service) = &query.service {
                    sql.push(" AND d.service = ").push_bind(service.clone());
                }
                if let Some(state) = &query.state {
                    sql.push(" AND d.state = ").push_bind(state.clone());
                }
                if let Some(release_id) = &query.release_id {
                    sql.push(" AND d.release_id = ").push_bind(release_id.clone());
                }
                if let Some(before) = before {
                    sql.push(" AND d.seq < ").push_bind(before);
                }
                sql.push(" ORDER BY d.seq DESC LIMIT ").push_bind(i64::from(limit));
                Ok(sql.build_query_as().fetch_all(&self.pool).await?)
            }

            async fn lane(
                &self,
                environment: &str,
                service: &str,
            ) -> Result<Vec<$crate::storage::releases::DeploymentRow>, $crate::storage::StorageError> {
                Ok(sqlx::query_as(
                    "SELECT * FROM deployments WHERE environment = $1 AND service = $2
                       AND state NOT IN ('done', 'rolled_back', 'failed', 'cancelled', 'rejected')
                     ORDER BY seq",
                )
                .bind(environment)
                .bind(service)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn steps(
                &self,
                deployment_id: &str,
            ) -> Result<Vec<$crate::storage::releases::StepRow>, $crate::storage::StorageError> {
                Ok(sqlx::query_as("SELECT * FROM deployment_steps WHERE deployment_id = $1 ORDER BY seq")
                    .bind(deployment_id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn approvals(
                &self,
                deployment_id: &str,
            ) -> Result<Vec<$crate::storage::releases::ApprovalRow>, $crate::storage::StorageError> {
                Ok(sqlx::query_as(
                    "SELECT * FROM deployment_approvals WHERE deployment_id = $1 ORDER BY decided_at",
                )
                .bind(deployment_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn aws_calls(
                &self,
                deployment_id: &str,
            ) -> Result<Vec<$crate::storage::releases::AwsCallRow>, $crate::storage::StorageError> {
                Ok(sqlx::query_as(
                    "SELECT deployment_id, step_seq, operation, request_id, outcome, error_code, at
                     FROM deployment_aws_calls WHERE deployment_id = $1 ORDER BY id",
                )
                .bind(deployment_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn switches(
                &self,
                environment: &str,
                service: &str,
                since: ::time::OffsetDateTime,
                recent: u32,
            ) -> Result<Vec<$crate::storage::releases::SwitchRow>, $crate::storage::StorageError> {
                Ok(sqlx::query_as(
                    "SELECT s.deployment_id, r.version AS release_version, s.phase, s.params, s.finished_at
                     FROM (SELECT id, release_id FROM deployments WHERE environment = $1 AND service = $2
                           ORDER BY seq DESC LIMIT $4) d
                     JOIN deployment_steps s ON s.deployment_id = d.id
                     JOIN releases r ON r.id = d.release_id
                     WHERE s.kind = 'switch' AND s.state = 'done' AND s.finished_at >= $3
                     ORDER BY s.finished_at",
                )
                .bind(environment)
                .bind(service)
                .bind(since)
                .bind(i64::from(recent))
                .fetch_all(&self.pool)
                .await?)
            }

            async fn commit(
                &self,
                commit: &$crate::storage::releases::Commit,
            ) -> Result<$crate::storage::releases::CommitOutcome, $crate::storage::StorageError> {
                use $crate::storage::releases::CommitOutcome;
                let mut tx = self.begin_chain().await?;
                let row = &commit.row;
                let updated = sqlx::query(
                    "UPDATE deployments SET state = $3, ending = $4, paused = $5, reason = $6, outcome = $7,
                         break_glass = $8, next_run_at = $9, lease_owner = $10, lease_until = $11, updated_at = $12,
                         finished_at = $13, to_colour = $14, from_colour = $15, plan = $16, version = version + 1
                     WHERE id = $1 AND version = $2",
                )
                .bind(&row.id)
                .bind(row.version)
                .bind(&row.state)
                .bind(&row.ending)
                .bind(row.paused)
                .bind(&row.reason)
                .bind(&row.outcome)
                .bind(&row.break_glass)
                .bind(row.next_run_at)
                .bind(&row.lease_owner)
                .bind(row.lease_until)
                .bind(row.updated_at)
                .bind(row.finished_at)
                .bind(&row.to_colour)
                .bind(&row.from_colour)
                .bind(&row.plan)
                .execute(&mut *tx)
                .await;
                match updated {
                    Ok(done) if done.rows_affected() == 0 => return Ok(CommitOutcome::Stale),
                    Ok(_) => {}
                    Err(error) => {
                        if error.as_database_error().is_some_and(|e| e.is_unique_violation()) {
                            return Ok(CommitOutcome::LaneBusy);
                        }
                        return Err(error.into());
                    }
                }
                if let Some(approval) = &commit.approval {
                    // The requester never approves their own deployment, whatever the caller checked.
                    let inserted = sqlx::query(
                        "INSERT INTO deployment_approvals (deployment_id, actor, actor_name, decision, reason,
                             decided_at, expires_at)
                         SELECT $1, $2, $3, $4, $5, $6, $7 FROM deployments WHERE id = $1 AND requested_by <> $2",
                    )
                    .bind(&approval.deployment_id)
                    .bind(&approval.actor)
                    .bind(&approval.actor_name)
                    .bind(&approval.decision)
                    .bind(&approval.reason)
                    .bind(approval.decided_at)
                    .bind(approval.expires_at)
                    .execute(&mut *tx)
                    .await?;
                    if inserted.rows_affected() == 0 {
                        return Ok(CommitOutcome::SelfApproval);
                    }
                }
                for step in &commit.steps {
                    Self::upsert_step(&mut tx, step).await?;
                }
                for call in &commit.aws_calls {
                    sqlx::query(
                        "INSERT INTO deployment_aws_calls (deployment_id, step_seq, operation, request_id, outcome,
                             error_code, at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&call.deployment_id)
                    .bind(call.step_seq)
                    .bind(&call.operation)
                    .bind(&call.request_id)
                    .bind(&call.outcome)
                    .bind(&call.error_code)
                    .bind(call.at)
                    .execute(&mut *tx)
                    .await?;
                }
                for record in &commit.audit {
                    Self::append_audit_in(&mut tx, record).await?;
                }
                tx.commit().await?;
                Ok(CommitOutcome::Committed)
            }

            async fn claim(
                &self,
                owner: &str,
                now_ms: i64,
                lease_ms: i64,
            ) -> Result<Option<String>, $crate::storage::StorageError> {
                let lock = match $backend {
                    $crate::storage::Backend::Postgres => "FOR UPDATE SKIP LOCKED",
                    $crate::storage::Backend::Sqlite => "",
                };
                let sql = format!(
                    "UPDATE deployments SET lease_owner = $1, lease_until = $3, lease_epoch = lease_epoch + 1,
                         version = version + 1
                     WHERE id = (SELECT id FROM deployments
                                 WHERE state IN {} AND NOT paused AND next_run_at <= $2
                                   AND (lease_until IS NULL OR lease_until < $2)
                                 ORDER BY next_run_at, seq LIMIT 1 {lock})
                       AND (lease_until IS NULL OR lease_until < $2)
                     RETURNING id",
                    $crate::storage::releases::CLAIMABLE
                );
                let claimed: Option<(String,)> = sqlx::query_as(&sql)
                    .bind(owner)
                    .bind(now_ms)
                    .bind(now_ms + lease_ms)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(claimed.map(|(id,)| id))
            }
        }

        impl $store {
            async fn upsert_step(
                tx: &mut sqlx::Transaction<'static, $db>,
                step: &$crate::storage::releases::StepRow,
            ) -> Result<(), $crate::storage::StorageError> {
                sqlx::query(
                    "INSERT INTO deployment_steps (deployment_id, seq, kind, phase, params, state, attempts, not_before,
                         started_at, finished_at, applied_by, detail, result, error)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                     ON CONFLICT (deployment_id, seq) DO UPDATE SET kind = excluded.kind, phase = excluded.phase,
                         params = excluded.params, state = excluded.state,
                         attempts = excluded.attempts, not_before = excluded.not_before,
                         started_at = excluded.started_at, finished_at = excluded.finished_at,
                         applied_by = excluded.applied_by, detail = excluded.detail, result = excluded.result,
                         error = excluded.error",
                )
                .bind(&step.deployment_id)
                .bind(step.seq)
                .bind(&step.kind)
                .bind(&step.phase)
                .bind(&step.params)
                .bind(&step.state)
                .bind(step.attempts)
                .bind(step.not_before)
                .bind(step.started_at)
                .bind(step.finished_at)
                .bind(&step.applied_by)
                .bind(&step.detail)
                .bind(&step.result)
                .bind(&step.error)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use release_store_impl;
