//! JSON Merge Patch (RFC 7396), the body of every `PATCH`.

use serde::Serialize;
use serde_json::Value;

/// The document a patch produces: `base` (a resource's request type, made from the
/// stored record) as JSON, with `patch` merged into it.
pub fn merge_into<T: Serialize>(base: &T, patch: &Value) -> Result<Value, serde_json::Error> {
    let mut document = serde_json::to_value(base)?;
    merge_patch(&mut document, patch);
    Ok(document)
}

/// Applies a JSON Merge Patch (RFC 7396) to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
        merge_patch(&mut doc, &json!({"a": [1]}));
        assert_eq!(doc["a"], json!([1]));
    }
}
