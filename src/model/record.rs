//! What every stored record tells the layers above about itself: which kind it is, its
//! id, slug and version, and when it last changed.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Company, Event, Partnership, ResourceKind};

/// A stored record of one of the resources.
pub trait Stored {
    /// Which kind of record it is.
    const KIND: ResourceKind;
    /// Its id.
    fn id(&self) -> Uuid;
    /// Its slug now.
    fn slug(&self) -> &str;
    /// Its version now.
    fn version(&self) -> i64;
    /// When it last changed.
    fn updated_at(&self) -> DateTime<Utc>;
}

/// Implements [`Stored`] for records with `id`, `slug`, `version` and `updated_at`.
macro_rules! stored {
    ($($type:ty => $kind:expr),+) => {
        $(impl Stored for $type {
            const KIND: ResourceKind = $kind;
            fn id(&self) -> Uuid {
                self.id
            }
            fn slug(&self) -> &str {
                &self.slug
            }
            fn version(&self) -> i64 {
                self.version
            }
            fn updated_at(&self) -> DateTime<Utc> {
                self.updated_at
            }
        })+
    };
}

stored!(
    Event => ResourceKind::Event,
    Company => ResourceKind::Company,
    Partnership => ResourceKind::Partnership
);
