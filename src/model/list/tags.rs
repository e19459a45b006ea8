//! The tag list: its parameters.

use super::params::QueryParams;
use super::parse_limit_within;
use crate::model::schema::TagName;
use crate::model::{ParamError, Tag};

/// A validated `GET /v1/tags` request.
#[derive(Debug, Clone)]
pub struct TagFilter {
    /// Only tags starting with this (normalised like a tag).
    pub prefix: Option<String>,
    /// At most this many tags.
    pub limit: u32,
}

/// Largest `limit` of the tag list.
pub const MAX_TAG_LIMIT: u32 = 1_000;

impl TagFilter {
    /// Every parameter the tag list accepts.
    pub const PARAMS: &'static [&'static str] = &["prefix", "limit"];

    /// Reads and checks the tag list's parameters.
    pub fn from_params(params: &QueryParams) -> Result<Self, ParamError> {
        let prefix = match params.single("prefix")? {
            None => None,
            Some(raw) => {
                let tag = Tag::parse(raw).map_err(|m| ParamError::new("prefix", m))?;
                Some(tag.as_str().to_owned())
            }
        };
        let limit = parse_limit_within(params, 100, MAX_TAG_LIMIT)?;
        Ok(Self { prefix, limit })
    }
}

/// The parameters of the tag list.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct TagListParams {
    /// Only tags starting with this.
    prefix: Option<TagName>,
    /// How many tags.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::IntoParams;

    #[test]
    fn the_documented_parameters_are_the_accepted_ones() {
        let documented: Vec<String> = TagListParams::into_params(|| None)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(documented, TagFilter::PARAMS);
    }
}
