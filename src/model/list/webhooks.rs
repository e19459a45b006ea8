//! The webhook lists' paging: subscriptions (oldest first) and a subscription's
//! deliveries (newest first), both ordered by their time-ordered ids.

use uuid::Uuid;

use super::cursor::{decode_token, encode_token, fingerprint_of};
use super::params::QueryParams;
use super::parse_limit;
use crate::model::ParamError;

/// Where the next page of a webhook list starts: after the last row's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdCursor {
    /// A hash of the list it was made for.
    pub fingerprint: u64,
    /// The last row's id.
    pub after: Uuid,
}

const VERSION: &str = "w1";

impl IdCursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        encode_token(VERSION, self.fingerprint, self.after, "")
    }

    /// Reads a cursor; `None` for anything this service did not produce.
    pub fn decode(text: &str) -> Option<Self> {
        let (fingerprint, after, _) = decode_token(text, VERSION)?;
        Some(Self { fingerprint, after })
    }
}

/// A validated page request of a webhook list.
#[derive(Debug, Clone)]
pub struct IdPage {
    /// Page size.
    pub limit: u32,
    /// Where this page starts.
    pub cursor: Option<IdCursor>,
    /// What the list is (a cursor from another list is refused).
    pub fingerprint: u64,
}

impl IdPage {
    /// Every parameter the webhook lists accept.
    pub const PARAMS: &'static [&'static str] = &["limit", "cursor"];

    /// Reads `limit` and `cursor` for the list named `list` (`webhooks`, or
    /// `deliveries/<subscription id>`).
    pub fn from_params(params: &QueryParams, list: &str) -> Result<Self, ParamError> {
        let fingerprint = fingerprint_of(list);
        Ok(Self {
            limit: parse_limit(params)?,
            cursor: params.cursor(IdCursor::decode, |c| c.fingerprint, fingerprint)?,
            fingerprint,
        })
    }

    /// The cursor of the page after one ending at `last`.
    pub fn next_after(&self, last: Uuid) -> IdCursor {
        IdCursor {
            fingerprint: self.fingerprint,
            after: last,
        }
    }
}

/// The parameters of the webhook lists.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct IdPageParams {
    /// Page size, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
    /// From the previous page's `next_cursor`.
    cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_stay_in_their_list() {
        let page = IdPage::from_params(
            &QueryParams::parse(None, IdPage::PARAMS).expect("ok"),
            "webhooks",
        )
        .expect("ok");
        let cursor = page.next_after(Uuid::now_v7());
        let query = format!("cursor={}", cursor.encode());
        let again = IdPage::from_params(
            &QueryParams::parse(Some(&query), IdPage::PARAMS).expect("ok"),
            "webhooks",
        )
        .expect("ok");
        assert_eq!(again.cursor, Some(cursor));
        let elsewhere = IdPage::from_params(
            &QueryParams::parse(Some(&query), IdPage::PARAMS).expect("ok"),
            "deliveries/x",
        );
        assert_eq!(elsewhere.unwrap_err().name, "cursor");
    }
}
