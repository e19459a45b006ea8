//! Values remembered with the database snapshot they were computed after.
//!
//! A value (a list's `ETag`, a relevance ranking) computed after snapshot S stays right
//! until a write to the data it depends on commits unseen by S
//! (`repo::changes::changed_since`). Entries older than half the time the database keeps
//! its change notes are dropped, so a check never relies on a purged note.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::error::ApiError;
use crate::model::ListScope;
use crate::repo::changes::{self, NOTES_KEPT_FOR, Snapshot};

/// Only requests whose path and query fit in this many bytes are remembered, so a
/// flood of distinct URLs costs at most the capacity times this.
const MAX_KEY_BYTES: usize = 1024;

/// How long an entry can be trusted without being checked again.
const MAX_AGE: Duration = Duration::from_secs(NOTES_KEPT_FOR.as_secs() / 2);

/// Values by request key, each with its snapshot; at most `capacity` of them.
pub struct SnapshotCache<V> {
    capacity: usize,
    entries: Mutex<HashMap<String, Entry<V>>>,
}

/// What [`SnapshotCache::check`] found for a key.
pub enum Checked<V> {
    /// The remembered value is still right at `snapshot` (now).
    Valid {
        /// The value.
        value: V,
        /// The current snapshot.
        snapshot: Snapshot,
    },
    /// Nothing usable is remembered; compute after `snapshot` (now) and [`insert`].
    ///
    /// [`insert`]: SnapshotCache::insert
    Stale(Snapshot),
}

struct Entry<V> {
    snapshot: Snapshot,
    checked: Instant,
    value: V,
}

impl<V: Clone> SnapshotCache<V> {
    /// An empty cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::default(),
        }
    }

    /// The value remembered for `key` and its snapshot, unless it is too old to check.
    fn get(&self, key: &str) -> Option<(Snapshot, V)> {
        let entries = self.lock();
        let entry = entries.get(key)?;
        (entry.checked.elapsed() < MAX_AGE).then(|| (entry.snapshot.clone(), entry.value.clone()))
    }

    /// Whether the value remembered for `key` is still right for a list that shows
    /// `scopes`: one statement either way, which also gives the current snapshot.
    pub async fn check(
        &self,
        db: &PgPool,
        key: &str,
        scopes: &[ListScope],
    ) -> Result<Checked<V>, ApiError> {
        let Some((since, value)) = self.get(key) else {
            return Ok(Checked::Stale(changes::snapshot(db).await?));
        };
        let (changed, now) = changes::changed_since(db, &since, scopes).await?;
        if changed {
            return Ok(Checked::Stale(now));
        }
        self.confirm(key, now.clone());
        Ok(Checked::Valid {
            value,
            snapshot: now,
        })
    }

    /// Records that the value for `key` was found still right at `snapshot`.
    fn confirm(&self, key: &str, snapshot: Snapshot) {
        if let Some(entry) = self.lock().get_mut(key) {
            entry.snapshot = snapshot;
            entry.checked = Instant::now();
        }
    }

    /// Remembers `value` for `key`, computed after `snapshot`, and returns the value to
    /// use: one remembered concurrently at the very same snapshot wins (no write
    /// committed between the two), so concurrent requests can share one computation.
    pub fn insert(&self, key: &str, snapshot: Snapshot, value: V) -> V {
        if key.len() > MAX_KEY_BYTES {
            return value;
        }
        let mut entries = self.lock();
        if let Some(entry) = entries.get(key)
            && entry.snapshot == snapshot
        {
            return entry.value.clone();
        }
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            entries.retain(|_, e| e.checked.elapsed() < MAX_AGE);
            if entries.len() >= self.capacity {
                // Every entry is in use: start again rather than track recency.
                entries.clear();
            }
        }
        let checked = Instant::now();
        entries.insert(
            key.to_owned(),
            Entry {
                snapshot,
                checked,
                value: value.clone(),
            },
        );
        value
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry<V>>> {
        // The critical sections cannot panic half-way; a poisoned lock is still sound.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_returned_with_its_snapshot_and_confirmed_in_place() {
        let cache = SnapshotCache::new(8);
        assert_eq!(cache.get("/a"), None);
        cache.insert("/a", Snapshot::for_test("10:10:"), "W/\"a\"".to_owned());
        assert_eq!(
            cache.get("/a"),
            Some((Snapshot::for_test("10:10:"), "W/\"a\"".to_owned()))
        );
        cache.confirm("/a", Snapshot::for_test("12:12:"));
        assert_eq!(cache.get("/a").unwrap().0, Snapshot::for_test("12:12:"));
        cache.confirm("/missing", Snapshot::for_test("12:12:"));
        assert_eq!(cache.get("/missing"), None);
    }

    #[test]
    fn the_same_snapshot_shares_the_value_and_a_newer_one_replaces_it() {
        let cache = SnapshotCache::new(8);
        assert_eq!(cache.insert("/a", Snapshot::for_test("10:10:"), 1), 1);
        assert_eq!(
            cache.insert("/a", Snapshot::for_test("10:10:"), 2),
            1,
            "shared"
        );
        assert_eq!(
            cache.insert("/a", Snapshot::for_test("11:11:"), 3),
            3,
            "replaced"
        );
        assert_eq!(cache.get("/a").unwrap().1, 3);
    }

    #[test]
    fn size_is_bounded_by_capacity_and_key_length() {
        let cache = SnapshotCache::new(4);
        let long = "x".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(cache.insert(&long, Snapshot::for_test("1:1:"), 7), 7);
        assert_eq!(cache.get(&long), None);
        for i in 0..10 {
            cache.insert(&format!("/l{i}"), Snapshot::for_test("1:1:"), i);
            assert!(cache.len() <= 4);
        }
        assert_eq!(cache.get("/l9").unwrap().1, 9);
    }
}
