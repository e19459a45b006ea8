//! Token scopes: `read` < `write` < `admin`.

use std::fmt;
use std::str::FromStr;

/// What a token may do; a higher scope includes the lower ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Reads, where reads are configured to need a token.
    Read,
    /// Creates, changes and deletes records.
    Write,
    /// Everything, including the audit trail.
    Admin,
}

impl Scope {
    /// The scope's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    /// Whether a token of this scope may do what `needed` allows.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            other => Err(format!("unknown scope `{other}` (read, write or admin)")),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_includes_write_includes_read() {
        assert!(Scope::Admin.allows(Scope::Write));
        assert!(Scope::Write.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Write));
        assert!(!Scope::Write.allows(Scope::Admin));
        assert_eq!("write".parse::<Scope>(), Ok(Scope::Write));
        assert!("root".parse::<Scope>().is_err());
    }
}
