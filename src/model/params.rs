//! A raw query string read into name/value pairs, with the contract's rules: unknown
//! names are refused, single-valued names may not repeat, repeatable names take
//! repeats and comma-separated values, at most [`MAX_VALUES`] of them.

use super::ParamError;

/// The most values one repeatable parameter may carry.
pub const MAX_VALUES: usize = 20;

/// The decoded pairs of a query string.
#[derive(Debug, Default)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    /// Decodes `raw`, refusing any name not in `allowed`.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ParamError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some((name, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            let shown = super::fields::truncate(name, 40);
            return Err(ParamError::new(
                shown,
                format!("is not a known parameter (known: {})", allowed.join(", ")),
            ));
        }
        Ok(Self { pairs })
    }

    /// The value of a parameter that may appear at most once.
    pub fn single(&self, name: &str) -> Result<Option<&str>, ParamError> {
        let mut values = self.pairs.iter().filter(|(k, _)| k == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(ParamError::new(name, "may be given only once"));
        }
        Ok(first)
    }

    /// The values of a repeatable parameter, comma-separated values split; empty
    /// items are refused so that a typo like `tag=a,,b` is not silently ignored.
    pub fn list(&self, name: &str) -> Result<Vec<&str>, ParamError> {
        let mut values = Vec::new();
        for (_, value) in self.pairs.iter().filter(|(k, _)| k == name) {
            for item in value.split(',') {
                let item = item.trim();
                if item.is_empty() {
                    return Err(ParamError::new(name, "has an empty value"));
                }
                values.push(item);
            }
        }
        if values.len() > MAX_VALUES {
            return Err(ParamError::new(
                name,
                format!("takes at most {MAX_VALUES} values (got {})", values.len()),
            ));
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_comma_separated_values_are_collected() {
        let p = QueryParams::parse(Some("tag=a&tag=b,c&limit=5"), &["tag", "limit"]).unwrap();
        assert_eq!(p.list("tag").unwrap(), ["a", "b", "c"]);
        assert_eq!(p.single("limit").unwrap(), Some("5"));
        assert_eq!(p.single("tag").unwrap_err().name, "tag");
    }

    #[test]
    fn unknown_names_and_empty_items_are_refused() {
        assert_eq!(
            QueryParams::parse(Some("colour=red"), &["tag"])
                .unwrap_err()
                .name,
            "colour"
        );
        let p = QueryParams::parse(Some("tag=a,,b"), &["tag"]).unwrap();
        assert!(p.list("tag").is_err());
        let many = (0..21)
            .map(|i| format!("tag=t{i}"))
            .collect::<Vec<_>>()
            .join("&");
        let p = QueryParams::parse(Some(&many), &["tag"]).unwrap();
        assert!(p.list("tag").is_err());
    }
}
