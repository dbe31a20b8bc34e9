//! Free space where the probe writes: the state database and audit mirror,
//! and each destination's spool (or pcap directory). These are the config's
//! own paths, so they are checked where they are, not below the host root.

use std::path::{Path, PathBuf};

use super::Finding;
use crate::config::Config;

/// Below this the database, the audit mirror or a spool stops accepting writes soon.
const FATAL_BYTES: u64 = 64 << 20;
/// Room the state directory should keep (the audit chain grows with every change).
const STATE_BYTES: u64 = 1 << 30;

/// Bytes available to unprivileged writers on the file system holding `path`
/// (or its nearest existing ancestor, as the probe creates missing directories).
fn available(path: &Path) -> Option<(PathBuf, u64)> {
    let path = std::path::absolute(path).ok()?;
    let existing = path.ancestors().find(|p| p.exists())?;
    let st = rustix::fs::statvfs(existing).ok()?;
    Some((existing.to_owned(), st.f_bavail.saturating_mul(st.f_frsize)))
}

fn gib(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let g = bytes as f64 / f64::from(1u32 << 30);
    format!("{g:.1} GiB")
}

/// One finding per directory written to.
pub(super) fn space(config: &Config) -> Vec<Finding> {
    const CHECK: &str = "disk";
    let parent = |p: &Path| {
        p.parent()
            .map_or_else(|| PathBuf::from("."), Path::to_owned)
    };
    let mut dirs: Vec<(String, PathBuf, u64)> = vec![
        (
            "state.database".into(),
            parent(&config.state.database),
            STATE_BYTES,
        ),
        (
            "state.audit_mirror".into(),
            parent(&config.state.audit_mirror),
            STATE_BYTES,
        ),
    ];
    for d in &config.destinations {
        let (key, dir) = match (&d.spool_dir, &d.directory) {
            (Some(s), _) => ("spool_dir", s),
            (None, Some(dir)) => ("directory", dir),
            (None, None) => continue,
        };
        dirs.push((
            format!("destinations.{}.{key}", d.name),
            dir.clone(),
            d.spool_max_bytes,
        ));
    }
    dirs.into_iter()
        .map(|(key, dir, want)| {
            let Some((existing, free)) = available(&dir) else {
                return Finding::fatal(
                    CHECK,
                    format!("{key}: {} has no existing ancestor to check", dir.display()),
                    "fix the path in the configuration",
                );
            };
            let what = format!("{key}: {} free at {}", gib(free), existing.display());
            if free < FATAL_BYTES {
                Finding::fatal(
                    CHECK,
                    what,
                    "free space on that file system, or move the directory",
                )
            } else if free < want {
                Finding::warn(
                    CHECK,
                    format!("{what}, below the {} it may need", gib(want)),
                    "free space, move the directory to a larger file system, or lower \
                     spool_max_bytes so the spool alarm fires before the disk fills",
                )
            } else {
                Finding::ok(CHECK, what)
            }
        })
        .collect()
}
