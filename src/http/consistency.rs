//! Read-your-writes over streaming replicas: every successful write answers with the
//! primary's WAL position as `Consistency-Token`, and a read that sends it back goes
//! only to a copy that has it (see `db::replicas`).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use sqlx::PgPool;

use super::AppState;
use crate::db::replicas::{Lsn, ReadFrom, current_lsn};
use crate::model::position::Freshness;

/// The header, on write answers and on reads.
pub const CONSISTENCY_TOKEN: HeaderName = HeaderName::from_static("consistency-token");

/// The pools one read uses.
pub struct ReadPools<'a> {
    /// For statements with custom plans.
    pub db: &'a PgPool,
    /// For statements whose generic plan is always right.
    pub fixed: &'a PgPool,
}

impl AppState {
    /// The primary's pools.
    pub fn primary_reads(&self) -> ReadPools<'_> {
        metrics::counter!("db_reads_total", "pool" => "primary").increment(1);
        ReadPools {
            db: &self.db,
            fixed: &self.fixed_plans,
        }
    }

    /// Where a read that may go to a replica goes: a fit replica (one that has the
    /// request's `Consistency-Token`, if it sends one), else the primary. A token this
    /// service cannot read is no token: it names no write, so there is nothing to wait
    /// for.
    pub fn reads(&self, headers: &HeaderMap) -> ReadPools<'_> {
        self.fresh_reads(headers, &Freshness::Any)
    }

    /// Where a read that needs `freshness` goes: [`Self::reads`], restricted to the
    /// replicas that have replayed what it needs (the primary when none has).
    pub fn fresh_reads(&self, headers: &HeaderMap, freshness: &Freshness<'_>) -> ReadPools<'_> {
        let covering = match freshness {
            Freshness::Any => &[][..],
            Freshness::Covering(snapshots) => snapshots.as_slice(),
            Freshness::Latest => return self.primary_reads(),
        };
        let Some(replicas) = &self.replicas else {
            return self.primary_reads();
        };
        let token = headers
            .get(CONSISTENCY_TOKEN)
            .and_then(|value| value.to_str().ok())
            .and_then(Lsn::parse);
        match replicas.choose(token, covering) {
            ReadFrom::Primary => self.primary_reads(),
            ReadFrom::Replica(replica) => {
                metrics::counter!("db_reads_total", "pool" => replica.name.clone()).increment(1);
                ReadPools {
                    db: &replica.pool,
                    fixed: &replica.fixed_plans,
                }
            }
        }
    }

    /// The pools of a list read whose cursor carries no snapshot (companies, deals,
    /// the audit trail): a first page may come from a replica (as [`Self::reads`]
    /// chooses); a later page is read on the primary, so a walk never moves to a copy
    /// that has not replayed what its first page showed.
    pub fn list_reads(&self, headers: &HeaderMap, first_page: bool) -> ReadPools<'_> {
        if first_page {
            self.reads(headers)
        } else {
            self.primary_reads()
        }
    }
}

/// Middleware: a successful write's answer gets the primary's WAL position after it.
pub async fn stamp(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let write = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let mut response = next.run(request).await;
    if write
        && response.status().is_success()
        && let Some(lsn) = current_lsn(&app.db).await
        && let Ok(value) = HeaderValue::from_str(&lsn.to_string())
    {
        response.headers_mut().insert(CONSISTENCY_TOKEN, value);
    }
    response
}
