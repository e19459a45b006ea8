//! Versions and entity tags: how a client proves which version it read.

use uuid::Uuid;

/// The entity tag of one version of a resource: strong, and unique across resources
/// so a recreated slug never matches an old tag.
pub fn etag(id: Uuid, version: i64) -> String {
    format!("\"{}-{version}\"", id.simple())
}

/// What the client's `If-Match` requires of the current version.
#[derive(Debug, Clone)]
pub enum Precondition {
    /// No `If-Match`: any version.
    None,
    /// `If-Match: *` or a list of entity tags, one of which must be current.
    Matches(Vec<String>),
}

impl Precondition {
    /// Checks the precondition against the current version of any resource, so every
    /// resource's writes share one `If-Match` rule; `Err` carries the current tag.
    pub fn check(&self, id: Uuid, version: i64) -> Result<(), String> {
        let current = etag(id, version);
        match self {
            Self::None => Ok(()),
            Self::Matches(tags) if tags.iter().any(|t| t == "*" || *t == current) => Ok(()),
            Self::Matches(_) => Err(current),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_the_current_tag_or_a_star() {
        let id = Uuid::now_v7();
        assert!(Precondition::None.check(id, 3).is_ok());
        assert!(Precondition::Matches(vec!["*".into()]).check(id, 3).is_ok());
        assert!(
            Precondition::Matches(vec!["\"x\"".into(), etag(id, 3)])
                .check(id, 3)
                .is_ok()
        );
        assert_eq!(
            Precondition::Matches(vec![etag(id, 2)]).check(id, 3),
            Err(etag(id, 3))
        );
    }
}
