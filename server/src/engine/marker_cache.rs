//! The charts' deploy markers per service, kept between page views. Every view of a service page asks for them,
//! and they change only when a deployment moves traffic: a read is reused until this process records a change
//! or, for changes other replicas make, until it is `MAX_AGE` old.

use app::dto::DeployMarker;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How late another replica's switch may show as a marker here.
pub const MAX_AGE: Duration = Duration::from_secs(2);

struct Entry {
    /// The engine's change counter when the markers were read.
    change: u64,
    read_at: Instant,
    markers: Vec<DeployMarker>,
}

/// Keyed by configured (environment, service) only, so its size is bounded by the configuration.
#[derive(Default)]
pub struct MarkerCache {
    entries: Mutex<HashMap<(String, String), Entry>>,
}

impl MarkerCache {
    /// The markers read at `change` and less than `MAX_AGE` ago, if any.
    pub fn get(&self, environment: &str, service: &str, change: u64) -> Option<Vec<DeployMarker>> {
        let entries = self.entries.lock().expect("marker cache lock");
        entries
            .get(&(environment.to_string(), service.to_string()))
            .filter(|entry| entry.change == change && entry.read_at.elapsed() < MAX_AGE)
            .map(|entry| entry.markers.clone())
    }

    /// Keeps markers read at `change` (the counter read before the query, so a change during it invalidates them).
    pub fn put(&self, environment: &str, service: &str, change: u64, markers: Vec<DeployMarker>) {
        self.entries.lock().expect("marker cache lock").insert(
            (environment.to_string(), service.to_string()),
            Entry {
                change,
                read_at: Instant::now(),
                markers,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(id: &str) -> DeployMarker {
        DeployMarker {
            at: 1_000,
            deployment_id: id.into(),
            label: String::new(),
            rollback: false,
        }
    }

    #[test]
    fn a_read_is_reused_until_the_change_counter_moves() {
        let cache = MarkerCache::default();
        assert_eq!(cache.get("production", "api", 3), None);
        cache.put("production", "api", 3, vec![marker("dep-1")]);
        assert_eq!(
            cache.get("production", "api", 3),
            Some(vec![marker("dep-1")])
        );
        assert_eq!(cache.get("production", "api", 4), None, "a change since");
        assert_eq!(cache.get("production", "web", 3), None, "another service");
        assert_eq!(cache.get("staging", "api", 3), None, "another environment");
    }

    #[test]
    fn a_read_expires_after_the_maximum_age() {
        let cache = MarkerCache::default();
        cache.put("production", "api", 0, vec![marker("dep-1")]);
        cache
            .entries
            .lock()
            .unwrap()
            .values_mut()
            .for_each(|entry| entry.read_at -= MAX_AGE);
        assert_eq!(cache.get("production", "api", 0), None);
    }
}
