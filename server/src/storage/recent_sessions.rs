//! Sessions this process read or wrote lately, kept in memory so that a page view does not ask the database for
//! its session each time. Only for a store no other process writes (SQLite): there the copy cannot go stale, as
//! every write passes through here first. With PostgreSQL another replica may sign the user in or out, so its
//! sessions are always read from the database.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};

/// How long a kept session is used before it is read again: only memory is at stake (the copy is exact).
const KEEP_FOR: Duration = Duration::from_secs(30);
/// Past this many kept sessions the old ones are dropped, then all if that is not enough.
const CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
pub struct RecentSessions {
    entries: Mutex<HashMap<Id, (Record, Instant)>>,
}

impl RecentSessions {
    /// The kept copy of session `id`, unless it is older than `KEEP_FOR` or the session has expired.
    pub fn get(&self, id: &Id) -> Option<Record> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (record, kept_at) = entries.get(id)?;
        (kept_at.elapsed() < KEEP_FOR && record.expiry_date > OffsetDateTime::now_utc())
            .then(|| record.clone())
    }

    /// Keeps `record` as the database now holds it. Unknown ids are never kept: a client chooses those.
    pub fn put(&self, record: &Record) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY && !entries.contains_key(&record.id) {
            entries.retain(|_, (_, kept_at)| kept_at.elapsed() < KEEP_FOR);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(record.id, (record.clone(), Instant::now()));
    }

    pub fn forget(&self, id: &Id) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
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
        recent.put(&session);
        assert_eq!(
            recent.get(&session.id).unwrap().expiry_date,
            session.expiry_date
        );
        session
            .data
            .insert("user".into(), serde_json::json!("vera"));
        recent.put(&session);
        assert_eq!(recent.get(&session.id).unwrap().data["user"], "vera");
        recent.forget(&session.id);
        assert!(recent.get(&session.id).is_none());
    }

    #[test]
    fn an_expired_session_is_not_returned() {
        let recent = RecentSessions::default();
        let session = record(2, time::Duration::seconds(-1));
        recent.put(&session);
        assert!(recent.get(&session.id).is_none());
    }

    #[test]
    fn memory_stays_bounded() {
        let recent = RecentSessions::default();
        for id in 0..(CAPACITY as i128 + 5) {
            recent.put(&record(id, time::Duration::hours(1)));
        }
        assert!(recent.len() <= CAPACITY, "{} kept", recent.len());
        // The newest is always kept.
        assert!(recent.get(&Id(CAPACITY as i128 + 4)).is_some());
    }
}
