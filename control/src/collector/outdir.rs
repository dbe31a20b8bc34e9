//! The output directory of a collection function: one [`LiidOut`] per LIID (or
//! XID), opened on first use and resumed from its journal at start. Shared by the
//! network collector and the probe's local `pcap-dir` destinations.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::liid::{safe_component, LiidOut, LiidSummary};
use crate::handover::pdu::{Decoded, DecodedKind};

/// Every LIID's files under one directory.
#[derive(Debug)]
pub struct OutDir {
    out: PathBuf,
    liids: BTreeMap<String, LiidOut>,
    /// LIIDs written since the last [`OutDir::commit`].
    touched: Vec<String>,
}

impl OutDir {
    /// Creates `out` if needed and resumes every LIID directory in it (data files
    /// truncated back to their journals).
    ///
    /// # Errors
    /// The directory or a LIID's files cannot be used; the message says which.
    pub fn open(out: &Path) -> Result<Self, (String, std::io::Error)> {
        let ctx = |what: String| move |e| (what, e);
        std::fs::create_dir_all(out).map_err(ctx(format!("create {}", out.display())))?;
        let mut liids = BTreeMap::new();
        for entry in std::fs::read_dir(out).map_err(ctx(format!("read {}", out.display())))? {
            let entry = entry.map_err(ctx(format!("read {}", out.display())))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().join("journal.jsonl").exists() && safe_component(&name) {
                let o = LiidOut::open(out, &name).map_err(ctx(format!("resume {name}")))?;
                liids.insert(name, o);
            }
        }
        Ok(OutDir {
            out: out.to_owned(),
            liids,
            touched: Vec::new(),
        })
    }

    /// Writes one PDU received on `stream` (dedup by sequence number per stream).
    /// Keepalives are not data and are ignored.
    ///
    /// # Errors
    /// The LIID/XID is unusable as a directory name, or a write failed.
    pub fn accept(&mut self, stream: &str, pdu: &Decoded<'_>) -> Result<(), String> {
        if matches!(pdu.kind, DecodedKind::Keepalive | DecodedKind::KeepaliveAck) {
            return Ok(());
        }
        let name: &str = &pdu.liid_or_xid;
        if !safe_component(name) {
            return Err("LIID/XID unusable as a directory name".to_owned());
        }
        let out = match self.liids.get_mut(name) {
            Some(o) => o,
            None => {
                let o = LiidOut::open(&self.out, name).map_err(|e| format!("open output: {e}"))?;
                self.liids.entry(name.to_owned()).or_insert(o)
            }
        };
        out.accept(stream, pdu).map_err(|e| format!("write: {e}"))?;
        if self.touched.last().map(String::as_str) != Some(name)
            && !self.touched.iter().any(|t| t == name)
        {
            self.touched.push(name.to_owned());
        }
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
}
