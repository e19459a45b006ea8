//! A search vector sent to the database in its binary form.
//!
//! sqlx knows no `tsvector`, and text is what it would otherwise take: the database
//! then parses every vector again (a twelfth of an import's writing backend, profiled),
//! although the vector came from the database in the first place. The binary form
//! (`tsvectorsend`) goes back in through `tsvectorrecv`, which only checks it.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo};
use sqlx::{Encode, Postgres, Type};

/// A `tsvector` parameter, as `tsvectorsend` wrote it.
pub(super) struct BinaryVector<'a>(pub(super) &'a [u8]);

impl Type<Postgres> for BinaryVector<'_> {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("tsvector")
    }
}

impl PgHasArrayType for BinaryVector<'_> {
    fn array_type_info() -> PgTypeInfo {
        PgTypeInfo::array_of("tsvector")
    }
}

impl Encode<'_, Postgres> for BinaryVector<'_> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.extend_from_slice(self.0);
        Ok(IsNull::No)
    }
}
