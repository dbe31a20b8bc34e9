//! Per-intercept sequence numbers of one destination, persisted beside its spool.
//!
//! Numbers are contiguous from 0 across reconnects (the link resends, it never
//! renumbers) and across clean restarts (the exact next numbers are written at
//! shutdown). While running, blocks of [`RESERVE`] numbers are reserved on disk
//! ahead of use, so after a crash numbering resumes past anything ever sent: a
//! crash shows as a gap at the collector, never as a reused number whose PDU
//! would be dropped as a duplicate.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::HandoverError;

/// Numbers reserved per disk write.
pub const RESERVE: u32 = 1 << 20;

/// Next sequence number per intercept key for one destination.
#[derive(Debug)]
pub struct Sequences {
    path: PathBuf,
    next: HashMap<u32, u32>,
    reserved: HashMap<u32, u32>,
}

impl Sequences {
    /// Loads `dir/sequences.json` (absent = every intercept starts at 0).
    ///
    /// # Errors
    /// The file exists but cannot be read or parsed.
    pub fn load(dir: &Path) -> Result<Self, HandoverError> {
        let path = dir.join("sequences.json");
        let next: HashMap<u32, u32> = match fs::read(&path) {
            Ok(raw) => serde_json::from_slice(&raw).map_err(|e| HandoverError::Io {
                path: path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(HandoverError::io(&path)(e)),
        };
        let reserved = next.clone();
        Ok(Sequences {
            path,
            next,
            reserved,
        })
    }

    /// The number the next record of intercept `key` gets.
    pub fn peek(&self, key: u32) -> u32 {
        self.next.get(&key).copied().unwrap_or(0)
    }

    /// Consumes the number returned by [`Sequences::peek`] (after the record was
    /// encoded, so an encode failure leaves no gap).
    ///
    /// # Errors
    /// The reservation could not be made durable.
    pub fn advance(&mut self, key: u32) -> Result<(), HandoverError> {
        let next = self.next.entry(key).or_insert(0);
        let seq = *next;
        *next = seq.wrapping_add(1);
        let reserved = self.reserved.entry(key).or_insert(0);
        if seq == *reserved {
            *reserved = seq.wrapping_add(RESERVE);
            let snapshot = self.reserved.clone();
            self.write(&snapshot)?;
        }
        Ok(())
    }

    /// Forgets an intercept whose route is gone (after a final exact persist).
    pub fn forget(&mut self, key: u32) {
        self.next.remove(&key);
        self.reserved.remove(&key);
    }

    /// Writes the exact next numbers (clean shutdown).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn persist_exact(&mut self) -> Result<(), HandoverError> {
        let exact = self.next.clone();
        self.write(&exact)?;
        self.reserved = exact;
        Ok(())
    }

    fn write(&self, map: &HashMap<u32, u32>) -> Result<(), HandoverError> {
        let tmp = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec(map).map_err(|e| HandoverError::Io {
            path: tmp.clone(),
            source: std::io::Error::other(e),
        })?;
        let mut f = fs::File::create(&tmp).map_err(HandoverError::io(&tmp))?;
        f.write_all(&body)
            .and_then(|()| f.sync_all())
            .map_err(HandoverError::io(&tmp))?;
        fs::rename(&tmp, &self.path).map_err(HandoverError::io(&self.path))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn contiguous_across_clean_restart_and_skips_after_crash() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Sequences::load(dir.path()).unwrap();
        let take = |s: &mut Sequences, k| {
            let n = s.peek(k);
            s.advance(k).unwrap();
            n
        };
        assert_eq!(
            (take(&mut s, 7), take(&mut s, 7), take(&mut s, 9)),
            (0, 1, 0)
        );
        s.persist_exact().unwrap();
        drop(s);
        let mut s = Sequences::load(dir.path()).unwrap();
        assert_eq!(take(&mut s, 7), 2);
        drop(s); // crash: no persist_exact
        let mut s = Sequences::load(dir.path()).unwrap();
        assert_eq!(take(&mut s, 7), 2 + RESERVE);
        assert_eq!(take(&mut s, 9), 1);
    }
}
