//! Append-only pcap writer (nanosecond magic, LINKTYPE_RAW or LINKTYPE_ETHERNET) that knows its file
//! offset, so the collector can journal it and truncate back to it after a crash.

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

/// One pcap file being appended to.
#[derive(Debug)]
pub struct PcapOut {
    file: BufWriter<File>,
    offset: u64,
}

impl PcapOut {
    /// Opens `path`, truncated back to `offset` (the last journaled end; 0 = new
    /// file), writing the global header (of `link`) if the file is empty.
    ///
    /// # Errors
    /// The file cannot be opened, truncated or written.
    pub fn open(path: &Path, offset: u64, link: Link) -> std::io::Result<Self> {
        let mut f = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(path)?;
        let offset = if offset < GLOBAL_HEADER_LEN {
            0
        } else {
            offset
        };
        f.set_len(offset)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut out = PcapOut {
            file: BufWriter::with_capacity(1 << 20, f),
            offset,
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
            out.write(&h)?;
        }
        Ok(out)
    }

    fn write(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.file.write_all(b)?;
        self.offset += b.len() as u64;
        Ok(())
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
        self.write(&h)?;
        self.write(data)
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
