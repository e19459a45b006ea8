//! Domain types and their validation rules; nothing here knows about HTTP or SQL.

pub mod audit;
pub mod company;
pub mod country;
pub mod cursor;
pub mod event;
pub mod fields;
pub mod filter;
pub mod money;
pub mod params;
pub mod partnership;
pub mod role;
pub mod slug;
pub mod tag;
pub mod token;
mod wire;

use serde::Serialize;

pub use company::{Company, CompanyCursor, CompanyFilter, CompanyKind, NewCompany};
pub use cursor::Cursor;
pub use event::{Category, Event, EventListItem, NewEvent, Significance, Source, Tombstone};
pub use filter::{EventFilter, EventSort, TagFilter};
pub use slug::{Ref, Slug};
pub use tag::Tag;
pub use token::Scope;

/// One rule broken by one field of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's path, e.g. `occurred_on` or `sources[2].url`.
    pub field: String,
    /// What is wrong, in words a person can act on.
    pub message: String,
}

impl FieldError {
    /// Builds an error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A query parameter that is unknown or has a bad value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter's name.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ParamError {
    /// Builds an error for parameter `name`.
    pub fn new(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

/// The entity tag of one version of a resource: strong, and unique across resources
/// so a recreated slug never matches an old tag.
pub fn etag(id: uuid::Uuid, version: i64) -> String {
    format!("\"{}-{version}\"", id.simple())
}

/// One page of a keyset-paginated list; `C` is the list's cursor type.
#[derive(Debug, Clone)]
pub struct Page<T, C = Cursor> {
    /// The items of this page, in order.
    pub items: Vec<T>,
    /// The cursor of the next page, if there is one.
    pub next: Option<C>,
}
