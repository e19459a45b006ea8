//! Tags: normalised on the way in, then held to `[a-z0-9]+(-[a-z0-9]+)*`, 50 characters.

use std::fmt;

use serde_json::Value;

use super::FieldError;
use super::fields;
use super::slug::is_kebab;

/// The longest tag accepted.
pub const MAX_TAG_LEN: usize = 50;
/// The most tags one record may carry.
pub const MAX_TAGS: usize = 20;

/// A normalised, valid tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    /// Normalises `raw` (trim, lowercase, drop one leading `#`, runs of spaces and
    /// underscores become `-`) and checks the result: `#Cloud Computing` is
    /// `cloud-computing`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let trimmed = trimmed.strip_prefix('#').unwrap_or(trimmed);
        let normalised = trimmed
            .to_lowercase()
            .split(|c: char| c.is_whitespace() || c == '_')
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        if normalised.is_empty() {
            return Err("must not be empty".into());
        }
        if normalised.chars().count() > MAX_TAG_LEN {
            return Err(format!("must be at most {MAX_TAG_LEN} characters"));
        }
        if !is_kebab(&normalised) {
            return Err(format!(
                "`{normalised}` must be lowercase letters and digits joined by single hyphens"
            ));
        }
        Ok(Self(normalised))
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Normalises a list, merging duplicates and keeping first-seen order; every bad
    /// entry is reported with its index.
    pub fn parse_list<'a>(
        raw: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<Tag>, Vec<(usize, String)>> {
        let mut tags: Vec<Tag> = Vec::new();
        let mut errors = Vec::new();
        for (index, item) in raw.into_iter().enumerate() {
            match Tag::parse(item) {
                Ok(tag) if !tags.contains(&tag) => tags.push(tag),
                Ok(_) => {}
                Err(message) => errors.push((index, message)),
            }
        }
        if errors.is_empty() {
            Ok(tags)
        } else {
            Err(errors)
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a `tags` array: strings, normalised, at most [`MAX_TAGS`] after merging.
pub fn parse_tags(value: &Value, field: &str) -> Result<Vec<Tag>, Vec<FieldError>> {
    let items = fields::array(value, MAX_TAGS * 4).map_err(|m| vec![FieldError::new(field, m)])?;
    let mut errors = Vec::new();
    let mut raw = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) => raw.push(s.as_str()),
            other => errors.push(FieldError::new(
                format!("{field}[{i}]"),
                format!("must be a string, not {}", fields::json_kind(other)),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let tags = Tag::parse_list(raw).map_err(|bad| {
        bad.into_iter()
            .map(|(i, m)| FieldError::new(format!("{field}[{i}]"), m))
            .collect::<Vec<_>>()
    })?;
    if tags.len() > MAX_TAGS {
        return Err(vec![FieldError::new(
            field,
            format!(
                "must have at most {MAX_TAGS} distinct tags (got {})",
                tags.len()
            ),
        )]);
    }
    Ok(tags)
}

/// Whether `stored` (a record's tags as read back) are `tags`, in the same order.
pub fn same_tags(tags: &[Tag], stored: &[String]) -> bool {
    tags.iter()
        .map(Tag::as_str)
        .eq(stored.iter().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalised() {
        let cases = [
            ("#Cloud Computing", "cloud-computing"),
            ("  investment ", "investment"),
            ("AI_Safety", "ai-safety"),
            ("large   language__models", "large-language-models"),
            ("gpt-4", "gpt-4"),
        ];
        for (raw, want) in cases {
            assert_eq!(Tag::parse(raw).unwrap().as_str(), want, "input {raw:?}");
        }
    }

    #[test]
    fn bad_tags_are_refused() {
        for bad in [
            "",
            "#",
            "   ",
            "a--b",
            "-a",
            "c++",
            "naïve",
            "a/b",
            &"a".repeat(51),
        ] {
            assert!(Tag::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Tag::parse(&"a".repeat(50)).is_ok());
    }

    #[test]
    fn lists_merge_duplicates_and_report_each_bad_entry() {
        let tags = Tag::parse_list(["AI", "#ai", "cloud"]).unwrap();
        assert_eq!(
            tags.iter().map(Tag::as_str).collect::<Vec<_>>(),
            ["ai", "cloud"]
        );
        let errors = Tag::parse_list(["ok", "", "c++"]).unwrap_err();
        assert_eq!(errors.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2]);
    }
}
