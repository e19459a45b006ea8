//! Turning a client's `{ref}` into an id, with the error each place it appears in
//! calls for: a path's unknown record is a 404, a query parameter's a 400 naming it.
//! (A body field's is a 422, reported with the body's other errors by the repository.)

use sqlx::PgPool;
use uuid::Uuid;

use super::extract::RefPath;
use crate::error::ApiError;
use crate::model::{Ref, ResourceKind};
use crate::repo::graph;

/// The id of the record of `kind` a path names, looked up in `db` (the copy the rest
/// of the request reads); an unknown one is a 404.
pub async fn path_id(db: &PgPool, kind: ResourceKind, path: &RefPath) -> Result<Uuid, ApiError> {
    let reference = path.parse(kind)?;
    graph::id_of(db, kind, &reference)
        .await?
        .ok_or_else(|| ApiError::not_found(kind, &path.0))
}

/// The id of the record of `kind` a query parameter names; an unknown one is a 400
/// naming `parameter`.
pub async fn param_id(
    db: &PgPool,
    kind: ResourceKind,
    reference: &Ref,
    parameter: &str,
) -> Result<Uuid, ApiError> {
    graph::id_of(db, kind, reference)
        .await?
        .ok_or_else(|| ApiError::bad_param(parameter, format!("no {kind} matches `{reference}`")))
}

/// The ids of a list's `company` parameters, in order; an unknown one is a 400 naming
/// `company`.
pub async fn company_params(db: &PgPool, references: &[Ref]) -> Result<Vec<Uuid>, ApiError> {
    let mut ids = Vec::with_capacity(references.len());
    for reference in references {
        ids.push(param_id(db, ResourceKind::Company, reference, "company").await?);
    }
    Ok(ids)
}
