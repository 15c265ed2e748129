//! The TOML codec for state records: `format = 1` at every root, size limits checked before
//! parsing, and clear errors naming the file.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::validate::Record;
use crate::model::{FORMAT, MAX_STRING_BYTES, MIN_FORMAT};

/// The largest blob the state may hold. Checked from the object header, before reading.
pub const MAX_BLOB_BYTES: u64 = 1024 * 1024;

/// Why a record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("{path} is not UTF-8")]
    NotUtf8 { path: String },
    #[error("{path} has format {found}, newer than this git-maestro understands ({FORMAT})")]
    FutureFormat { path: String, found: i64 },
    #[error("{path} does not parse: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: the string at {field} is {len} bytes; the limit is {MAX_STRING_BYTES}")]
    StringTooLong { path: String, field: String, len: usize },
    #[error("{path} is {len} bytes; the limit is {MAX_BLOB_BYTES}")]
    TooLarge { path: String, len: usize },
    #[error("cannot encode {path}: {message}")]
    Encode { path: String, message: String },
    #[error("{path} is refused: {message}")]
    Invalid { path: String, message: String },
}

/// Read a record of the state: [`decode`] it, then check its strings against the limit and
/// the record against its rules ([`Record::check`]), so what a remote or plain git put there
/// is refused with its path rather than used.
pub fn read<T: Record>(path: &str, bytes: &[u8]) -> Result<T, CodecError> {
    let value: T = decode(path, bytes)?;
    if may_hold_long_string(bytes) {
        let table: toml::Table = decode(path, bytes)?;
        table.iter().try_for_each(|(k, v)| check_strings(path, k, v))?;
    }
    value.check(path).map_err(|message| CodecError::Invalid { path: path.to_owned(), message })?;
    Ok(value)
}

/// Whether a string of the TOML `text` may be over the limit. None can in a blob under it;
/// nor, outside a multi-line string, in a blob whose lines are all under it: other strings
/// and keys end on their line, and escapes only shorten them. This spares a big record (a
/// Score of 10,000 tasks) a second parse.
fn may_hold_long_string(text: &[u8]) -> bool {
    if text.len() <= MAX_STRING_BYTES {
        return false;
    }
    let multi_line = text.windows(3).any(|w| w == b"\"\"\"" || w == b"'''");
    multi_line || text.split(|b| *b == b'\n').any(|line| line.len() > MAX_STRING_BYTES)
}

/// Decode a record. A record whose `format` is newer than ours is refused as such, even if its
/// fields would not parse, so an old binary never misreads a new state.
pub fn decode<T: DeserializeOwned>(path: &str, bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() as u64 > MAX_BLOB_BYTES {
        return Err(CodecError::TooLarge { path: path.to_owned(), len: bytes.len() });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| CodecError::NotUtf8 { path: path.to_owned() })?;
    let parse_error = |e: toml::de::Error| CodecError::Parse { path: path.to_owned(), message: one_line(&e) };
    match toml::from_str::<T>(text) {
        Ok(value) => {
            check_format(path, text)?;
            Ok(value)
        }
        Err(e) => {
            check_format(path, text)?;
            Err(parse_error(e))
        }
    }
}

/// Look at `format` alone. Missing or older formats are parse errors of the typed record.
fn check_format(path: &str, text: &str) -> Result<(), CodecError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        format: Option<toml::Value>,
    }
    let found = match leading_format(text) {
        Some(found) => Some(found),
        None => {
            let Ok(probe) = toml::from_str::<Probe>(text) else { return Ok(()) };
            probe.format.and_then(|v| v.as_integer())
        }
    };
    match found {
        Some(found) if found > FORMAT => Err(CodecError::FutureFormat { path: path.to_owned(), found }),
        Some(MIN_FORMAT..=FORMAT) => Ok(()),
        Some(found) => {
            Err(CodecError::Parse { path: path.to_owned(), message: format!("format {found} is not supported") })
        }
        None => Err(CodecError::Parse { path: path.to_owned(), message: "missing `format`".into() }),
    }
}

