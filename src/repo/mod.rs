//! The repository layer: every SQL statement of the service lives here.

pub mod events;
pub mod health;
pub mod tags;
pub mod tokens;

/// Whether `error` is a unique violation of `constraint`.
pub(crate) fn is_unique_violation(error: &sqlx::Error, constraint: &str) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if db.is_unique_violation() && db.constraint() == Some(constraint))
}
