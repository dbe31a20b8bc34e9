//! Where an LIID's (or XID's) files go. An LIID comes from a warrant or off the
//! wire: it is data, never trusted as a path. Each one gets `OUT/liid/<name>/`,
//! where `<name>` is an injective encoding of its octets that holds only ASCII
//! letters, digits, `-`, `_`, `%` and `~`:
//!
//! - letters and digits as they are, `-` and `_` too except as the first
//!   character; every other octet (`.`, `/`, `%`, `~`, non-ASCII…) as `%XX`;
//! - an encoding longer than [`NAME_MAX`] is cut to its first [`KEEP`]
//!   characters and followed by `~` and the SHA-256 of the LIID in hex.
//!
//! So a name is never empty, `.`, `..`, hidden or dash-led, has no dot (every
//! file either side writes has one: `sequences.json`, spool segments, the
//! journals), and sits in a directory of its own. The LIID itself is in the
//! directory's [`LIID_FILE`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Subdirectory of an output directory holding one directory per LIID/XID.
pub const LIID_ROOT: &str = "liid";
/// File in each LIID directory holding the LIID, verbatim.
pub const LIID_FILE: &str = "liid";
/// Longest encoding used whole (file systems allow 255 octets per name).
const NAME_MAX: usize = 200;
/// Characters of a longer encoding kept before its hash.
const KEEP: usize = 120;

/// The directory name of `liid` under `OUT/liid/`.
#[must_use]
pub fn dir_name(liid: &str) -> String {
    if liid.is_empty() {
        // No other encoding is a lone `%`.
        return "%".to_owned();
    }
    let mut s = String::with_capacity(liid.len());
    for (i, b) in liid.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || (i > 0 && matches!(b, b'-' | b'_')) {
            s.push(char::from(b));
        } else {
            let _infallible = write!(s, "%{b:02X}");
        }
    }
    if s.len() <= NAME_MAX {
        return s;
    }
    // Not inside an escape, for readability only: the hash decides.
    let cut = s[..KEEP]
        .rfind('%')
        .filter(|&p| p + 3 > KEEP)
        .unwrap_or(KEEP);
    s.truncate(cut);
    s.push('~');
    s.push_str(&hex::encode(Sha256::digest(liid.as_bytes())));
    s
}

/// `out/liid/<dir_name(liid)>`: where the collector (or a `pcap-dir`
/// destination) writing to `out` puts `liid`'s files.
#[must_use]
pub fn liid_dir(out: &Path, liid: &str) -> PathBuf {
    out.join(LIID_ROOT).join(dir_name(liid))
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn readable_liids_stay_readable_and_odd_ones_are_escaped() {
        for (liid, name) in [
            ("LIID-CC-1", "LIID-CC-1"),
            ("sequences.json", "sequences%2Ejson"),
            (".hidden", "%2Ehidden"),
            ("...", "%2E%2E%2E"),
            ("-rf", "%2Drf"),
            ("_x", "%5Fx"),
            ("a/b", "a%2Fb"),
            ("%2F", "%252F"),
            ("é", "%C3%A9"),
            ("", "%"),
        ] {
            assert_eq!(dir_name(liid), name, "{liid:?}");
        }
        let long = "é".repeat(128);
        let name = dir_name(&long);
        assert!(name.len() <= NAME_MAX + 1 + 64, "{name}");
        assert!(name.starts_with("%C3%A9") && name.contains('~'), "{name}");
    }

    fn usable(name: &str) {
        assert!(!name.is_empty() && name.len() <= 255, "{name:?}");
        assert!(!name.starts_with(['.', '-']), "{name:?}");
        assert!(!name.contains(['.', '/', '\\', '\0']), "{name:?}");
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_%~".contains(&b)),
            "{name:?}"
        );
    }

    fn liid() -> impl Strategy<Value = String> {
        prop_oneof![
            // Short and colliding-prone: dots, dashes, escapes-lookalikes.
            "[-._%~/a-cA-C0-2]{0,6}",
            any::<String>(),
            // Around the length where names are hashed.
            "[a-z%é]{40,260}",
        ]
    }

    proptest! {
        #[test]
        fn distinct_liids_get_distinct_usable_dirs(
            liids in proptest::collection::vec(liid(), 1..64)
        ) {
            let mut seen: HashMap<String, &str> = HashMap::new();
            for l in &liids {
                let name = dir_name(l);
                usable(&name);
                for taken in ["sequences.json", "sequences.json.tmp", "journal.jsonl"] {
                    prop_assert_ne!(&name, taken);
                }
                if let Some(other) = seen.insert(name.clone(), l) {
                    prop_assert_eq!(other, l.as_str(), "{} and {} share {}", other, l, name);
                }
            }
        }
    }
}
