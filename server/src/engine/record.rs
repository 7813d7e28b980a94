//! A deployment's steps as rows, and the edits the engine and people make to them. `Steps` keeps track of which
//! rows changed, so a commit writes only those.

use super::plan::{Phase, Step};
use crate::storage::{DeploymentRow, StepRow};
use time::OffsetDateTime;

impl Step {
    /// The step a row holds. Rows are written by this binary from `Step` values; an unreadable one (a newer
    /// binary's step kind) waits rather than being guessed at.
    pub fn from_row(row: &StepRow) -> Step {
        serde_json::from_str(&row.params).unwrap_or(Step::Pause { secs: 3600 })
    }
}

pub fn step_row(deployment_id: &str, seq: i32, step: &Step, phase: Phase) -> StepRow {
    StepRow {
        deployment_id: deployment_id.to_string(),
        seq,
        kind: step.kind().to_string(),
        phase: phase.as_str().to_string(),
        params: serde_json::to_string(step).expect("steps serialise"),
        state: "pending".into(),
        attempts: 0,
        not_before: None,
        started_at: None,
        finished_at: None,
        applied_by: None,
        detail: String::new(),
        result: None,
        error: None,
    }
}

pub struct Steps {
    deployment_id: String,
    rows: Vec<StepRow>,
    changed: Vec<bool>,
}

impl Steps {
    pub fn new(deployment: &DeploymentRow, rows: &[StepRow]) -> Steps {
        Steps {
            deployment_id: deployment.id.clone(),
            rows: rows.to_vec(),
            changed: vec![false; rows.len()],
        }
    }

    pub fn rows(&self) -> &[StepRow] {
        &self.rows
    }

    /// The first step not finished: the one the deployment is on.
    pub fn current_index(&self) -> Option<usize> {
        self.rows
            .iter()
            .position(|s| s.state == "pending" || s.state == "running")
    }

    pub fn current_mut(&mut self) -> Option<&mut StepRow> {
        let index = self.current_index()?;
        self.changed[index] = true;
        Some(&mut self.rows[index])
    }

    pub fn get_mut(&mut self, index: usize) -> &mut StepRow {
        self.changed[index] = true;
        &mut self.rows[index]
    }

    /// The step where the deployment could not go on (the gate failed, ECS's rollout failed): failed, with why.
    pub fn fail(&mut self, index: usize, reason: &str, now: OffsetDateTime) {
        let row = self.get_mut(index);
        row.state = "failed".into();
        row.finished_at = Some(now);
        row.error = Some(reason.to_string());
    }

    /// Marks every unfinished step skipped (a rollback or cancel replaces them).
    pub fn skip_remaining(&mut self, now: OffsetDateTime) {
        for (i, row) in self.rows.iter_mut().enumerate() {
            if row.state == "pending" || row.state == "running" {
                row.state = "skipped".into();
                row.finished_at = Some(now);
                self.changed[i] = true;
            }
        }
    }

    /// "Switch now": pending pauses are skipped, so the remaining switch steps run back to back.
    pub fn skip_pending_pauses(&mut self, now: OffsetDateTime) -> usize {
        let mut skipped = 0;
        for (i, row) in self.rows.iter_mut().enumerate() {
            if row.kind == "pause" && (row.state == "pending" || row.state == "running") {
                row.state = "skipped".into();
                row.finished_at = Some(now);
                row.detail = "skipped: switch now".into();
                self.changed[i] = true;
                skipped += 1;
            }
        }
        skipped
    }

    pub fn append(&mut self, steps: &[Step], phase: Phase) {
        let mut seq = self.rows.iter().map(|s| s.seq).max().unwrap_or(0);
        for step in steps {
            seq += 1;
            self.rows
                .push(step_row(&self.deployment_id, seq, step, phase));
            self.changed.push(true);
        }
    }

    pub fn changed(&self) -> Vec<StepRow> {
        self.rows
            .iter()
            .zip(&self.changed)
            .filter(|(_, changed)| **changed)
            .map(|(row, _)| row.clone())
            .collect()
    }

    /// The result a done step of `kind` recorded (e.g. the registered revision's ARN).
    pub fn result_of(&self, kind: &str) -> Option<serde_json::Value> {
        self.rows
            .iter()
            .rev()
            .filter(|s| s.kind == kind && s.state == "done")
            .find_map(|s| s.result.as_deref())
            .and_then(|r| serde_json::from_str(r).ok())
    }

    /// The shares the listener should have before a forward switch at `index`: the previous forward switch's,
    /// or all on the old colour.
    pub fn expected_before(&self, index: usize, from: crate::config::Colour) -> (u8, u8) {
        self.rows[..index]
            .iter()
            .rev()
            .filter(|s| {
                s.kind == "switch" && s.state == "done" && Phase::parse(&s.phase) == Phase::Forward
            })
            .find_map(|s| match Step::from_row(s) {
                Step::Switch { to, percent } => Some(super::plan::target_shares(to, percent)),
                _ => None,
            })
            .unwrap_or_else(|| super::plan::target_shares(from, 100))
    }
}
