//! Readiness checks against the database.

use sqlx::PgPool;

use crate::MIGRATOR;

/// Whether the database answers and every migration this binary knows is applied.
pub async fn ready(db: &PgPool) -> Result<bool, sqlx::Error> {
    let has_table: bool = sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null")
        .fetch_one(db)
        .await?;
    if !has_table {
        return Ok(false);
    }
    let applied: Vec<i64> =
        sqlx::query_scalar("select version from _sqlx_migrations where success order by version")
            .fetch_all(db)
            .await?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .all(|m| applied.binary_search(&m.version).is_ok()))
}
