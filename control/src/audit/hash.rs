//! The canonical encoding an audit record's hash covers.
//!
//! ```text
//! hash = hex(SHA-256( "calea-probe audit v1\n"
//!                     || u64be(seq)
//!                     || lp(time) || lp(actor) || lp(action) || lp(object)
//!                     || lp(canonical_json(details)) || lp(prev_hash) ))
//! lp(x) = u64be(byte length of x) || x        (x as UTF-8)
//! ```
//!
//! Every field is length-prefixed, so no two different records encode to the
//! same bytes (no separator can be forged inside a field). `canonical_json`
//! writes objects with keys sorted by byte order, no whitespace, strings and
//! numbers as serde_json writes them; it is also the form stored in the database.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const DOMAIN: &[u8] = b"calea-probe audit v1\n";

/// The fields a record's hash covers, as text.
pub(crate) struct HashInput<'a> {
    pub seq: u64,
    pub time: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub object: &'a str,
    pub details: &'a str,
    pub prev_hash: &'a str,
}

impl HashInput<'_> {
    /// Lower-case hex SHA-256 of the canonical encoding.
    pub(crate) fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        h.update(self.seq.to_be_bytes());
        for field in [
            self.time,
            self.actor,
            self.action,
            self.object,
            self.details,
            self.prev_hash,
        ] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// JSON text with object keys sorted, independent of serde_json's map order.
pub(crate) fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(k) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn input<'a>(details: &'a str, actor: &'a str, object: &'a str) -> HashInput<'a> {
        HashInput {
            seq: 1,
            time: "2026-01-01T00:00:00Z",
            actor,
            action: "probe_start",
            object,
            details,
            prev_hash: GENESIS_HASH,
        }
    }

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let v: Value = serde_json::json!({"b": 1, "a": {"z": [1, {"y": 2, "x": "s"}], "c": null}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":null,"z":[1,{"x":"s","y":2}]},"b":1}"#
        );
    }

    #[test]
    fn field_boundaries_change_the_hash() {
        // Moving a character from one field to the next must not collide.
        let a = input("{}", "ab", "c").hash();
        let b = input("{}", "a", "bc").hash();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(a, input("{}", "ab", "c").hash());
    }
}
