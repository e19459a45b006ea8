//! Reads a JSON object field by field, collecting every broken rule instead of stopping
//! at the first, so a 422 can list all bad fields at once.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::FieldError;

/// The longest title (or name) accepted.
pub const MAX_TITLE_LEN: usize = 300;
/// The longest summary accepted.
pub const MAX_SUMMARY_LEN: usize = 2_000;
/// The longest long-form text accepted (the contract's "other texts").
pub const MAX_TEXT_LEN: usize = 20_000;

/// Reads the fields of one JSON object; unknown fields are errors too.
pub struct ObjectReader {
    object: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl ObjectReader {
    /// Starts reading `value`, which must be a JSON object.
    pub fn new(value: Value) -> Result<Self, Vec<FieldError>> {
        match value {
            Value::Object(object) => Ok(Self {
                object,
                errors: Vec::new(),
            }),
            other => Err(vec![FieldError::new(
                "",
                format!("the body must be a JSON object, not {}", json_kind(&other)),
            )]),
        }
    }

    /// Reads a field that must be present and not null.
    pub fn required<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        match self.object.remove(name) {
            None | Some(Value::Null) => {
                self.errors.push(FieldError::new(name, "is required"));
                None
            }
            Some(value) => self.check(name, parse(&value)),
        }
    }

    /// Reads a field that may be absent or null.
    pub fn optional<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        match self.object.remove(name) {
            None | Some(Value::Null) => None,
            Some(value) => self.check(name, parse(&value)),
        }
    }

    /// Reads a field whose parser reports its own (possibly nested) field errors.
    pub fn nested<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&Value, &str) -> Result<T, Vec<FieldError>>,
    ) -> Option<T> {
        match self.object.remove(name) {
            None | Some(Value::Null) => None,
            Some(value) => match parse(&value, name) {
                Ok(parsed) => Some(parsed),
                Err(errors) => {
                    self.errors.extend(errors);
                    None
                }
            },
        }
    }

    /// Whether an error has been recorded for `name` or a field inside it.
    pub fn has_error_for(&self, name: &str) -> bool {
        self.errors.iter().any(|e| {
            e.field == name
                || e.field
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        })
    }

    /// Refuses the fields a client may not set (ids, versions, times): each one given
    /// is reported as read-only.
    pub fn refuse_read_only(&mut self, names: &[&str]) {
        for name in names {
            // `null` is what "absent" looks like in a merge-patched document.
            if self.object.remove(*name).is_some_and(|v| !v.is_null()) {
                self.errors
                    .push(FieldError::new(*name, "is read-only and cannot be set"));
            }
        }
    }

    /// Records an error that involves more than one field.
    pub fn push_error(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// Ends the read: every field not read is reported as unknown; `Ok` only when no
    /// rule was broken anywhere.
    pub fn finish(mut self) -> Result<(), Vec<FieldError>> {
        let mut unknown: Vec<_> = self.object.keys().cloned().collect();
        unknown.sort();
        for name in unknown {
            self.errors
                .push(FieldError::new(name, "is not a known field"));
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }

    fn check<T>(&mut self, name: &str, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|message| self.errors.push(FieldError::new(name, message)))
            .ok()
    }
}

/// The errors of an object inside a list, each field named under `prefix`
/// (`sources[2]` and `url` make `sources[2].url`).
pub fn nested_errors(prefix: &str, inner: Vec<FieldError>) -> impl Iterator<Item = FieldError> {
    inner
        .into_iter()
        .map(move |e| FieldError::new(format!("{prefix}.{}", e.field), e.message))
}

/// Names a JSON value's type for messages.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string of at most `max` characters with no NUL character (PostgreSQL refuses it).
pub fn text(value: &Value, max: usize) -> Result<String, String> {
    let Value::String(s) = value else {
        return Err(format!("must be a string, not {}", json_kind(value)));
    };
    check_text(s, max)?;
    Ok(s.clone())
}

/// Like [`text`], but also not blank.
pub fn non_blank_text(value: &Value, max: usize) -> Result<String, String> {
    let s = text(value, max)?;
    if s.trim().is_empty() {
        return Err("must not be blank".into());
    }
    Ok(s)
}

/// Checks the length and the absence of NUL characters.
pub fn check_text(s: &str, max: usize) -> Result<(), String> {
    if s.contains('\0') {
        return Err("must not contain a NUL character".into());
    }
    let chars = s.chars().count();
    if chars > max {
        return Err(format!("must be at most {max} characters (got {chars})"));
    }
    Ok(())
}