/// `format` when the text starts with `format = <digits>` on a line of its own, as every record
/// git-maestro writes does: a root key, since it comes before any table header. Reading it
/// there spares parsing the whole record a second time (a tenth of `status`).
fn leading_format(text: &str) -> Option<i64> {
    let (line, _) = text.split_once('\n')?;
    let digits = line.strip_prefix("format = ")?;
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Encode a record, refusing strings over the limit and blobs over the size limit.
pub fn encode<T: Serialize>(path: &str, value: &T) -> Result<Vec<u8>, CodecError> {
    encode_table(path, &to_table(path, value)?)
}

/// A record as a TOML table, fields in declaration order.
pub fn to_table<T: Serialize>(path: &str, value: &T) -> Result<toml::Table, CodecError> {
    toml::Table::try_from(value).map_err(|e| CodecError::Encode { path: path.to_owned(), message: e.to_string() })
}

/// Encode a table, with the limits of [`encode`].
pub fn encode_table(path: &str, table: &toml::Table) -> Result<Vec<u8>, CodecError> {
    table.iter().try_for_each(|(k, v)| check_strings(path, k, v))?;
    let text =
        toml::to_string(table).map_err(|e| CodecError::Encode { path: path.to_owned(), message: e.to_string() })?;
    if text.len() as u64 > MAX_BLOB_BYTES {
        return Err(CodecError::TooLarge { path: path.to_owned(), len: text.len() });
    }
    Ok(text.into_bytes())
}

fn check_strings(path: &str, field: &str, value: &toml::Value) -> Result<(), CodecError> {
    match value {
        toml::Value::String(s) if s.len() > MAX_STRING_BYTES => {
            Err(CodecError::StringTooLong { path: path.to_owned(), field: field.to_owned(), len: s.len() })
        }
        toml::Value::Array(items) => {
            items.iter().enumerate().try_for_each(|(i, v)| check_strings(path, &format!("{field}[{i}]"), v))
        }
        toml::Value::Table(t) => t.iter().try_for_each(|(k, v)| {
            let f = if field.is_empty() { k.clone() } else { format!("{field}.{k}") };
            check_strings(path, &f, v)
        }),
        _ => Ok(()),
    }
}

/// toml's errors span several lines with a source excerpt; keep the first line and position.
fn one_line(e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_owned();
    match e.span() {
        Some(span) => format!("{msg} (at byte {})", span.start),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Rec {
        format: u32,
        name: String,
    }

    impl Record for Rec {
        fn check(&self, _: &str) -> Result<(), String> {
            Ok(())
        }
    }

    #[test]
    fn round_trip() {
        let rec = Rec { format: 1, name: "x".into() };
        let bytes = encode("r.toml", &rec).expect("a record encodes");
        assert_eq!(decode::<Rec>("r.toml", &bytes).expect("what was encoded decodes"), rec);
    }

    #[test]
    fn future_format_wins_over_unknown_fields() {
        let err = decode::<Rec>("r.toml", b"format = 3\nname = \"x\"\nnew_field = 1\n").unwrap_err();
        assert!(matches!(err, CodecError::FutureFormat { found: 3, .. }), "{err}");
    }

    #[test]
    fn format_is_read_from_the_first_line_or_from_the_whole_record() {
        assert_eq!(leading_format("format = 2\nx = 1\n"), Some(2));
        for text in ["format=2\n", "format = 2 # c\n", "format = \"2\"\n", "x = 1\nformat = 2\n", "format = 2"] {
            assert_eq!(leading_format(text), None, "{text:?}");
        }
        // Elsewhere than the first line, a newer format is still refused.
        let err = decode::<toml::Table>("p", b"x = 1\nformat = 9\n").unwrap_err();
        assert!(matches!(err, CodecError::FutureFormat { found: 9, .. }), "{err}");
        let err = decode::<toml::Table>("p", b"format = 9\nx = 1\n").unwrap_err();
        assert!(matches!(err, CodecError::FutureFormat { found: 9, .. }), "{err}");
        let err = decode::<toml::Table>("p", b"format = 0\n").unwrap_err();
        assert!(err.to_string().contains("format 0 is not supported"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let text = format!("format = 1\nname = {}1{}\n", "[".repeat(200), "]".repeat(200));
        let err = decode::<Rec>("deep.toml", text.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("deep.toml"), "{err}");
    }

    #[test]
    fn oversized_values_are_refused() {
        let long = Rec { format: 1, name: "x".repeat(MAX_STRING_BYTES + 1) };
        assert!(matches!(encode("r.toml", &long), Err(CodecError::StringTooLong { .. })));
        let big = vec![b'#'; MAX_BLOB_BYTES as usize + 1];
        assert!(matches!(decode::<Rec>("r.toml", &big), Err(CodecError::TooLarge { .. })));
    }

    #[test]
    fn a_long_string_is_refused_on_one_line_or_on_many() {
        let x = "x".repeat(MAX_STRING_BYTES + 1);
        let one_line = format!("format = 1\nname = \"{x}\"\n");
        let many = format!("format = 1\nname = \"\"\"\n{}\"\"\"\n", x.replace("xxxxxxxx", "xxxxxxx\n"));
        for text in [one_line, many] {
            assert!(may_hold_long_string(text.as_bytes()));
            let err = read::<Rec>("r.toml", text.as_bytes()).unwrap_err();
            assert!(matches!(err, CodecError::StringTooLong { .. }), "{err}");
        }
        let lines: String = (0..MAX_STRING_BYTES / 8).map(|i| format!("# {i:>5}\n")).collect();
        assert!(!may_hold_long_string(format!("format = 1\n{lines}").as_bytes()));
    }
}
