//! Append-only writers that know their file offset, so the collector can
//! journal it and truncate back to it after a crash: [`AppendOut`] for any
//! file, [`PcapOut`] for pcap (nanosecond magic, LINKTYPE_RAW or
//! LINKTYPE_ETHERNET).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

/// Nanosecond-resolution pcap magic.
const MAGIC_NS: u32 = 0xa1b2_3c4d;
/// What a pcap file's packets begin with (its link type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// LINKTYPE_RAW: the IP header.
    Raw = 101,
    /// LINKTYPE_ETHERNET: the Ethernet header.
    Ethernet = 1,
}
/// Bytes of the pcap global header.
pub const GLOBAL_HEADER_LEN: u64 = 24;

/// One file being appended to, through a buffer.
#[derive(Debug)]
pub struct AppendOut {
    file: BufWriter<File>,
    offset: u64,
}

impl AppendOut {
    /// Opens (creating) `path`, truncated back to `offset` (the last journaled
    /// end), with a write buffer of `buffer` bytes.
    ///
    /// # Errors
    /// The file cannot be opened or truncated.
    pub fn open(path: &Path, offset: u64, buffer: usize) -> std::io::Result<Self> {
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(path)?;
        f.set_len(offset)?;
        f.seek(SeekFrom::Start(offset))?;
        Ok(AppendOut {
            file: BufWriter::with_capacity(buffer, f),
            offset,
        })
    }

    /// Appends `b`.
    ///
    /// # Errors
    /// The write failed.
    pub fn write(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.file.write_all(b)?;
        self.offset += b.len() as u64;
        Ok(())
    }

    /// Pushes buffered bytes to the OS and returns the file's end offset.
    ///
    /// # Errors
    /// The write failed.
    pub fn flush(&mut self) -> std::io::Result<u64> {
        self.file.flush()?;
        Ok(self.offset)
    }
}

/// One pcap file being appended to.
#[derive(Debug)]
pub struct PcapOut {
    out: AppendOut,
}

impl PcapOut {
    /// Opens `path`, truncated back to `offset` (the last journaled end; 0 = new
    /// file), writing the global header (of `link`) if the file is empty.
    ///
    /// # Errors
    /// The file cannot be opened, truncated or written.
    pub fn open(path: &Path, offset: u64, link: Link) -> std::io::Result<Self> {
        Self::open_buffered(path, offset, link, 1 << 20)
    }

    /// [`PcapOut::open`] with a write buffer of `buffer` bytes.
    ///
    /// # Errors
    /// The file cannot be opened, truncated or written.
    pub fn open_buffered(
        path: &Path,
        offset: u64,
        link: Link,
        buffer: usize,
    ) -> std::io::Result<Self> {
        let offset = if offset < GLOBAL_HEADER_LEN {
            0
        } else {
            offset
        };
        let mut out = PcapOut {
            out: AppendOut::open(path, offset, buffer)?,
        };
        if offset == 0 {
            let mut h = Vec::with_capacity(24);
            h.extend_from_slice(&MAGIC_NS.to_le_bytes());
            h.extend_from_slice(&2u16.to_le_bytes());
            h.extend_from_slice(&4u16.to_le_bytes());
            h.extend_from_slice(&0i32.to_le_bytes());
            h.extend_from_slice(&0u32.to_le_bytes());
            h.extend_from_slice(&65535u32.to_le_bytes());
            h.extend_from_slice(&(link as u32).to_le_bytes());
            out.out.write(&h)?;
        }
        Ok(out)
    }

    /// Appends one packet: `data` as captured, `orig_len` as it was on the wire.
    ///
    /// # Errors
    /// The write failed.
    pub fn packet(&mut self, timestamp_ns: u64, data: &[u8], orig_len: u32) -> std::io::Result<()> {
        let sec = u32::try_from(timestamp_ns / 1_000_000_000).unwrap_or(u32::MAX);
        let nsec = (timestamp_ns % 1_000_000_000) as u32;
        let incl = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&sec.to_le_bytes());
        h[4..8].copy_from_slice(&nsec.to_le_bytes());
        h[8..12].copy_from_slice(&incl.to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.max(incl).to_le_bytes());
        self.out.write(&h)?;
        self.out.write(data)
    }

    /// Pushes buffered bytes to the OS and returns the file's end offset.
    ///
    /// # Errors
    /// The write failed.
    pub fn flush(&mut self) -> std::io::Result<u64> {
        self.out.flush()
    }
}
