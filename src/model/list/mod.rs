//! List requests: the query-parameter rules every list shares, and each list's
//! filters, order, cursor and documented parameters.

pub mod audit;
pub mod companies;
pub mod cursor;
pub mod events;
pub mod matching;
pub mod params;
pub mod partnerships;
pub mod scope;
pub mod sort;
pub mod tags;
pub mod webhooks;

use chrono::{DateTime, Utc};

use super::{ParamError, fields};
use params::QueryParams;

/// A list's cursor as the opaque text handed to clients, whatever the list.
pub trait PageCursor {
    /// The text a client passes back as `cursor`.
    fn encode(&self) -> String;

    /// Where the next page starts, without what may differ between two reads of the
    /// same content (an event cursor's walk snapshot): what a list's `ETag` covers.
    fn content_key(&self) -> String {
        self.encode()
    }
}

/// Implements [`PageCursor`] for cursor types with an inherent `encode`.
macro_rules! page_cursor {
    ($($cursor:ty),+) => {
        $(impl PageCursor for $cursor {
            fn encode(&self) -> String {
                <$cursor>::encode(self)
            }
        })+
    };
}

impl PageCursor for cursor::Cursor {
    fn encode(&self) -> String {
        cursor::Cursor::encode(self)
    }

    fn content_key(&self) -> String {
        cursor::Cursor {
            upto: None,
            ..self.clone()
        }
        .encode()
    }
}

page_cursor!(
    companies::CompanyCursor,
    partnerships::PartnershipCursor,
    audit::AuditCursor,
    webhooks::IdCursor
);

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;
/// Longest full-text query.
pub const MAX_Q_LEN: usize = 200;

/// Reads `limit`: 1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]; anything else is
/// refused, not clamped.
pub fn parse_limit(params: &QueryParams) -> Result<u32, ParamError> {
    parse_limit_within(params, DEFAULT_LIMIT, MAX_LIMIT)
}

/// Reads `limit`: 1 to `max`, `default` when absent; anything else is refused.
pub fn parse_limit_within(params: &QueryParams, default: u32, max: u32) -> Result<u32, ParamError> {
    match params.single("limit")? {
        None => Ok(default),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ParamError::new("limit", format!("must be a whole number from 1 to {max}"))
            }),
    }
}

/// Reads an RFC 3339 timestamp. A `+` offset arrives as a space when a client forgets
/// to percent-encode it, so a space there is read as `+`.
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_rfc3339(&s.replace(' ', "+")))
        .map(|t| t.with_timezone(&Utc))
        // PostgreSQL has no year 0; in UTC an early time can fall into it.
        .ok()
        .filter(|t| chrono::Datelike::year(t) >= 1)
        .ok_or_else(|| {
            format!(
                "`{}` is not an RFC 3339 timestamp such as 2024-03-27T12:00:00Z",
                fields::truncate(s, 40)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_tolerate_an_unencoded_plus() {
        assert!(parse_timestamp("2024-03-27T12:00:00Z").is_ok());
        assert!(parse_timestamp("2024-03-27T12:00:00 02:00").is_ok());
        assert!(parse_timestamp("2024-03-27").is_err());
        assert!(
            parse_timestamp("0001-01-01T00:00:00+14:00").is_err(),
            "year 0 in UTC"
        );
        assert!(parse_timestamp("0000-06-01T00:00:00Z").is_err());
    }
}
