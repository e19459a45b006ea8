//! The audit list's filters and cursor.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::ParamError;
use super::cursor::{decode_token, encode_token, fingerprint_of};
use super::filter::{parse_limit, parse_timestamp};
use super::params::QueryParams;

/// The resources the audit trail covers.
pub const AUDITED: &[&str] = &["event", "company", "partnership"];

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
    pub resource: Option<String>,
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
        let resource = params
            .single("resource")?
            .map(|r| {
                AUDITED.contains(&r).then(|| r.to_owned()).ok_or_else(|| {
                    ParamError::new(
                        "resource",
                        format!("must be one of: {}", AUDITED.join(", ")),
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
            self.resource,
            self.token,
            self.since.map(|t| t.timestamp_micros())
        ))
    }
}
