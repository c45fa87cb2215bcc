//! What a version changes, for the audit trail and for reviewers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One difference between two versions, at a JSON Pointer path of the
/// document (`/queues/desk/ring_timeout`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub path: String,
    /// The value before (None: added).
    pub before: Option<Value>,
    /// The value after (None: removed).
    pub after: Option<Value>,
}

/// The differences from `before` to `after` (any serialisable documents;
/// None before: everything is added).
pub fn diff<T: Serialize>(before: Option<&T>, after: &T) -> Vec<Difference> {
    let before = before
        .and_then(|b| serde_json::to_value(b).ok())
        .unwrap_or(Value::Null);
    let after = serde_json::to_value(after).unwrap_or(Value::Null);
    json_patch::diff(&before, &after)
        .0
        .into_iter()
        .map(|operation| {
            use json_patch::PatchOperation::*;
            match operation {
                Add(add) => Difference {
                    path: add.path.to_string(),
                    before: None,
                    after: Some(add.value),
                },
                Remove(remove) => Difference {
                    before: pointer(&before, &remove.path.to_string()),
                    path: remove.path.to_string(),
                    after: None,
                },
                Replace(replace) => Difference {
                    before: pointer(&before, &replace.path.to_string()),
                    path: replace.path.to_string(),
                    after: Some(replace.value),
                },
                // diff() only produces add, remove and replace.
                other => Difference {
                    path: format!("{other:?}"),
                    before: None,
                    after: None,
                },
            }
        })
        .collect()
}

fn pointer(value: &Value, path: &str) -> Option<Value> {
    value.pointer(path).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_change_lists_what_was_added_removed_and_replaced() {
        let before = json!({ "name": "Library", "queues": { "desk": { "ring_timeout": "15s" } }, "tags": ["a"] });
        let after = json!({ "name": "Library", "queues": { "desk": { "ring_timeout": "20s" } }, "outbound": { "scope": "local" } });
        let mut differences = diff(Some(&before), &after);
        differences.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(
            differences,
            [
                Difference {
                    path: "/outbound".into(),
                    before: None,
                    after: Some(json!({ "scope": "local" }))
                },
                Difference {
                    path: "/queues/desk/ring_timeout".into(),
                    before: Some(json!("15s")),
                    after: Some(json!("20s"))
                },
                Difference {
                    path: "/tags".into(),
                    before: Some(json!(["a"])),
                    after: None
                },
            ]
        );
        assert_eq!(diff(Some(&after), &after), []);
    }
}
