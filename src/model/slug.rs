//! Slugs (`[a-z0-9]+(-[a-z0-9]+)*`, at most 100 characters) and the `{ref}` of a path.

use std::fmt;

use uuid::Uuid;

/// The longest slug accepted.
pub const MAX_SLUG_LEN: usize = 100;

/// A validated slug.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// Accepts `raw` only if it already follows the slug rule.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if raw.len() > MAX_SLUG_LEN {
            return Err(format!("must be at most {MAX_SLUG_LEN} characters"));
        }
        if !is_kebab(raw) {
            return Err(
                "must be lowercase letters and digits in groups joined by single hyphens".into(),
            );
        }
        Ok(Self(raw.to_owned()))
    }

    /// Makes a slug from a title: ASCII letters and digits kept (lowercased), every other
    /// run of characters becomes one hyphen, cut at a word boundary to fit. `None` when the
    /// title has no ASCII letter or digit at all.
    pub fn from_title(title: &str) -> Option<Self> {
        let mut slug = String::with_capacity(title.len().min(MAX_SLUG_LEN));
        for word in title
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let extra = usize::from(!slug.is_empty()) + word.len();
            if slug.len() + extra > MAX_SLUG_LEN {
                if slug.is_empty() {
                    slug.push_str(&word[..MAX_SLUG_LEN].to_ascii_lowercase());
                }
                break;
            }
            if !slug.is_empty() {
                slug.push('-');
            }
            slug.push_str(&word.to_ascii_lowercase());
        }
        (!slug.is_empty()).then_some(Self(slug))
    }

    /// The slug used when a title yields none: the resource kind, e.g. `event`.
    pub fn fallback(kind: &'static str) -> Self {
        debug_assert!(is_kebab(kind));
        Self(kind.to_owned())
    }

    /// This slug with `-suffix` appended, shortened first so the result still fits.
    pub fn with_suffix(&self, suffix: &str) -> Self {
        let room = MAX_SLUG_LEN.saturating_sub(suffix.len() + 1);
        let base = self.0[..self.0.len().min(room)].trim_end_matches('-');
        Self(format!("{base}-{suffix}"))
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `s` is `[a-z0-9]+(-[a-z0-9]+)*`.
pub(crate) fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// The `{ref}` of a path: an id or a slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    /// A UUID.
    Id(Uuid),
    /// A slug.
    Slug(Slug),
}

impl fmt::Display for Ref {
    /// The reference as the client wrote it (ids in their hyphenated form).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::Slug(slug) => f.write_str(slug.as_str()),
        }
    }
}

impl Ref {
    /// Whether this names the record with `id` and `slug` (by either).
    pub fn names(&self, id: Uuid, slug: &str) -> bool {
        match self {
            Self::Id(named) => *named == id,
            Self::Slug(named) => named.as_str() == slug,
        }
    }

    /// Reads a path segment; `None` when it can be neither an id nor a slug, so no
    /// resource can match it and the database need not be asked.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() == 36
            && let Ok(id) = Uuid::parse_str(raw)
        {
            return Some(Self::Id(id));
        }
        Slug::parse(raw).ok().map(Self::Slug)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_rule() {
        for ok in ["a", "amazon", "a-b-c", "x1-2y", &"a".repeat(100)] {
            assert!(Slug::parse(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "A",
            "a_b",
            "a b",
            "é",
            &"a".repeat(101),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn titles_become_slugs() {
        let slug = Slug::from_title("Amazon completes $4 billion investment in Anthropic");
        assert_eq!(
            slug.unwrap().as_str(),
            "amazon-completes-4-billion-investment-in-anthropic"
        );
        assert_eq!(
            Slug::from_title("  Élan -- AI!  ").unwrap().as_str(),
            "lan-ai"
        );
        assert_eq!(Slug::from_title("日本"), None);
        let long = Slug::from_title(&"word ".repeat(40)).unwrap();
        assert!(long.as_str().len() <= MAX_SLUG_LEN && is_kebab(long.as_str()));
        let huge = Slug::from_title(&"x".repeat(300)).unwrap();
        assert_eq!(huge.as_str().len(), MAX_SLUG_LEN);
    }

    #[test]
    fn suffixes_keep_slugs_valid() {
        let base = Slug::parse(&"a".repeat(100)).unwrap();
        let s = base.with_suffix("0f3a9c");
        assert!(s.as_str().len() <= MAX_SLUG_LEN && is_kebab(s.as_str()));
    }

    #[test]
    fn refs_are_ids_or_slugs() {
        let id = "0190f7c2-1b2a-7c3d-8e4f-5a6b7c8d9e0f";
        assert!(matches!(Ref::parse(id), Some(Ref::Id(_))));
        assert!(matches!(Ref::parse("amazon"), Some(Ref::Slug(_))));
        assert_eq!(Ref::parse("../etc/passwd"), None);
        assert_eq!(Ref::parse(&"a".repeat(101)), None);
    }
}
