//! The hash chain. Each event's hash is SHA-256 over its canonical form — a JSON array of every field in a fixed
//! order, the previous event's hash included — so changing, deleting or reordering any stored event breaks a link
//! that [`Verifier`] finds.

use app::dto::{AuditEvent, AuditRecord, BrokenLink, ChainReport};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The timestamp text that is stored and hashed: UTC, microseconds, so it sorts as text. Digits are written by
/// hand: `format!` cost ~3,500 instructions a call, and the Health page formats every task's and alarm's times on
/// each view (callgrind: 2 % of the page).
pub fn canonical_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    // Years past four digits or before year 0 (no time AWS or a person gives) take the slow path.
    let Some(year) = u32::try_from(at.year()).ok().filter(|year| *year <= 9999) else {
        return format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            at.microsecond()
        );
    };
    let mut out = String::with_capacity(27);
    push_padded(&mut out, year, 4);
    out.push('-');
    push_padded(&mut out, u32::from(u8::from(at.month())), 2);
    out.push('-');
    push_padded(&mut out, u32::from(at.day()), 2);
    out.push('T');
    push_padded(&mut out, u32::from(at.hour()), 2);
    out.push(':');
    push_padded(&mut out, u32::from(at.minute()), 2);
    out.push(':');
    push_padded(&mut out, u32::from(at.second()), 2);
    out.push('.');
    push_padded(&mut out, at.microsecond(), 6);
    out.push('Z');
    out
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_padded(out: &mut String, value: u32, width: u32) {
    for position in (0..width).rev() {
        let digit = value / 10u32.pow(position) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

/// Parses what people type into a time filter: RFC 3339, or a date (midnight UTC).
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at);
    }
    let date = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    Some(date.midnight().assume_utc())
}

pub fn hash_event(seq: i64, occurred_at: &str, record: &AuditRecord, prev_hash: &str) -> String {
    let canonical = serde_json::json!([
        seq,
        occurred_at,
        record.actor,
        record.actor_kind,
        record.authority,
        record.action,
        record.target,
        record.environment,
        record.parameters,
        record.outcome.as_str(),
        record.reason,
        record.request_id,
        record.client_addr,
        prev_hash,
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Seals `record` as the event after (`prev_seq`, `prev_hash`).
pub fn seal(record: AuditRecord, prev: Option<(i64, String)>, at: OffsetDateTime) -> AuditEvent {
    let (prev_seq, prev_hash) = prev.unwrap_or((0, GENESIS.to_string()));
    let seq = prev_seq + 1;
    let occurred_at = canonical_time(at);
    let hash = hash_event(seq, &occurred_at, &record, &prev_hash);
    AuditEvent {
        seq,
        occurred_at,
        record,
        prev_hash,
        hash,
    }
}

/// Walks the chain in `seq` order, batch by batch, and stops at the first broken link.
pub struct Verifier {
    expected_seq: i64,
    prev_hash: String,
    events: i64,
    broken: Option<BrokenLink>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            expected_seq: 1,
            prev_hash: GENESIS.to_string(),
            events: 0,
            broken: None,
        }
    }
}

impl Verifier {
    /// The `seq` to read after; `None` once a break was found.
    pub fn position(&self) -> Option<i64> {
        self.broken.is_none().then_some(self.expected_seq - 1)
    }

    pub fn check(&mut self, event: &AuditEvent) {
        if self.broken.is_some() {
            return;
        }
        let problem = if event.seq != self.expected_seq {
            Some(if event.seq > self.expected_seq {
                format!(
                    "events {} to {} are missing (deleted)",
                    self.expected_seq,
                    event.seq - 1
                )
            } else {
                format!("event {} appears out of order", event.seq)
            })
        } else if event.prev_hash != self.prev_hash {
            Some(format!(
                "does not link to event {}: the events were deleted, replaced or reordered",
                event.seq - 1
            ))
        } else if hash_event(
            event.seq,
            &event.occurred_at,
            &event.record,
            &event.prev_hash,
        ) != event.hash
        {
            Some("its content does not match its hash: the event was modified".to_string())
        } else {
            None
        };
        match problem {
            Some(problem) => {
                self.broken = Some(BrokenLink {
                    seq: event.seq.min(self.expected_seq),
                    problem,
                })
            }
            None => {
                self.events += 1;
                self.expected_seq += 1;
                self.prev_hash = event.hash.clone();
            }
        }
    }

    pub fn finish(self) -> ChainReport {
        ChainReport {
            events: self.events,
            head: (self.events > 0 && self.broken.is_none()).then_some(self.prev_hash),
            broken: self.broken,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::dto::Outcome;

    fn record(action: &str) -> AuditRecord {
        AuditRecord {
            actor: "rita".into(),
            actor_kind: "user".into(),
            authority: "approver".into(),
            action: action.into(),
            target: "production/api".into(),
            environment: Some("production".into()),
            parameters: r#"{"to":"green"}"#.into(),
            outcome: Outcome::Allowed,
            reason: String::new(),
            request_id: "r1".into(),
            client_addr: "127.0.0.1".into(),
        }
    }

    fn chain(n: usize) -> Vec<AuditEvent> {
        let mut events: Vec<AuditEvent> = Vec::new();
        for i in 0..n {
            let prev = events.last().map(|e| (e.seq, e.hash.clone()));
            events.push(seal(
                record(&format!("a{i}")),
                prev,
                OffsetDateTime::UNIX_EPOCH,
            ));
        }
        events
    }

    fn verify(events: &[AuditEvent]) -> ChainReport {
        let mut verifier = Verifier::default();
        events.iter().for_each(|e| verifier.check(e));
        verifier.finish()
    }

    #[test]
    fn an_untouched_chain_is_intact() {
        let events = chain(4);
        let report = verify(&events);
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.events, 4);
        assert_eq!(report.head.as_deref(), Some(events[3].hash.as_str()));
    }

    #[test]
    fn modification_deletion_and_reordering_are_found_at_the_first_broken_event() {
        let mut modified = chain(4);
        modified[2].record.parameters = r#"{"to":"blue"}"#.into();
        assert_eq!(verify(&modified).broken.unwrap().seq, 3);

        let mut deleted = chain(4);
        deleted.remove(1);
        let broken = verify(&deleted).broken.unwrap();
        assert_eq!(broken.seq, 2);
        assert!(broken.problem.contains("missing"), "{}", broken.problem);

        // Reordered rows keeping their seq numbers: the contents moved, so the links no longer hold.
        let mut reordered = chain(4);
        let (a, b) = (reordered[1].clone(), reordered[2].clone());
        reordered[1] = AuditEvent { seq: 2, ..b };
        reordered[2] = AuditEvent { seq: 3, ..a };
        assert_eq!(verify(&reordered).broken.unwrap().seq, 2);
    }

    #[test]
    fn canonical_time_is_fixed_width_utc() {
        let at = OffsetDateTime::parse("2026-11-29T10:00:00.1234567+01:00", &Rfc3339).unwrap();
        assert_eq!(canonical_time(at), "2026-11-29T09:00:00.123456Z");
        assert_eq!(
            canonical_time(parse_time("2026-11-29").unwrap()),
            "2026-11-29T00:00:00.000000Z"
        );
        let at = OffsetDateTime::parse("0987-01-02T03:04:05.000006Z", &Rfc3339).unwrap();
        assert_eq!(canonical_time(at), "0987-01-02T03:04:05.000006Z");
        let at = OffsetDateTime::parse("2026-12-31T23:59:59.999999999Z", &Rfc3339).unwrap();
        assert_eq!(canonical_time(at), "2026-12-31T23:59:59.999999Z");
    }
}
