//! A raw query string read into name/value pairs, with the contract's rules: unknown
//! names are refused, single-valued names may not repeat, repeatable names take
//! repeats and comma-separated values, at most [`MAX_VALUES`] of them.

use super::MAX_Q_LEN;
use crate::model::{ParamError, Tag};

/// The most values one repeatable parameter may carry.
pub const MAX_VALUES: usize = 20;

/// The decoded pairs of a query string.
#[derive(Debug, Default)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    /// Decodes `raw`, refusing any name not in `allowed` and any name or value that is
    /// not valid UTF-8 once percent-decoded (a lossy decode would search for U+FFFD).
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ParamError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for piece in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let name = decode_component(name)
                .ok_or_else(|| ParamError::new("query", "is not valid UTF-8"))?;
            let value = decode_component(value)
                .ok_or_else(|| ParamError::new(&name, "is not valid UTF-8"))?;
            pairs.push((name, value));
        }
        if let Some((name, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            let shown = super::fields::truncate(name, 40);
            return Err(ParamError::new(
                shown,
                format!("is not a known parameter (known: {})", allowed.join(", ")),
            ));
        }
        Ok(Self { pairs })
    }

    /// The value of a parameter that may appear at most once.
    pub fn single(&self, name: &str) -> Result<Option<&str>, ParamError> {
        let mut values = self.pairs.iter().filter(|(k, _)| k == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(ParamError::new(name, "may be given only once"));
        }
        Ok(first)
    }

    /// The values of a repeatable parameter, comma-separated values split; empty
    /// items are refused so that a typo like `tag=a,,b` is not silently ignored.
    pub fn list(&self, name: &str) -> Result<Vec<&str>, ParamError> {
        let mut values = Vec::new();
        for (_, value) in self.pairs.iter().filter(|(k, _)| k == name) {
            for item in value.split(',') {
                let item = item.trim();
                if item.is_empty() {
                    return Err(ParamError::new(name, "has an empty value"));
                }
                values.push(item);
            }
        }
        if values.len() > MAX_VALUES {
            return Err(ParamError::new(
                name,
                format!("takes at most {MAX_VALUES} values (got {})", values.len()),
            ));
        }
        Ok(values)
    }
}

/// Decodes one `application/x-www-form-urlencoded` component strictly.
fn decode_component(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

impl QueryParams {
    /// A repeatable tag parameter, normalised, duplicates merged.
    pub fn tags(&self, name: &str) -> Result<Vec<Tag>, ParamError> {
        let mut tags: Vec<Tag> = Vec::new();
        for raw in self.list(name)? {
            let tag = Tag::parse(raw).map_err(|m| ParamError::new(name, m))?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        Ok(tags)
    }

    /// A repeatable enumeration parameter ("any of these"), duplicates merged.
    pub fn enums<T: Copy + PartialEq>(
        &self,
        name: &str,
        parse: fn(&str) -> Option<T>,
        names: &[&str],
    ) -> Result<Vec<T>, ParamError> {
        let mut values = Vec::new();
        for raw in self.list(name)? {
            let value = parse(raw).ok_or_else(|| {
                ParamError::new(name, format!("must be one of: {}", names.join(", ")))
            })?;
            if !values.contains(&value) {
                values.push(value);
            }
        }
        Ok(values)
    }

    /// A search text: trimmed, not blank, at most [`MAX_Q_LEN`] characters, no NUL.
    pub fn search(&self, name: &str) -> Result<Option<String>, ParamError> {
        match self.single(name)? {
            Some(q) if q.chars().count() > MAX_Q_LEN => Err(ParamError::new(
                name,
                format!("must be at most {MAX_Q_LEN} characters"),
            )),
            Some(q) if q.contains('\0') => {
                Err(ParamError::new(name, "must not contain a NUL character"))
            }
            Some(q) if q.trim().is_empty() => Err(ParamError::new(name, "must not be blank")),
            Some(q) => Ok(Some(q.trim().to_owned())),
            None => Ok(None),
        }
    }

    /// The `cursor` parameter: one this service issued (`decode`), for this very query
    /// (its fingerprint must be `expected`).
    pub fn cursor<C>(
        &self,
        decode: fn(&str) -> Option<C>,
        fingerprint: fn(&C) -> u64,
        expected: u64,
    ) -> Result<Option<C>, ParamError> {
        self.single("cursor")?
            .map(|text| {
                let cursor =
                    decode(text).ok_or_else(|| ParamError::new("cursor", "is not a cursor this service issued"))?;
                if fingerprint(&cursor) != expected {
                    return Err(ParamError::new(
                        "cursor",
                        "belongs to a different query: keep every parameter but `cursor` and `limit` unchanged while paging",
                    ));
                }
                Ok(cursor)
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_comma_separated_values_are_collected() {
        let p = QueryParams::parse(Some("tag=a&tag=b,c&limit=5"), &["tag", "limit"]).unwrap();
        assert_eq!(p.list("tag").unwrap(), ["a", "b", "c"]);
        assert_eq!(p.single("limit").unwrap(), Some("5"));
        assert_eq!(p.single("tag").unwrap_err().name, "tag");
    }

    #[test]
    fn percent_encoding_and_plus_decode_and_bad_utf8_is_refused() {
        let p =
            QueryParams::parse(Some("q=cloud+deal&tag=%23AI%20x&q2"), &["q", "tag", "q2"]).unwrap();
        assert_eq!(p.single("q").unwrap(), Some("cloud deal"));
        assert_eq!(p.single("tag").unwrap(), Some("#AI x"));
        assert_eq!(p.single("q2").unwrap(), Some(""));
        assert_eq!(
            QueryParams::parse(Some("q=%FF%FE"), &["q"])
                .unwrap_err()
                .name,
            "q"
        );
        assert_eq!(
            QueryParams::parse(Some("%FF=1"), &["q"]).unwrap_err().name,
            "query"
        );
    }

    #[test]
    fn unknown_names_and_empty_items_are_refused() {
        assert_eq!(
            QueryParams::parse(Some("colour=red"), &["tag"])
                .unwrap_err()
                .name,
            "colour"
        );
        let p = QueryParams::parse(Some("tag=a,,b"), &["tag"]).unwrap();
        assert!(p.list("tag").is_err());
        let many = (0..21)
            .map(|i| format!("tag=t{i}"))
            .collect::<Vec<_>>()
            .join("&");
        let p = QueryParams::parse(Some(&many), &["tag"]).unwrap();
        assert!(p.list("tag").is_err());
    }
}
