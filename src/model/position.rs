//! Positions: what a client has seen of the changes to events, exactly.
//!
//! A position is a PostgreSQL snapshot (which transactions had committed) plus, while a
//! stream is part-way through the changes between two snapshots, how far it got. Every
//! event row keeps the id of the transaction that wrote it last, so "changed since this
//! position" is "written by a transaction the position did not see". Because a snapshot
//! lists the transactions still running when it was taken, one that started first and
//! commits last is seen later, never skipped, and a change is never handed over twice.
//!
//! The text form is readable: `<origin>.<xmin>:<xmax>:<running,...>`, and for a
//! stream part-way through a batch `<origin>.<seen>.<upto>.<xid>.<event id>`. The
//! origin names the database (see the `positions` migration), so a position from
//! another database is recognised instead of being misread.

use std::fmt;

use uuid::Uuid;

/// A position's shape, for the OpenAPI document (the parser is the authority).
pub const POSITION_PATTERN: &str = r"^[0-9a-f]{8}\.[0-9]{1,19}:[0-9]{1,19}:([0-9]{1,19}(,[0-9]{1,19})*)?(\.[0-9]{1,19}:[0-9]{1,19}:([0-9]{1,19}(,[0-9]{1,19})*)?\.[0-9]{1,19}\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$";

/// The longest position text accepted: a snapshot lists at most the transactions
/// running at once (bounded by `max_connections`), so anything longer is not ours.
pub const MAX_POSITION_LEN: usize = 8_000;

/// A transaction snapshot: every transaction below `xmin` had ended, none from `xmax`
/// on had started, and those in `running` were still running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    xmin: u64,
    xmax: u64,
    running: Vec<u64>,
}

impl Snapshot {
    /// Reads PostgreSQL's text form `xmin:xmax:xip,...`; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let xmin = parts.next()?.parse().ok()?;
        let xmax = parts.next()?.parse().ok()?;
        let list = parts.next()?;
        // PostgreSQL refuses transaction id 0 (invalid) in a snapshot.
        if parts.next().is_some() || xmin == 0 || xmin > xmax {
            return None;
        }
        let running = if list.is_empty() {
            Vec::new()
        } else {
            list.split(',')
                .map(|x| x.parse().ok())
                .collect::<Option<Vec<u64>>>()?
        };
        // PostgreSQL lists them ascending, within [xmin, xmax).
        if running.windows(2).any(|w| w[0] >= w[1])
            || running.iter().any(|x| *x < xmin || *x >= xmax)
        {
            return None;
        }
        Some(Self {
            xmin,
            xmax,
            running,
        })
    }

    /// Whether the snapshot saw transaction `xid` as committed (for a transaction that
    /// wrote a row that exists: an aborted one leaves none).
    pub fn sees(&self, xid: u64) -> bool {
        xid < self.xmin || (xid < self.xmax && self.running.binary_search(&xid).is_err())
    }

    /// The oldest transaction it may not have seen: every change it did not see was
    /// written at or after this.
    pub fn xmin(&self) -> u64 {
        self.xmin
    }

    /// The first transaction that had not started when it was taken: any transaction
    /// from this on began after it.
    pub fn xmax(&self) -> u64 {
        self.xmax
    }

    /// Whether this snapshot saw every transaction `other` saw. A replica whose snapshot
    /// covers a position's has replayed everything the position saw, so a read there
    /// neither shows a change the position already handed over nor hands over a
    /// position behind it.
    pub fn covers(&self, other: &Snapshot) -> bool {
        // Whatever `other` saw is below its `xmax`, so below ours; of those we missed
        // only our running ones, which `other` must have missed too.
        self.xmax >= other.xmax && self.running.iter().all(|xid| !other.sees(*xid))
    }
}

/// Which copies of the database may answer a read exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness<'a> {
    /// Any copy fit to serve reads: the answer hands over its own snapshot.
    Any,
    /// A copy whose snapshot covers each of these (it has replayed everything they saw).
    Covering(Vec<&'a Snapshot>),
    /// Only the primary.
    Latest,
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:", self.xmin, self.xmax)?;
        for (i, xid) in self.running.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{xid}")?;
        }
        Ok(())
    }
}

