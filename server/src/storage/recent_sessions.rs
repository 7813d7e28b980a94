//! Sessions this process read lately, kept in memory so that a page view does not ask the database for its
//! session each time. Only for a store no other process writes (SQLite): there every write passes through here
//! and drops the copy. With PostgreSQL another replica may sign the user in or out, so its sessions are always
//! read from the database.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

/// How long a kept session is used before it is read again: only memory is at stake (the copy is exact).
const KEEP_FOR: Duration = Duration::from_secs(30);
/// Past this many kept sessions the old ones are dropped, then all if that is not enough.
const CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
pub struct RecentSessions {
    inner: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    entries: HashMap<Id, (Record, Instant)>,
    /// Counts writes: a read that a write overtook must not keep what it read.
    writes: u64,
}

/// Taken before a database read; `keep` refuses the record if any session was written since.
#[derive(Debug, Clone, Copy)]
pub struct ReadTicket(u64);

impl RecentSessions {
    fn lock(&self) -> MutexGuard<'_, Kept> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The kept copy of session `id`, unless it is older than `KEEP_FOR` or the session has expired.
    pub fn get(&self, id: &Id) -> Option<Record> {
        let kept = self.lock();
        let (record, kept_at) = kept.entries.get(id)?;
        (kept_at.elapsed() < KEEP_FOR && record.expiry_date > OffsetDateTime::now_utc())
            .then(|| record.clone())
    }

    pub fn ticket(&self) -> ReadTicket {
        ReadTicket(self.lock().writes)
    }

    /// Keeps `record`, read from the database after `ticket` was taken, unless a session was written in
    /// between (the read may hold what that write replaced). Only records the database returned are kept: a
    /// client chooses the ids it sends.
    pub fn keep(&self, record: &Record, ticket: ReadTicket) {
        let mut kept = self.lock();
        if kept.writes != ticket.0 {
            return;
        }
        if kept.entries.len() >= CAPACITY && !kept.entries.contains_key(&record.id) {
            kept.entries
                .retain(|_, (_, kept_at)| kept_at.elapsed() < KEEP_FOR);
            if kept.entries.len() >= CAPACITY {
                kept.entries.clear();
            }
        }
        kept.entries
            .insert(record.id, (record.clone(), Instant::now()));
    }

    /// Drops the copy of `id`. Called before and after each write of it, so that neither a failed write nor a
    /// read racing it leaves a copy the database does not hold.
    pub fn forget(&self, id: &Id) {
        let mut kept = self.lock();
        kept.writes += 1;
        kept.entries.remove(id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: i128, expires_in: time::Duration) -> Record {
        Record {
            id: Id(id),
            data: Default::default(),
            expiry_date: OffsetDateTime::now_utc() + expires_in,
        }
    }

    #[test]
    fn a_kept_session_is_returned_until_forgotten() {
        let recent = RecentSessions::default();
        let mut session = record(1, time::Duration::hours(1));
        assert!(recent.get(&session.id).is_none());
        recent.keep(&session, recent.ticket());
        assert_eq!(
            recent.get(&session.id).unwrap().expiry_date,
            session.expiry_date
        );
        recent.forget(&session.id);
        assert!(recent.get(&session.id).is_none());
        session
            .data
            .insert("user".into(), serde_json::json!("vera"));
        recent.keep(&session, recent.ticket());
        assert_eq!(recent.get(&session.id).unwrap().data["user"], "vera");
    }

    #[test]
    fn a_read_overtaken_by_a_write_is_not_kept() {
        let recent = RecentSessions::default();
        let before = record(3, time::Duration::hours(1));
        let ticket = recent.ticket();
        // A write of any session lands between the database read and keeping what it returned.
        recent.forget(&Id(99));
        recent.keep(&before, ticket);
        assert!(recent.get(&before.id).is_none());
        recent.keep(&before, recent.ticket());
        assert!(recent.get(&before.id).is_some());
    }

    #[test]
    fn an_expired_session_is_not_returned() {
        let recent = RecentSessions::default();
        let session = record(2, time::Duration::seconds(-1));
        recent.keep(&session, recent.ticket());
        assert!(recent.get(&session.id).is_none());
    }

    #[test]
    fn memory_stays_bounded() {
        let recent = RecentSessions::default();
        for id in 0..(CAPACITY as i128 + 5) {
            recent.keep(&record(id, time::Duration::hours(1)), recent.ticket());
        }
        assert!(recent.len() <= CAPACITY, "{} kept", recent.len());
        // The newest is always kept.
        assert!(recent.get(&Id(CAPACITY as i128 + 4)).is_some());
    }
}
