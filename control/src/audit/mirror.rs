//! The append-only JSON-lines mirror of the audit chain. It lives outside the
//! database (ideally on other storage), so cutting records off the database's
//! tail, or rewriting the whole chain there, shows up as a difference.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{AuditError, AuditRecord};

/// The mirror file, opened with `O_APPEND`; every line is fsynced before the
/// record counts as mirrored.
#[derive(Debug)]
pub(crate) struct Mirror {
    path: PathBuf,
    file: File,
}

impl Mirror {
    /// Opens (creating, mode 0640) the mirror for appending.
    pub(crate) fn open(path: &Path) -> Result<Self, AuditError> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)
            .map_err(|e| AuditError::io(path, e))?;
        if !existed {
            // Make the new directory entry durable too.
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| AuditError::io(dir, e))?;
            }
        }
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// Appends one record as one line with a single write, then fsyncs.
    pub(crate) fn append(&mut self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(record).map_err(AuditError::Json)?;
        line.push(b'\n');
        let before = self
            .file
            .metadata()
            .map_err(|e| AuditError::io(&self.path, e))?
            .len();
        let written = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Remove our own partial line so the next attempt (which rewrites
            // this record) does not leave a broken line in the middle. If even
            // that fails, start-up finds the incomplete line and repairs it.
            if self.file.set_len(before).is_err() {
                tracing::error!(
                    seq = record.seq,
                    "could not remove a partial audit mirror line"
                );
            }
            return Err(AuditError::io(&self.path, e));
        }
        Ok(())
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// One line of the mirror: a record, or why it could not be read.
pub(crate) type MirrorLine = Result<AuditRecord, String>;

/// Every line of the mirror, in file order (a missing file reads as empty).
pub(crate) fn read_all(path: &Path) -> Result<Vec<MirrorLine>, AuditError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AuditError::io(path, e)),
    };
    let mut out = Vec::new();
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| AuditError::io(path, e))?;
        if n == 0 {
            return Ok(out);
        }
        out.push(parse_line(&line));
    }
}

fn parse_line(line: &[u8]) -> MirrorLine {
    let Some(body) = line.strip_suffix(b"\n") else {
        return Err("incomplete last line (no newline)".into());
    };
    serde_json::from_slice(body).map_err(|e| format!("not an audit record: {e}"))
}

/// The end of the mirror, read backwards (the mirror can be large; start-up
/// only needs its tail).
#[derive(Debug, Default)]
pub(crate) struct Tail {
    /// The last complete line, if any.
    pub last: Option<MirrorLine>,
    /// Bytes after the last newline: a line whose write was cut short.
    pub partial: Option<Partial>,
}

/// An incomplete last line.
#[derive(Debug)]
pub(crate) struct Partial {
    /// Where it starts (the length the file had before it).
    pub offset: u64,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Reads the mirror's [`Tail`]; a missing file reads as empty.
pub(crate) fn tail(path: &Path) -> Result<Tail, AuditError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Tail::default()),
        Err(e) => return Err(AuditError::io(path, e)),
    };
    let io = |e| AuditError::io(path, e);
    let len = file.seek(SeekFrom::End(0)).map_err(io)?;
    // End of the last complete line, and the partial line after it.
    let (complete_end, partial) =
        if len == 0 || read_at(&mut file, len - 1, 1).map_err(io)? == b"\n" {
            (len, None)
        } else {
            let start = newline_before(&mut file, len)
                .map_err(io)?
                .map_or(0, |n| n + 1);
            let bytes = read_at(&mut file, start, len - start).map_err(io)?;
            (
                start,
                Some(Partial {
                    offset: start,
                    bytes,
                }),
            )
        };
    let last = if complete_end == 0 {
        None
    } else {
        let start = newline_before(&mut file, complete_end - 1)
            .map_err(io)?
            .map_or(0, |n| n + 1);
        Some(parse_line(
            &read_at(&mut file, start, complete_end - start).map_err(io)?,
        ))
    };
    Ok(Tail { last, partial })
}

/// Cuts the file back to `len` (removing an incomplete line) and syncs it.
pub(crate) fn truncate(path: &Path, len: u64) -> Result<(), AuditError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len).and_then(|()| f.sync_all()))
        .map_err(|e| AuditError::io(path, e))
}

/// Offset of the last `\n` before `end`, scanning back in chunks.
fn newline_before(file: &mut File, end: u64) -> std::io::Result<Option<u64>> {
    const CHUNK: u64 = 64 * 1024;
    let mut end = end;
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let chunk = read_at(file, start, end - start)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(start + i as u64));
        }
        end = start;
    }
    Ok(None)
}

fn read_at(file: &mut File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| std::io::Error::other("line too long"))?;
    let mut buf = vec![0u8; len];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut buf)?;
    Ok(buf)
}