/// A stream part-way through the changes between its snapshot and `upto`: it has also
/// seen every row `upto` saw whose `(xid, id)` is at most `last`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    /// The snapshot the batch goes up to.
    pub upto: Snapshot,
    /// The last row handed over: its writing transaction and its id.
    pub last: (u64, Uuid),
}

/// What a client has seen: see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The database it belongs to.
    pub origin: String,
    /// Every change by a transaction this saw has been seen.
    pub seen: Snapshot,
    /// Part-way through a batch: the rows of it seen so far.
    pub walk: Option<Walk>,
}

impl Position {
    /// A position at `seen`.
    pub fn at(origin: &str, seen: Snapshot) -> Self {
        Self {
            origin: origin.to_owned(),
            seen,
            walk: None,
        }
    }

    /// Whether `text` has a position's shape (an origin, then a snapshot), valid or not.
    pub fn looks_like(text: &str) -> bool {
        text.split_once('.').is_some_and(|(origin, rest)| {
            origin.len() == 8 && origin.bytes().all(|b| b.is_ascii_hexdigit()) && rest.contains(':')
        })
    }

    /// Reads a position's text; `None` if it is not one (whatever its origin).
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() > MAX_POSITION_LEN {
            return None;
        }
        let parts: Vec<&str> = text.split('.').collect();
        let origin = *parts.first()?;
        if origin.len() != 8
            || !origin
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        let seen = Snapshot::parse(parts.get(1)?)?;
        let walk = match parts.len() {
            2 => None,
            5 => {
                let upto = Snapshot::parse(parts[2])?;
                let xid = parts[3].parse().ok()?;
                let id = Uuid::try_parse(parts[4]).ok()?;
                // A walk goes forward from what was seen.
                if upto.xmax < seen.xmax || !upto.sees(xid) || seen.sees(xid) {
                    return None;
                }
                Some(Walk {
                    upto,
                    last: (xid, id),
                })
            }
            _ => return None,
        };
        Some(Self {
            origin: origin.to_owned(),
            seen,
            walk,
        })
    }

    /// The snapshots whose transactions this position may have seen changes of (a
    /// walk's batch included).
    pub fn snapshots(&self) -> Vec<&Snapshot> {
        std::iter::once(&self.seen)
            .chain(self.walk.as_ref().map(|walk| &walk.upto))
            .collect()
    }

    /// Whether the change that left the row `id` written by `xid` has been seen.
    pub fn sees(&self, xid: u64, id: Uuid) -> bool {
        self.seen.sees(xid)
            || self
                .walk
                .as_ref()
                .is_some_and(|w| w.upto.sees(xid) && (xid, id) <= w.last)
    }

    /// The position after also seeing the row `(xid, id)` of a batch going up to
    /// `upto`, rows handed over in `(xid, id)` order. A position already part-way
    /// through an earlier batch stays as it is until the new row is past the old one's
    /// last (one position holds one walk): a resume from it may repeat, never skip.
    pub fn advanced(&self, upto: &Snapshot, xid: u64, id: Uuid) -> Self {
        if self.walk.as_ref().is_some_and(|w| (xid, id) < w.last) {
            return self.clone();
        }
        Self {
            origin: self.origin.clone(),
            seen: self.seen.clone(),
            walk: Some(Walk {
                upto: upto.clone(),
                last: (xid, id),
            }),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.origin, self.seen)?;
        if let Some(walk) = &self.walk {
            write!(
                f,
                ".{}.{}.{}",
                walk.upto,
                walk.last.0,
                walk.last.1.as_hyphenated()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(text: &str) -> Snapshot {
        Snapshot::parse(text).unwrap_or_else(|| panic!("`{text}` is a snapshot"))
    }

    #[test]
    fn snapshots_read_and_write_postgresql_text() {
        for text in ["812:812:", "812:820:813,815", "1:2:1"] {
            assert_eq!(snapshot(text).to_string(), text);
        }
        for bad in [
            "",
            "812",
            "812:811:",
            "0:0:",
            "0:5:",
            "812:820:815,813",
            "812:820:800",
            "1:2:3",
            "a:b:",
            "1:2::",
            "1:2:3:4",
        ] {
            assert_eq!(Snapshot::parse(bad), None, "`{bad}`");
        }
    }

    #[test]
    fn a_snapshot_sees_what_had_committed() {
        let s = snapshot("10:20:12,15");
        assert!(s.sees(9) && s.sees(11) && s.sees(19));
        assert!(!s.sees(12) && !s.sees(15) && !s.sees(20) && !s.sees(30));
    }

    #[test]
    fn a_snapshot_covers_what_saw_no_more() {
        let position = snapshot("10:20:12,15");
        // Taken later: everything position saw had committed.
        assert!(snapshot("21:21:").covers(&position));
        // The same, and later ones still running that position never saw.
        assert!(snapshot("10:20:12,15").covers(&position));
        assert!(snapshot("12:25:12,15,22").covers(&position));
        // Behind: 19 committed before position but not yet here.
        assert!(!snapshot("10:19:12,15").covers(&position));
        // 13 committed before position, still running here.
        assert!(!snapshot("12:25:12,13,15").covers(&position));
        let walk =
            Position::parse("0a1b2c3d.10:20:12.10:25:.21.0190d4f6-1b7a-7c3e-9a2b-3c4d5e6f7a8b")
                .unwrap_or_else(|| panic!("a position"));
        let covered = |by: &Snapshot| walk.snapshots().iter().all(|s| by.covers(s));
        assert!(covered(&snapshot("25:25:")));
        // It has what `seen` saw, not the batch the walk is part-way through.
        assert!(!covered(&snapshot("20:20:")));
    }

    #[test]
    fn positions_round_trip_and_refuse_what_is_not_one() {
        let id = Uuid::now_v7();
        let plain = "0a1b2c3d.10:20:12".to_owned();
        let walk = format!("0a1b2c3d.10:20:12.10:25:.21.{id}");
        for text in [&plain, &walk] {
            assert_eq!(&Position::parse(text).unwrap().to_string(), text);
        }
        for bad in [
            "10:20:12",
            "0A1B2C3D.10:20:12",
            "0a1b2c.10:20:12",
            "0a1b2c3d.10:20:12.10:25:",
            // The walk's last row must be one the batch holds: unseen before, seen by it.
            &format!("0a1b2c3d.10:20:12.10:25:.9.{id}"),
            &format!("0a1b2c3d.10:20:12.10:25:.26.{id}"),
            &format!("0a1b2c3d.10:20:12.10:15:.12.{id}"),
            "2024-01-01T00:00:00Z",
        ] {
            assert_eq!(Position::parse(bad), None, "`{bad}`");
        }
    }

    #[test]
    fn a_walk_sees_the_rows_of_its_batch_handed_over_so_far() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let start = Position::at("0a1b2c3d", snapshot("10:20:12"));
        let upto = snapshot("21:21:");
        let after_first = start.advanced(&upto, 12, b);
        assert!(after_first.sees(12, a) && after_first.sees(12, b));
        assert!(!after_first.sees(20, a), "later in the batch");
        assert!(!after_first.sees(21, a), "after the batch");
        assert!(after_first.sees(5, a), "seen before the batch");
        let reread = Position::parse(&after_first.to_string()).unwrap();
        assert_eq!(reread, after_first);
        // A later batch, resumed mid-walk: the new walk must cover the old one's rows.
        let later = snapshot("30:30:");
        assert_eq!(
            after_first.advanced(&later, 11, a),
            after_first,
            "before the old last"
        );
        let moved = after_first.advanced(&later, 25, a);
        assert!(moved.sees(12, b) && moved.sees(25, a) && !moved.sees(26, a));
    }
}
