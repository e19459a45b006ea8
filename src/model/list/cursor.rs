//! The opaque keyset cursor: where the previous page ended, under which sort, for
//! which query. Its text is versioned base64url; anything we did not make is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::sort::EventSort;
use crate::model::fields::parse_date;
use crate::model::position::Snapshot;

/// The format version written into every cursor.
const VERSION: &str = "e1";
/// The format version of a cursor that also carries its walk's snapshot.
const VERSION_WITH_SNAPSHOT: &str = "e2";

/// The sort key of the last row of a page.
#[derive(Debug, Clone, PartialEq)]
pub enum CursorKey {
    /// `occurred_on`.
    Date(NaiveDate),
    /// `updated_at`.
    Time(DateTime<Utc>),
    /// `title`.
    Text(String),
    /// Significance rank.
    Rank(i16),
    /// Full-text relevance (kept as exact bits so the comparison is exact).
    Score(f32),
}

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// The sort it was made under.
    pub sort: EventSort,
    /// A hash of the filters it was made under.
    pub fingerprint: u64,
    /// The sort key of the last row.
    pub key: CursorKey,
    /// The id of the last row (the tie-breaker).
    pub id: Uuid,
    /// The snapshot of the walk's first page: every page of one walk hands over the same
    /// `Next-Updated-Since`, and a walk through the changes since a position shows
    /// only changes this snapshot saw (later ones are the next poll's).
    pub upto: Option<Snapshot>,
}

impl Cursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        let key = match &self.key {
            CursorKey::Date(d) => format!("d{}", d.format("%Y-%m-%d")),
            CursorKey::Time(t) => format!("t{}", t.timestamp_micros()),
            CursorKey::Text(s) => format!("s{s}"),
            CursorKey::Rank(r) => format!("r{r}"),
            CursorKey::Score(f) => format!("f{:08x}", f.to_bits()),
        };
        let key = format!("{}:{key}", self.sort.code());
        match &self.upto {
            None => encode_token(VERSION, self.fingerprint, self.id, &key),
            // The snapshot goes first: it holds no `|`, a title key may.
            Some(upto) => encode_token(
                VERSION_WITH_SNAPSHOT,
                self.fingerprint,
                self.id,
                &format!("{upto}|{key}"),
            ),
        }
    }

    /// Reads a cursor; `None` for anything this service did not produce.
    pub fn decode(text: &str) -> Option<Self> {
        let (fingerprint, id, key, upto) = match decode_token(text, VERSION) {
            Some((fingerprint, id, key)) => (fingerprint, id, key, None),
            None => {
                let (fingerprint, id, key) = decode_token(text, VERSION_WITH_SNAPSHOT)?;
                let (upto, key) = key.split_once('|')?;
                (
                    fingerprint,
                    id,
                    key.to_owned(),
                    Some(Snapshot::parse(upto)?),
                )
            }
        };
        let (sort, key) = key.split_once(':')?;
        let sort = EventSort::from_code(sort)?;
        let (tag, value) = (key.get(..1)?, key.get(1..)?);
        let key = match tag {
            // Through the same strict parser as `from`/`to`, so no date outside
            // PostgreSQL's range can reach it.
            "d" => CursorKey::Date(parse_date(value).ok()?),
            "t" => CursorKey::Time(DateTime::from_timestamp_micros(value.parse().ok()?)?),
            "s" => CursorKey::Text(value.to_owned()),
            "r" => CursorKey::Rank(value.parse().ok()?),
            "f" if value.len() == 8 => {
                CursorKey::Score(f32::from_bits(u32::from_str_radix(value, 16).ok()?))
            }
            _ => return None,
        };
        if !sort.accepts(&key) {
            return None;
        }
        Some(Self {
            sort,
            fingerprint,
            key,
            id,
            upto,
        })
    }
}

/// The wire form shared by every list's cursor: `{version}.{fingerprint}.{id}.{key}`,
/// base64url. The version names the list and format, so one list's cursor is never
/// read as another's.
pub fn encode_token(version: &str, fingerprint: u64, id: Uuid, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{version}.{fingerprint:016x}.{}.{key}",
        id.simple()
    ))
}

/// Reads a cursor token of `version`: its fingerprint, id and key. The key never holds
/// a NUL (PostgreSQL refuses to bind one), so a forged cursor is a 400, not a 500.
pub fn decode_token(text: &str, version: &str) -> Option<(u64, Uuid, String)> {
    // A key is at most a 300-character title of up to 4 bytes a character.
    if text.len() > 4_000 {
        return None;
    }
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
    let mut parts = raw.splitn(4, '.');
    if parts.next()? != version {
        return None;
    }
    let fingerprint = u64::from_str_radix(parts.next()?, 16).ok()?;
    let id = Uuid::try_parse(parts.next()?).ok()?;
    let key = parts.next()?;
    if key.contains('\0') {
        return None;
    }
    Some((fingerprint, id, key.to_owned()))
}

/// A stable 64-bit hash of a query's canonical text, for binding cursors to queries.
pub fn fingerprint_of(canonical: &str) -> u64 {
    let digest = Sha256::digest(canonical.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_under_every_sort() {
        let id = Uuid::now_v7();
        let keys = [
            (
                EventSort::OccurredOnDesc,
                CursorKey::Date(NaiveDate::from_ymd_opt(2024, 3, 27).unwrap()),
            ),
            (
                EventSort::UpdatedAtAsc,
                CursorKey::Time(DateTime::from_timestamp_micros(1_711_540_800_123_456).unwrap()),
            ),
            (EventSort::TitleAsc, CursorKey::Text("A.b|c é".into())),
            (EventSort::SignificanceDesc, CursorKey::Rank(2)),
            (EventSort::Relevance, CursorKey::Score(0.0607927)),
        ];
        for (sort, key) in keys {
            let cursor = Cursor {
                sort,
                fingerprint: 0xdead_beef,
                key,
                id,
                upto: None,
            };
            assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor.clone()));
            let walking = Cursor {
                upto: Snapshot::parse("812:820:813,815"),
                ..cursor
            };
            assert_eq!(Cursor::decode(&walking.encode()), Some(walking));
        }
    }

    #[test]
    fn foreign_or_garbled_cursors_are_refused() {
        let forged = URL_SAFE_NO_PAD.encode("1.od.0000000000000000.not-a-uuid.d2024-01-01");
        let mismatched = URL_SAFE_NO_PAD.encode(format!(
            "1.od.0000000000000000.{}.sTitle",
            Uuid::nil().simple()
        ));
        for bad in [
            "",
            "!!!",
            "abc",
            "eyJ2IjoxfQ",
            forged.as_str(),
            mismatched.as_str(),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad} should be refused");
        }
    }
}
