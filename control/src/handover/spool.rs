//! Per-destination on-disk spool: append-only segment files of CRC-protected,
//! length-prefixed chunks of encoded PDUs (each chunk holds whole PDUs only).
//!
//! Record layout: `len: u32 LE | crc32(payload): u32 LE | payload`. Segments are
//! named `<id>.seg` and replayed in id order; [`Spool::prepend`] writes a segment
//! with a lower id, for data older than everything already spooled (the resend
//! window and send queue at shutdown). A torn or corrupt tail (crash) is found
//! by its CRC on [`Spool::open`] and truncated with a warning, never replayed.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::error::HandoverError;

const HEADER: usize = 8;
const FIRST_ID: u64 = 1 << 40;
/// Bytes after which the active segment is fsync'd.
const SYNC_EVERY: u64 = 8 << 20;
/// Size at which a segment is sealed and a new one started.
const SEGMENT_MAX: u64 = 32 << 20;

/// A sealed segment handed out for replay.
#[derive(Debug, Clone)]
pub struct SegmentRef {
    /// Segment id (replay order).
    pub id: u64,
    /// Its file.
    pub path: PathBuf,
}

/// What [`Spool::open`] found on disk.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// Intact chunks waiting for replay.
    pub chunks: u64,
    /// Bytes cut off torn or corrupt tails.
    pub truncated_bytes: u64,
}

#[derive(Debug)]
struct Active {
    id: u64,
    file: BufWriter<File>,
    bytes: u64,
    unsynced: u64,
}

