//! The tombstone horizon as the API applies it: a poll or a stream from before it may
//! have missed deletions whose tombstones are gone, so it must start over. The horizon
//! (now minus `TOMBSTONE_RETENTION_DAYS`, whether or not a purge has run) is kept here as
//! a transaction id, refreshed every minute from the transaction clock, so checking a
//! position costs no query.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use sqlx::PgPool;

use crate::error::ApiError;
use crate::model::list::events::UpdatedSince;
use crate::model::position::Position;
use crate::repo;

/// The tombstone horizon of this server.
#[derive(Debug)]
pub struct Horizon {
    /// `TOMBSTONE_RETENTION_DAYS`.
    days: u32,
    /// The newest transaction id on the clock at or before the horizon; 0 when none
    /// (nothing is too old yet).
    xid: AtomicU64,
}

impl Horizon {
    /// A horizon `days` back, not yet read from the clock.
    pub fn new(days: u32) -> Self {
        Self {
            days,
            xid: AtomicU64::new(0),
        }
    }

    /// Notes the time on the transaction clock, then reads the horizon from it.
    pub async fn refresh(&self, db: &PgPool) -> Result<u64, ApiError> {
        repo::retention::tick_clock(db).await?;
        let xid = repo::retention::horizon_xid(db, self.days).await?;
        self.xid.store(xid, Ordering::Relaxed);
        Ok(0)
    }

    /// Whether `position` was taken before the horizon.
    pub fn is_behind(&self, position: &Position) -> bool {
        let horizon = self.xid.load(Ordering::Relaxed);
        horizon != 0 && position.seen.xmax() <= horizon
    }

    /// A 410 `resync-required` for an `updated_since` from before the horizon.
    pub fn check(&self, since: &UpdatedSince) -> Result<(), ApiError> {
        let behind = match since {
            UpdatedSince::Position(position) => self.is_behind(position),
            UpdatedSince::Time(time) => {
                *time < Utc::now() - chrono::Duration::days(i64::from(self.days))
            }
        };
        if behind {
            return Err(ApiError::ResyncRequired { days: self.days });
        }
        Ok(())
    }
}
