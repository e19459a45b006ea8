//! The audit trail: one row per write, in the write's own transaction, holding the
//! record as it stood after the change (so it also serves as the record's revisions).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::error::ApiError;
use crate::model::list::audit::{AuditCursor, AuditFilter};
use crate::model::{Page, ResourceKind};

/// Who made a change: the token's name and the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The token's name (`seed` for the demo loader).
    pub token: String,
    /// The request's `x-request-id`, when there was a request.
    pub request_id: Option<String>,
}

impl Actor {
    /// A change made by the service's own tooling, not through the API.
    pub fn system(name: &str) -> Self {
        Self {
            token: name.to_owned(),
            request_id: None,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Created the record.
    Create,
    /// Changed it.
    Update,
    /// Deleted it.
    Delete,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// Records writes of one kind and action (`rows`: each record's id, version and data
/// as the row keeps it, a JSON document), in one statement; call it inside the writes'
/// transaction.
pub async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    action: Action,
    resource: ResourceKind,
    rows: &[(Uuid, i64, String)],
) -> Result<(), ApiError> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|(id, _, _)| *id).collect();
    let versions: Vec<i64> = rows.iter().map(|(_, version, _)| *version).collect();
    // As text, cast to the column's `json` (checked, not parsed into a tree): a `jsonb[]`
    // parameter was parsed element by element, a ninth of an import's writing time.
    let data: Vec<&str> = rows.iter().map(|(_, _, data)| data.as_str()).collect();
    sqlx::query(
        "insert into audit_log (token, action, resource, resource_id, version, request_id, data) \
         select $1, $2, $3, r.id, r.version, $4, r.data::json \
         from unnest($5::uuid[], $6::bigint[], $7::text[]) with ordinality as r(id, version, data, n) \
         order by r.n",
    )
    .bind(&actor.token)
    .bind(action.as_str())
    .bind(resource.singular())
    .bind(actor.request_id.as_deref())
    .bind(ids)
    .bind(versions)
    .bind(data)
    .execute(conn)
    .await?;
    Ok(())
}

/// One version of a record.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Revision {
    /// The version this change produced.
    pub version: i64,
    /// `create`, `update` or `delete`.
    pub action: String,
    /// When.
    pub changed_at: DateTime<Utc>,
    /// The token's name.
    pub changed_by: String,
    /// The record as it stood after the change (before it, for a delete).
    #[schema(value_type = Object)]
    pub data: Value,
}

/// Every version of one record, newest first, the record deleted or not (its last
/// entry is then the `delete`); empty when no record of `resource` ever had `id`.
pub async fn revisions(
    db: &PgPool,
    resource: ResourceKind,
    id: Uuid,
) -> Result<Vec<Revision>, ApiError> {
    Ok(sqlx::query_as::<_, Revision>(
        "select version, action, at as changed_at, token as changed_by, data from audit_log \
         where resource = $1 and resource_id = $2 order by version desc, id desc",
    )
    .bind(resource.singular())
    .bind(id)
    .fetch_all(db)
    .await?)
}

/// One audit row as `GET /v1/audit` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// The token's name.
    pub token: String,
    /// `create`, `update` or `delete`.
    pub action: String,
    /// `event`, `company` or `partnership`.
    pub resource: String,
    /// The record's id.
    pub id: Uuid,
    /// The version the change produced.
    pub version: i64,
    /// The request's id.
    pub request_id: Option<String>,
    #[serde(skip)]
    seq: i64,
}

/// Writes, newest first, keyset-paged on `(at, id)`.
pub async fn list(
    db: &PgPool,
    filter: &AuditFilter,
) -> Result<Page<AuditEntry, AuditCursor>, ApiError> {
    let mut qb = QueryBuilder::<Postgres>::new(
        "select at, token, action, resource, resource_id as id, version, request_id, id as seq \
         from audit_log where true",
    );
    if let Some(resource) = &filter.resource {
        qb.push(" and resource = ").push_bind(resource.singular());
    }
    if let Some(token) = &filter.token {
        qb.push(" and token = ").push_bind(token.clone());
    }
    if let Some(since) = filter.since {
        qb.push(" and at > ").push_bind(since);
    }
    if let Some(cursor) = &filter.cursor {
        qb.push(" and (at, id) < (")
            .push_bind(cursor.at)
            .push(", ")
            .push_bind(cursor.seq)
            .push(")");
    }
    qb.push(" order by at desc, id desc limit ")
        .push_bind(i64::from(filter.limit) + 1);
    let rows = qb.build_query_as::<AuditEntry>().fetch_all(db).await?;
    let (rows, next) = super::keyset_page(rows, filter.limit, |row| AuditCursor {
        fingerprint: filter.fingerprint(),
        at: row.at,
        seq: row.seq,
    });
    Ok(Page { items: rows, next })
}
