//! The machine-readable summary every bench adds its figures to:
//! `$CARGO_TARGET_DIR/bench-summary.json` (else `target/bench-summary.json`), as
//! `{"measures": [{"bench", "name", "ours_s", "theirs_s", "ratio", "target", "at"}, …]}`.
//! Entries merge by bench and measure name, so running one bench keeps the others' figures.
//! A measure that is not a time (peak memory) gives `ours_mib` instead of `ours_s`.
//!
//! Included by each bench with `#[path = "common/summary.rs"] mod summary;`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};

/// One figure of a bench.
pub struct Measure {
    pub name: String,
    pub fields: Map<String, Value>,
}

impl Measure {
    /// A time of ours against the same work done by git (or another baseline) in the same run.
    pub fn ratio(name: &str, ours: Duration, theirs: Duration, target: &str) -> Measure {
        let (ours, theirs) = (ours.as_secs_f64(), theirs.as_secs_f64());
        let ratio = if theirs > 0.0 { ours / theirs } else { f64::NAN };
        Measure::with(name, json!({ "ours_s": ours, "theirs_s": theirs, "ratio": ratio, "target": target }))
    }

    /// A time of ours with no baseline.
    pub fn time(name: &str, ours: Duration, target: &str) -> Measure {
        Measure::with(name, json!({ "ours_s": ours.as_secs_f64(), "target": target }))
    }

    /// A peak memory figure, in MiB.
    pub fn memory(name: &str, mib: f64, target: &str) -> Measure {
        Measure::with(name, json!({ "ours_mib": mib, "target": target }))
    }

    /// A plain count or score (e.g. push rounds), with what it is compared to.
    pub fn value(name: &str, key: &str, value: f64, target: &str) -> Measure {
        let mut fields = Map::new();
        fields.insert(key.to_owned(), json!(value));
        fields.insert("target".to_owned(), json!(target));
        Measure { name: name.to_owned(), fields }
    }

    fn with(name: &str, fields: Value) -> Measure {
        let Value::Object(fields) = fields else { unreachable!("built from an object literal") };
        Measure { name: name.to_owned(), fields }
    }
}

/// Where the summary lives.
pub fn path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-summary.json")
}

/// Whether the bench runs in quick mode (`MAESTRO_BENCH_QUICK=1`).
pub fn quick() -> bool {
    std::env::var_os("MAESTRO_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Remove the bench's temp directory `tmp`, unless `MAESTRO_BENCH_KEEP=1`: then say where it
/// is, so its repositories can be profiled (`valgrind --tool=callgrind git maestro …`).
pub fn remove_temp(tmp: &std::path::Path) {
    if std::env::var_os("MAESTRO_BENCH_KEEP").is_some_and(|v| !v.is_empty() && v != "0") {
        println!("kept {}", tmp.display());
    } else {
        let _ = std::fs::remove_dir_all(tmp);
    }
}

/// Add `measures` of `bench` to the summary, replacing earlier entries of the same names.
pub fn record(bench: &str, measures: Vec<Measure>) {
    let path = path();
    let mut all: Vec<Value> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|v| v.get("measures").and_then(Value::as_array).cloned())
        .unwrap_or_default();
    let at = jiff::Timestamp::now().to_string();
    for measure in measures {
        all.retain(|e| !(e["bench"] == bench && e["name"] == measure.name.as_str()));
        let mut entry = Map::new();
        entry.insert("bench".into(), json!(bench));
        entry.insert("name".into(), json!(measure.name));
        entry.extend(measure.fields);
        entry.insert("quick".into(), json!(quick()));
        entry.insert("at".into(), json!(at));
        all.push(Value::Object(entry));
    }
    all.sort_by(|a, b| {
        let key =
            |v: &Value| (v["bench"].as_str().unwrap_or("").to_owned(), v["name"].as_str().unwrap_or("").to_owned());
        key(a).cmp(&key(b))
    });
    let text = serde_json::to_string_pretty(&json!({ "measures": all })).expect("encode the summary");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create the target directory");
    }
    // Written aside and renamed, so a bench running at the same time never reads half a file.
    let tmp = path.with_extension(format!("json.{}", std::process::id()));
    std::fs::write(&tmp, text + "\n").expect("write the bench summary");
    std::fs::rename(&tmp, &path).expect("write the bench summary");
    println!("figures added to {}", path.display());
}