/// A calendar date written exactly `YYYY-MM-DD`.
pub fn date(value: &Value) -> Result<NaiveDate, String> {
    let Value::String(s) = value else {
        return Err(format!(
            "must be a date string YYYY-MM-DD, not {}",
            json_kind(value)
        ));
    };
    parse_date(s)
}

/// Parses exactly `YYYY-MM-DD` (chrono alone would also take `2024-3-7`).
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let shaped = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shaped {
        return Err(format!(
            "`{}` is not a date of the form YYYY-MM-DD",
            truncate(s, 40)
        ));
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a real calendar date"))?;
    // PostgreSQL has no year 0 (1 BC comes before 1 AD): refuse it here, not as a 500.
    if chrono::Datelike::year(&date) < 1 {
        return Err(format!("`{s}` is before the year 1"));
    }
    Ok(date)
}

/// An http or https URL of at most 2,000 characters.
pub fn http_url(value: &Value) -> Result<String, String> {
    let s = text(value, 2000)?;
    let url = url::Url::parse(&s).map_err(|e| format!("is not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http or https URL with a host".into());
    }
    if !is_plain_http_url(&s) {
        return Err(
            "must be `http(s)://host[:port][/path]`: a host of letters, digits, dots and \
             hyphens, no user name, nothing but a path after it, no spaces"
                .into(),
        );
    }
    Ok(s)
}

/// The form the document promises (`HttpUrl`'s pattern), checked as written: the URL
/// parser alone accepts more (`https://host*`, `https://user@host`, `https://host?q`).
fn is_plain_http_url(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65_535)
    });
    let path_ok = !path.chars().any(|c| c.is_whitespace() || c == '\0');
    host_ok && port_ok && path_ok
}

/// A value that must be one of `names`; returns the index of the match.
pub fn one_of(value: &Value, names: &[&str]) -> Result<usize, String> {
    let Value::String(s) = value else {
        return Err(format!("must be one of: {}", names.join(", ")));
    };
    names
        .iter()
        .position(|n| n == s)
        .ok_or_else(|| format!("`{}` is not one of: {}", truncate(s, 40), names.join(", ")))
}

/// A JSON array of at most `max` items.
pub fn array(value: &Value, max: usize) -> Result<&Vec<Value>, String> {
    let Value::Array(items) = value else {
        return Err(format!("must be an array, not {}", json_kind(value)));
    };
    if items.len() > max {
        return Err(format!(
            "must have at most {max} items (got {})",
            items.len()
        ));
    }
    Ok(items)
}

/// Cuts `s` for quoting in a message.
pub fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut r = ObjectReader::new(json!({"a": 1, "b": "x", "zzz": true})).unwrap();
        let a = r.required("a", |v| text(v, 10));
        let b = r.required("b", |v| text(v, 10));
        let c = r.required("c", |v| text(v, 10));
        assert_eq!((a, b.as_deref(), c), (None, Some("x"), None));
        let errors = r.finish().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "c", "zzz"]);
    }

    #[test]
    fn dates_must_be_exact_and_real() {
        assert!(parse_date("2024-03-27").is_ok());
        assert!(parse_date("0001-01-01").is_ok());
        for bad in [
            "0000-01-01",
            "2024-3-27",
            "2024-13-01",
            "2023-02-29",
            "27/03/2024",
            "",
            "2024-03-27T00:00:00Z",
        ] {
            assert!(parse_date(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn texts_refuse_nul_and_overlength() {
        assert!(check_text("ok", 2).is_ok());
        assert!(check_text("é".repeat(3).as_str(), 3).is_ok());
        assert!(check_text("abc", 2).is_err());
        assert!(check_text("a\0b", 10).is_err());
    }

    #[test]
    fn urls_must_be_http() {
        for good in [
            "https://example.com/a?b=c",
            "http://127.0.0.1:8080",
            "https://www.aboutamazon.com/news/x#part",
        ] {
            assert!(http_url(&json!(good)).is_ok(), "{good} should be accepted");
        }
        for bad in [
            "ftp://x.org",
            "javascript:alert(1)",
            "not a url",
            "https://",
            "https://host*",
            "https://user@example.com/",
            "https://example.com?q=1",
            "https://example.com:99999/",
            "HTTPS://example.com/",
        ] {
            assert!(http_url(&json!(bad)).is_err(), "{bad} should be refused");
        }
    }
}
