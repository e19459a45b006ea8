//! The orders of an event list and their codes in cursors.

use serde::Serialize;

use super::cursor::CursorKey;

/// The order of an event list; every order ends with the id so it is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSort {
    /// `-occurred_on` (the default): newest first.
    OccurredOnDesc,
    /// `occurred_on`: oldest first.
    OccurredOnAsc,
    /// `-updated_at`: most recently changed first.
    UpdatedAtDesc,
    /// `updated_at`: least recently changed first.
    UpdatedAtAsc,
    /// `title`: alphabetical.
    TitleAsc,
    /// `-significance`: most significant first.
    SignificanceDesc,
    /// Best full-text match first (the default when `q` is given).
    Relevance,
}

impl EventSort {
    /// The values `sort=` accepts.
    pub const NAMES: &'static [&'static str] = &[
        "-occurred_on",
        "occurred_on",
        "-updated_at",
        "updated_at",
        "title",
        "-significance",
    ];

    /// Reads a `sort=` value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "-occurred_on" => Self::OccurredOnDesc,
            "occurred_on" => Self::OccurredOnAsc,
            "-updated_at" => Self::UpdatedAtDesc,
            "updated_at" => Self::UpdatedAtAsc,
            "title" => Self::TitleAsc,
            "-significance" => Self::SignificanceDesc,
            _ => return None,
        })
    }

    /// A short code written into cursors.
    pub fn code(self) -> &'static str {
        match self {
            Self::OccurredOnDesc => "od",
            Self::OccurredOnAsc => "oa",
            Self::UpdatedAtDesc => "ud",
            Self::UpdatedAtAsc => "ua",
            Self::TitleAsc => "ta",
            Self::SignificanceDesc => "sd",
            Self::Relevance => "rd",
        }
    }

    /// The sort of a cursor code.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            Self::OccurredOnDesc,
            Self::OccurredOnAsc,
            Self::UpdatedAtDesc,
            Self::UpdatedAtAsc,
            Self::TitleAsc,
            Self::SignificanceDesc,
            Self::Relevance,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }

    /// Whether rows come largest key first.
    pub fn descending(self) -> bool {
        matches!(
            self,
            Self::OccurredOnDesc | Self::UpdatedAtDesc | Self::SignificanceDesc | Self::Relevance
        )
    }

    /// Whether `key` is the kind of key this sort orders by.
    pub fn accepts(self, key: &CursorKey) -> bool {
        matches!(
            (self, key),
            (
                Self::OccurredOnDesc | Self::OccurredOnAsc,
                CursorKey::Date(_)
            ) | (Self::UpdatedAtDesc | Self::UpdatedAtAsc, CursorKey::Time(_))
                | (Self::TitleAsc, CursorKey::Text(_))
                | (Self::SignificanceDesc, CursorKey::Rank(_))
                | (Self::Relevance, CursorKey::Score(_))
        )
    }
}

/// The sort orders of an event list, as the OpenAPI document shows `sort`.
#[derive(utoipa::ToSchema, Serialize)]
pub enum EventSortParam {
    /// Newest first (the default, unless `q` is given).
    #[serde(rename = "-occurred_on")]
    OccurredOnDesc,
    /// Oldest first.
    #[serde(rename = "occurred_on")]
    OccurredOnAsc,
    /// Most recently changed first.
    #[serde(rename = "-updated_at")]
    UpdatedAtDesc,
    /// Least recently changed first (the natural order for polling).
    #[serde(rename = "updated_at")]
    UpdatedAtAsc,
    /// Alphabetical.
    #[serde(rename = "title")]
    Title,
    /// Most significant first.
    #[serde(rename = "-significance")]
    SignificanceDesc,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_sort_names_are_the_accepted_ones() {
        let documented: Vec<String> = [
            EventSortParam::OccurredOnDesc,
            EventSortParam::OccurredOnAsc,
            EventSortParam::UpdatedAtDesc,
            EventSortParam::UpdatedAtAsc,
            EventSortParam::Title,
            EventSortParam::SignificanceDesc,
        ]
        .iter()
        .map(|s| {
            serde_json::to_value(s)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
        assert_eq!(documented, EventSort::NAMES);
        for name in EventSort::NAMES {
            assert!(EventSort::parse(name).is_some(), "{name}");
        }
    }
}
