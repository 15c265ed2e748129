//! The one JSON vocabulary of `--json` output, applied where JSON leaves the process.
//!
//! Commands serialize their values as they are (the stored records among them, with the field
//! names of their TOML files); [`public`] then makes every document speak the same way:
//!
//! - a task is `{score, id, status, …}` (the record itself), and anything else that names a task
//!   says `score` and `task` (its id), never an address `"task": "calc/add"`;
//! - a time of a stored record is `at` (a record's `created` is shown as `at`);
//! - the hybrid clocks that order writes for `sync` (`sync.clock`, `claim.clock`) stay inside.
//!
//! Stored records are recognised by their `format` key, which every TOML root carries; nothing
//! else is renamed, so text from the state never changes shape by accident.

use serde_json::{Map, Value};

/// `value` in the public vocabulary (see the module doc).
pub fn public(mut value: Value) -> Value {
    visit(&mut value);
    value
}

fn visit(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(visit),
        Value::Object(map) => {
            if map.contains_key("format") {
                record(map);
            }
            split_task_address(map);
            map.values_mut().for_each(visit);
        }
        _ => {}
    }
}

/// A stored record: `created` becomes `at`; its sync and claim clocks are dropped.
fn record(map: &mut Map<String, Value>) {
    if !map.contains_key("at")
        && let Some(created) = map.remove("created")
    {
        map.insert("at".into(), created);
    }
    for inner in ["sync", "claim"] {
        if let Some(Value::Object(inner)) = map.get_mut(inner) {
            inner.remove("clock");
        }
    }
}

/// `"task": "<score>/<task>"` becomes `"score": "<score>", "task": "<task>"` (when the object
/// names no other Score).
fn split_task_address(map: &mut Map<String, Value>) {
    let Some(Value::String(address)) = map.get("task") else { return };
    let Some((score, task)) = address.split_once('/') else { return };
    if map.get("score").is_some_and(|s| s.as_str() != Some(score)) {
        return;
    }
    let (score, task) = (score.to_owned(), task.to_owned());
    map.insert("score".into(), Value::String(score));
    map.insert("task".into(), Value::String(task));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::public;

    #[test]
    fn a_records_created_time_is_at_and_its_clocks_stay_inside() {
        let task = json!({
            "format": 2, "id": "add", "score": "calc", "status": "merged", "created": "2026-01-01T00:00:00Z",
            "claim": { "holder": "x", "clock": "1.0" }, "sync": { "clock": "2.0", "op": "o" },
        });
        assert_eq!(
            public(task),
            json!({
                "format": 2, "id": "add", "score": "calc", "status": "merged", "at": "2026-01-01T00:00:00Z",
                "claim": { "holder": "x" }, "sync": { "op": "o" },
            })
        );
    }

    #[test]
    fn a_task_address_becomes_score_and_task_at_any_depth() {
        let rows = json!([{ "event": "started", "task": "calc/add" }, { "x": [{ "task": "calc/sub" }] }]);
        assert_eq!(
            public(rows),
            json!([
                { "event": "started", "score": "calc", "task": "add" },
                { "x": [{ "score": "calc", "task": "sub" }] },
            ])
        );
    }

    #[test]
    fn objects_that_are_not_records_keep_their_fields() {
        let value = json!({ "created": "2026-01-01T00:00:00Z", "clock": "1.0", "task": "add", "score": "calc" });
        assert_eq!(public(value.clone()), value);
        let other_score = json!({ "score": "a", "task": "b/c" });
        assert_eq!(public(other_score.clone()), other_score, "a different Score is not overwritten");
    }
}
