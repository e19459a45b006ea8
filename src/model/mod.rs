//! Domain types and their validation rules; nothing here knows about HTTP or SQL.
//!
//! One module per resource (`event/`, `company`, `partnership/`) holds the stored
//! record, the request type a client sends (which is also the document a merge patch
//! is applied to) and its validation; `list/` holds the rules of every list's query
//! parameters; the rest are the shared pieces they are built from.

pub mod company;
pub mod country;
pub mod event;
pub mod export;
pub mod fields;
pub mod import;
pub mod list;
pub mod money;
pub mod partnership;
pub mod party;
pub mod patch;
pub mod position;
pub mod record;
pub mod resource;
pub mod role;
pub mod schema;
pub mod slug;
pub mod tag;
pub mod timeline;
pub mod token;
pub mod version;
pub mod webhook;
mod wire;

use serde::Serialize;

pub use company::{Company, CompanyInput, CompanyKind, NewCompany};
pub use event::{
    Category, Event, EventInput, EventListItem, NewEvent, SearchVector, Significance, Source,
    Tombstone,
};
pub use list::companies::{CompanyCursor, CompanyFilter};
pub use list::cursor::Cursor;
pub use list::events::EventFilter;
pub use list::scope::ListScope;
pub use list::sort::EventSort;
pub use list::tags::TagFilter;
pub use partnership::{NewPartnership, Partnership, PartnershipInput};
pub use record::Stored;
pub use resource::ResourceKind;
pub use slug::{Ref, Slug};
pub use tag::Tag;
pub use token::Scope;
pub use version::{Precondition, etag};

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

/// One page of a keyset-paginated list; `C` is the list's cursor type.
#[derive(Debug, Clone)]
pub struct Page<T, C = Cursor> {
    /// The items of this page, in order.
    pub items: Vec<T>,
    /// The cursor of the next page, if there is one.
    pub next: Option<C>,
}
