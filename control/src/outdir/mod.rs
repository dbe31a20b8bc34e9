//! The output directory of a collection function: one [`LiidOut`] per LIID (or
//! XID) under `OUT/liid/`, created on first use and resumed from its journal at
//! start. At most `max_open` LIIDs have their files open (4 descriptors each):
//! the least recently written one is committed and closed to make room, and
//! reopened in place when written again. Shared by the network collector
//! ([`crate::collector`]) and the probe's local `pcap-dir` destinations, so
//! neither imports the other.

mod calls;
mod liid;
mod liiddir;
mod pcapout;

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use calls::{CallRecord, EndReason, Phase, RtpFlow, SdpMedia, Side};
use liid::LiidOut;
pub use liid::LiidSummary;
pub use liiddir::liid_dir;
use liiddir::LIID_ROOT;

use crate::handover::pdu::{Decoded, DecodedKind};

/// Default of how many LIIDs keep their files open.
pub const DEFAULT_MAX_OPEN: usize = 1024;

/// Every LIID's files under one directory.
#[derive(Debug)]
pub struct OutDir {
    /// `OUT/liid`.
    root: PathBuf,
    liids: BTreeMap<String, LiidOut>,
    /// LIIDs with open files, at most `max_open`.
    open: usize,
    max_open: usize,
    /// Counts writes: the LRU's clock.
    clock: u64,
    /// LIIDs written since the last [`OutDir::commit`].
    touched: Vec<String>,
}

impl OutDir {
    /// Creates `out` if needed and resumes every LIID directory in it (data files
    /// are truncated back to their journals when next opened). At most
    /// `max_open` (at least 1) LIIDs keep their files open.
    ///
    /// # Errors
    /// The directory or a LIID's files cannot be used; the message says which.
    pub fn open(out: &Path, max_open: usize) -> Result<Self, (String, std::io::Error)> {
        let ctx = |what: String| move |e| (what, e);
        warn_old_layout(out);
        let root = out.join(LIID_ROOT);
        std::fs::create_dir_all(&root).map_err(ctx(format!("create {}", root.display())))?;
        let mut liids = BTreeMap::new();
        for entry in std::fs::read_dir(&root).map_err(ctx(format!("read {}", root.display())))? {
            let entry = entry.map_err(ctx(format!("read {}", root.display())))?;
            let path = entry.path();
            let resumed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                LiidOut::resume(path.clone()).map_err(ctx(format!("resume {}", path.display())))?
            } else {
                None
            };
            match resumed {
                Some(o) => {
                    liids.insert(o.liid().to_owned(), o);
                }
                None => tracing::warn!(path = %path.display(), "not an LIID directory; ignored"),
            }
        }
        Ok(OutDir {
            root,
            liids,
            open: 0,
            max_open: max_open.max(1),
            clock: 0,
            touched: Vec::new(),
        })
    }

    /// Writes one PDU received on `stream` (dedup by sequence number per stream).
    /// Keepalives are not data and are ignored.
    ///
    /// # Errors
    /// The LIID's files cannot be created or opened, or a write failed.
    pub fn accept(&mut self, stream: &str, pdu: &Decoded<'_>) -> Result<(), String> {
        if matches!(pdu.kind, DecodedKind::Keepalive | DecodedKind::KeepaliveAck) {
            return Ok(());
        }
        let liid: &str = &pdu.liid_or_xid;
        self.clock += 1;
        let clock = self.clock;
        if !self.liids.get(liid).is_some_and(LiidOut::is_open) {
            self.reopen(liid)?;
        }
        let out = self
            .liids
            .get_mut(liid)
            .ok_or_else(|| "LIID output missing".to_owned())?;
        out.last_used = clock;
        out.accept(stream, pdu).map_err(|e| format!("write: {e}"))?;
        if self.touched.last().map(String::as_str) != Some(liid)
            && !self.touched.iter().any(|t| t == liid)
        {
            self.touched.push(liid.to_owned());
        }
        Ok(())
    }

    /// Opens `liid`'s files (creating its directory if new), first closing the
    /// least recently written LIID if `max_open` are open.
    fn reopen(&mut self, liid: &str) -> Result<(), String> {
        if self.open >= self.max_open {
            let lru = self
                .liids
                .values_mut()
                .filter(|o| o.is_open())
                .min_by_key(|o| o.last_used);
            if let Some(o) = lru {
                o.close().map_err(|e| format!("close another LIID: {e}"))?;
                self.open -= 1;
            }
        }
        let out = match self.liids.entry(liid.to_owned()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(
                LiidOut::create(&self.root, liid).map_err(|e| format!("create output: {e}"))?,
            ),
        };
        out.open_files().map_err(|e| format!("open output: {e}"))?;
        self.open += 1;
        Ok(())
    }

    /// Flushes and journals every LIID written since the last commit.
    ///
    /// # Errors
    /// A flush or journal write failed (every LIID is still attempted).
    pub fn commit(&mut self) -> Result<(), String> {
        let mut failed = Ok(());
        for name in self.touched.drain(..) {
            if let Some(out) = self.liids.get_mut(&name) {
                if let Err(e) = out.commit() {
                    failed = Err(format!("journal: {e}"));
                }
            }
        }
        failed
    }

    /// Counters per LIID/XID.
    pub fn summaries(&self) -> BTreeMap<String, LiidSummary> {
        self.liids
            .iter()
            .map(|(k, v)| (k.clone(), v.summary().clone()))
            .collect()
    }

    /// The directory of each LIID/XID.
    pub fn directories(&self) -> BTreeMap<String, PathBuf> {
        self.liids
            .iter()
            .map(|(k, v)| (k.clone(), v.dir().to_owned()))
            .collect()
    }
}

/// Says if `out` holds LIID directories of the layout before `OUT/liid/`
/// (`OUT/<LIID>/journal.jsonl`): they are left as they are, not resumed.
fn warn_old_layout(out: &Path) {
    let old = std::fs::read_dir(out).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().join("journal.jsonl").is_file())
            .count()
    });
    if old > 0 {
        tracing::warn!(
            out = %out.display(),
            directories = old,
            "output of an earlier version (OUT/<LIID>/) is not resumed; new output goes to OUT/liid/"
        );
    }
}

/// Raises this process's open-files soft limit to its hard limit, so that
/// descriptors run out as late as allowed; logs the limit in force.
pub fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => tracing::debug!(open_files_limit = soft, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit"),
    }
}