/// One destination's spool. Not thread-safe by itself: the engine keeps it behind
/// the destination's lock and does the slow reads of [`read_segment`] outside it.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    sealed: VecDeque<(u64, u64)>,
    active: Option<Active>,
    next_id: u64,
    total: u64,
    max: u64,
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// Reads every intact chunk of a segment file; stops at the first torn or corrupt
/// record and returns the byte offset where the intact prefix ends.
///
/// # Errors
/// The file cannot be read.
pub fn read_segment(path: &Path) -> Result<(Vec<Vec<u8>>, u64), HandoverError> {
    let mut raw = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut raw))
        .map_err(HandoverError::io(path))?;
    let mut chunks = Vec::new();
    let mut at = 0usize;
    while let Some(header) = raw.get(at..at + HEADER) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let Some(payload) = raw.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        chunks.push(payload.to_vec());
        at += HEADER + len;
    }
    Ok((chunks, at as u64))
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, bounded by `max_bytes`, and truncates
    /// any torn or corrupt tail left by a crash.
    ///
    /// # Errors
    /// The directory or a segment cannot be read, truncated or created.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Self, Recovery), HandoverError> {
        fs::create_dir_all(dir).map_err(HandoverError::io(dir))?;
        let mut ids = Vec::new();
        for entry in fs::read_dir(dir).map_err(HandoverError::io(dir))? {
            let name = entry.map_err(HandoverError::io(dir))?.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name
                .strip_suffix(".seg")
                .and_then(|s| s.parse::<u64>().ok())
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        let mut recovery = Recovery::default();
        let mut sealed = VecDeque::new();
        let mut total = 0;
        for id in ids {
            let path = seg_path(dir, id);
            let (chunks, good) = read_segment(&path)?;
            let len = fs::metadata(&path).map_err(HandoverError::io(&path))?.len();
            if good < len {
                tracing::warn!(
                    segment = %path.display(), kept = good, dropped = len - good,
                    "spool segment has a torn or corrupt tail; truncating it"
                );
                recovery.truncated_bytes += len - good;
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(HandoverError::io(&path))?;
                f.set_len(good)
                    .and_then(|()| f.sync_all())
                    .map_err(HandoverError::io(&path))?;
            }
            if chunks.is_empty() {
                fs::remove_file(&path).map_err(HandoverError::io(&path))?;
                continue;
            }
            recovery.chunks += chunks.len() as u64;
            total += good;
            sealed.push_back((id, good));
        }
        let next_id = sealed
            .back()
            .map_or(FIRST_ID, |&(id, _)| id.max(FIRST_ID) + 1);
        let spool = Spool {
            dir: dir.to_owned(),
            sealed,
            active: None,
            next_id,
            total,
            max: max_bytes,
        };
        Ok((spool, recovery))
    }

    /// Bytes on disk (records with their headers).
    pub fn bytes(&self) -> u64 {
        self.total
    }

    /// The configured bound.
    pub fn max_bytes(&self) -> u64 {
        self.max
    }

    /// True when nothing waits for replay.
    pub fn is_empty(&self) -> bool {
        self.sealed.is_empty() && self.active.is_none()
    }

    /// Appends one chunk. Returns `Ok(false)` — the chunk is refused — when it would
    /// take the spool past its bound: the caller counts that as loss.
    ///
    /// # Errors
    /// The segment cannot be written.
    pub fn append(&mut self, chunk: &[u8]) -> Result<bool, HandoverError> {
        let rec = (HEADER + chunk.len()) as u64;
        if self.total + rec > self.max {
            return Ok(false);
        }
        if self.active.as_ref().is_some_and(|a| a.bytes >= SEGMENT_MAX) {
            self.seal()?;
        }
        let active = match self.active.as_mut() {
            Some(a) => a,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                let path = seg_path(&self.dir, id);
                let file = OpenOptions::new()
                    .create_new(true)
                    .append(true)
                    .open(&path)
                    .map_err(HandoverError::io(&path))?;
                self.active.insert(Active {
                    id,
                    file: BufWriter::with_capacity(1 << 20, file),
                    bytes: 0,
                    unsynced: 0,
                })
            }
        };
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&(chunk.len() as u32).to_le_bytes());
        header[4..].copy_from_slice(&crc32fast::hash(chunk).to_le_bytes());
        let id = active.id;
        active
            .file
            .write_all(&header)
            .and_then(|()| active.file.write_all(chunk))
            .map_err(HandoverError::io(seg_path(&self.dir, id)))?;
        active.bytes += rec;
        active.unsynced += rec;
        self.total += rec;
        if active.unsynced >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(true)
    }

    /// Flushes and fsyncs the active segment (batched durability point).
    ///
    /// # Errors
    /// The write or fsync failed.
    pub fn sync(&mut self) -> Result<(), HandoverError> {
        if let Some(a) = self.active.as_mut() {
            if a.unsynced > 0 {
                let path = seg_path(&self.dir, a.id);
                a.file
                    .flush()
                    .and_then(|()| a.file.get_ref().sync_data())
                    .map_err(HandoverError::io(path))?;
                a.unsynced = 0;
            }
        }
        Ok(())
    }

    fn seal(&mut self) -> Result<(), HandoverError> {
        self.sync()?;
        if let Some(a) = self.active.take() {
            self.sealed.push_back((a.id, a.bytes));
        }
        Ok(())
    }

    /// The oldest segment, sealed (durable, no longer appended to) so that it can
    /// be read without the lock. Remove it with [`Spool::remove`] once sent.
    ///
    /// # Errors
    /// Sealing the active segment failed.
    pub fn oldest(&mut self) -> Result<Option<SegmentRef>, HandoverError> {
        if self.sealed.is_empty() {
            self.seal()?;
        }
        Ok(self.sealed.front().map(|&(id, _)| SegmentRef {
            id,
            path: seg_path(&self.dir, id),
        }))
    }

    /// Deletes a replayed segment.
    ///
    /// # Errors
    /// The file cannot be deleted.
    pub fn remove(&mut self, id: u64) -> Result<(), HandoverError> {
        if let Some(pos) = self.sealed.iter().position(|&(s, _)| s == id) {
            if let Some((_, bytes)) = self.sealed.remove(pos) {
                let path = seg_path(&self.dir, id);
                fs::remove_file(&path).map_err(HandoverError::io(&path))?;
                self.total -= bytes;
            }
        }
        Ok(())
    }

    /// Writes `chunks` as a new segment replayed BEFORE everything already spooled
    /// (used at shutdown for data older than the spool). Ignores the bound: this
    /// data was accepted earlier and must not be lost.
    ///
    /// # Errors
    /// The segment cannot be written.
    pub fn prepend<'a>(
        &mut self,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), HandoverError> {
        let first = self
            .sealed
            .front()
            .map(|&(id, _)| id)
            .or(self.active.as_ref().map(|a| a.id))
            .unwrap_or(self.next_id);
        let id = first - 1;
        let path = seg_path(&self.dir, id);
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
            out.extend_from_slice(&crc32fast::hash(chunk).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        if out.is_empty() {
            return Ok(());
        }
        let mut f = File::create(&path).map_err(HandoverError::io(&path))?;
        f.write_all(&out)
            .and_then(|()| f.sync_all())
            .map_err(HandoverError::io(&path))?;
        self.total += out.len() as u64;
        self.sealed.push_front((id, out.len() as u64));
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn replay(spool: &mut Spool) -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        while let Some(seg) = spool.oldest().unwrap() {
            all.extend(read_segment(&seg.path).unwrap().0);
            spool.remove(seg.id).unwrap();
        }
        all
    }

    #[test]
    fn replays_in_order_across_reopen_and_prepend() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, rec) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(rec, Recovery::default());
        for i in 0..10u8 {
            assert!(s.append(&[i; 100]).unwrap());
        }
        s.sync().unwrap();
        drop(s);
        let (mut s, rec) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(rec.chunks, 10);
        assert!(s.append(&[10; 5]).unwrap());
        s.prepend([&[200u8; 3][..], &[201u8; 3][..]]).unwrap();
        let got = replay(&mut s);
        assert_eq!(got.len(), 13);
        assert_eq!(got[0], vec![200; 3]);
        assert_eq!(got[1], vec![201; 3]);
        for i in 0..10u8 {
            assert_eq!(got[2 + usize::from(i)], vec![i; 100]);
        }
        assert_eq!(got[12], vec![10; 5]);
        assert!(s.is_empty());
        assert_eq!(s.bytes(), 0);
    }

    #[test]
    fn refuses_chunks_past_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(dir.path(), 250).unwrap();
        assert!(s.append(&[1; 100]).unwrap());
        assert!(s.append(&[2; 100]).unwrap());
        assert!(!s.append(&[3; 100]).unwrap());
        assert_eq!(s.bytes(), 216);
        assert_eq!(replay(&mut s).len(), 2);
    }

    #[test]
    fn truncates_torn_and_corrupt_tails() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        for i in 0..4u8 {
            s.append(&[i; 50]).unwrap();
        }
        s.sync().unwrap();
        let seg = s.oldest().unwrap().unwrap();
        drop(s);
        // Corrupt the third record's payload and add a torn header after it.
        let mut raw = fs::read(&seg.path).unwrap();
        raw[2 * 58 + HEADER + 7] ^= 0xff;
        raw.extend_from_slice(&[9, 0, 0]);
        fs::write(&seg.path, &raw).unwrap();
        let (mut s, rec) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(rec.chunks, 2);
        assert_eq!(rec.truncated_bytes, 2 * 58 + 3);
        assert_eq!(fs::metadata(&seg.path).unwrap().len(), 2 * 58);
        assert_eq!(replay(&mut s), vec![vec![0; 50], vec![1; 50]]);
    }
}
