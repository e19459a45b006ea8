//! The audit list's filters and cursor.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::cursor::{decode_token, encode_token, fingerprint_of};
use super::params::QueryParams;
use super::{parse_limit, parse_timestamp};
use crate::model::{ParamError, ResourceKind};

/// Where the next page of the audit trail starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCursor {
    /// A hash of the filters it was made under.
    pub fingerprint: u64,
    /// The last row's time.
    pub at: DateTime<Utc>,
    /// The last row's sequence number.
    pub seq: i64,
}

const VERSION: &str = "a1";

impl AuditCursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        // The token format carries a UUID; the sequence number rides in the key.
        encode_token(
            VERSION,
            self.fingerprint,
            Uuid::nil(),
            &format!("{}:{}", self.at.timestamp_micros(), self.seq),
        )
    }

    /// Reads a cursor; `None` for anything this service did not produce.
    pub fn decode(text: &str) -> Option<Self> {
        let (fingerprint, _, key) = decode_token(text, VERSION)?;
        let (micros, seq) = key.split_once(':')?;
        Some(Self {
            fingerprint,
            at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            seq: seq.parse().ok()?,
        })
    }
}

/// A validated `GET /v1/audit` request.
#[derive(Debug, Clone)]
pub struct AuditFilter {
    /// Only this resource kind.
    pub resource: Option<ResourceKind>,
    /// Only writes by this token name.
    pub token: Option<String>,
    /// Only writes after this time.
    pub since: Option<DateTime<Utc>>,
    /// Page size.
    pub limit: u32,
    /// Where this page starts.
    pub cursor: Option<AuditCursor>,
}

impl AuditFilter {
    /// Every parameter the audit list accepts.
    pub const PARAMS: &'static [&'static str] = &["resource", "token", "since", "limit", "cursor"];

    /// Reads and checks the audit list's parameters.
    pub fn from_params(params: &QueryParams) -> Result<Self, ParamError> {
        // The singular (as audit rows say it) or the plural (as the paths say it).
        let resource = params
            .single("resource")?
            .map(|r| {
                ResourceKind::parse(r).ok_or_else(|| {
                    ParamError::new(
                        "resource",
                        format!("must be one of: {}", ResourceKind::names().join(", ")),
                    )
                })
            })
            .transpose()?;
        let token = params
            .single("token")?
            .map(|t| {
                if t.is_empty() || t.len() > 100 || t.contains('\0') {
                    Err(ParamError::new(
                        "token",
                        "must be a token name of 1 to 100 characters",
                    ))
                } else {
                    Ok(t.to_owned())
                }
            })
            .transpose()?;
        let since = params
            .single("since")?
            .map(|s| parse_timestamp(s).map_err(|m| ParamError::new("since", m)))
            .transpose()?;
        let filter = Self {
            resource,
            token,
            since,
            limit: parse_limit(params)?,
            cursor: None,
        };
        let cursor = params.cursor(AuditCursor::decode, |c| c.fingerprint, filter.fingerprint())?;
        Ok(Self { cursor, ..filter })
    }

    /// A stable hash of everything that decides which rows match.
    pub fn fingerprint(&self) -> u64 {
        fingerprint_of(&format!(
            "audit|{:?}|{:?}|{:?}",
            self.resource.map(ResourceKind::singular),
            self.token,
            self.since.map(|t| t.timestamp_micros())
        ))
    }
}

/// The resources of the audit trail, as the OpenAPI document shows `resource`.
#[derive(utoipa::ToSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditedResource {
    /// Events.
    Event,
    /// Companies.
    Company,
    /// Partnerships.
    Partnership,
    /// Events (the path's spelling).
    Events,
    /// Companies (the path's spelling).
    Companies,
    /// Partnerships (the path's spelling).
    Partnerships,
}

/// The parameters of the audit list.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditListParams {
    /// Only this kind of record (singular or plural).
    resource: Option<AuditedResource>,
    /// Only writes by this token name.
    #[param(min_length = 1, max_length = 100, pattern = r"^[^\u0000]+$")]
    token: Option<String>,
    /// Only writes after this time.
    since: Option<DateTime<Utc>>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The previous page's `next_cursor`.
    #[param(max_length = 4000)]
    cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::IntoParams;

    #[test]
    fn the_documented_parameters_and_resources_are_the_accepted_ones() {
        let documented: Vec<String> = AuditListParams::into_params(|| None)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(documented, AuditFilter::PARAMS);
        for name in ResourceKind::names() {
            let params =
                QueryParams::parse(Some(&format!("resource={name}")), AuditFilter::PARAMS).unwrap();
            assert!(AuditFilter::from_params(&params).is_ok(), "{name}");
        }
        let params = QueryParams::parse(Some("resource=tokens"), AuditFilter::PARAMS).unwrap();
        assert_eq!(
            AuditFilter::from_params(&params).unwrap_err().name,
            "resource"
        );
    }
}
