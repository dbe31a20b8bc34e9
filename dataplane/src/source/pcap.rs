//! A [`PacketSource`] reading a pcap or pcapng file, with its packet timestamps.
//! Used by tests and demos that have no NIC and no EAL.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, PcapError};

use super::{FrameBuf, PacketSource, Poll};

/// Why a capture file cannot be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The file cannot be read.
    #[error("cannot read capture file")]
    Io(#[from] std::io::Error),
    /// The file is not a valid pcap/pcapng file.
    #[error("invalid capture file")]
    Pcap(#[from] PcapError),
    /// The capture is not of Ethernet frames, the only link type the parser reads.
    #[error("capture link type {0:?} is not Ethernet")]
    LinkType(DataLink),
}

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

enum Reader {
    Pcap(PcapReader<BufReader<File>>),
    PcapNg {
        reader: PcapNgReader<BufReader<File>>,
        /// Per interface: (units per second of raw timestamps, offset in seconds).
        clocks: Vec<(u128, u64)>,
    },
}

/// Frames of a capture file, `burst` per poll; [`Poll::Exhausted`] at end of file.
pub struct PcapSource {
    reader: Reader,
    burst: usize,
    done: bool,
    /// The current burst's frames (copied out of the reader's buffer).
    buf: FrameBuf,
}

impl PcapSource {
    /// Opens `path` (pcap, micro- or nanosecond, or pcapng).
    ///
    /// # Errors
    /// [`SourceError`] if the file cannot be read or has no valid header.
    pub fn open(path: impl AsRef<Path>, burst: usize) -> Result<Self, SourceError> {
        let mut file = File::open(path)?;
        let mut magic = [0; 4];
        file.read_exact(&mut magic)?;
        file.rewind()?;
        let file = BufReader::with_capacity(1 << 16, file);
        let reader = if magic == PCAPNG_MAGIC {
            Reader::PcapNg {
                reader: PcapNgReader::new(file)?,
                clocks: Vec::new(),
            }
        } else {
            let reader = PcapReader::new(file)?;
            let link = reader.header().datalink;
            if link != DataLink::ETHERNET {
                return Err(SourceError::LinkType(link));
            }
            Reader::Pcap(reader)
        };
        Ok(Self {
            reader,
            burst: burst.max(1),
            done: false,
            buf: FrameBuf::default(),
        })
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// pcapng `if_tsresol`: bit 7 clear = 10^-n s, set = 2^-n s; default microseconds.
fn units_per_second(opts: &[InterfaceDescriptionOption]) -> u128 {
    let resol = opts.iter().find_map(|o| match o {
        InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
        _ => None,
    });
    match resol {
        None => 1_000_000,
        Some(r) if r & 0x80 == 0 => 10u128.checked_pow(u32::from(r)).unwrap_or(1),
        Some(r) => 1u128.checked_shl(u32::from(r & 0x7f)).unwrap_or(1),
    }
}

impl PacketSource for PcapSource {
    type Burst<'a> = FrameBuf;

    fn poll_burst<F: FnOnce(&FrameBuf)>(&mut self, f: F) -> Poll {
        if self.done {
            return Poll::Exhausted;
        }
        self.buf.clear();
        let mut n = 0;
        while n < self.burst {
            let more = match &mut self.reader {
                Reader::Pcap(r) => match r.next_packet() {
                    Some(Ok(p)) => {
                        self.buf.push(&p.data, p.orig_len, Some(nanos(p.timestamp)));
                        n += 1;
                        true
                    }
                    Some(Err(e)) => bad_file(&e),
                    None => false,
                },
                Reader::PcapNg { reader, clocks } => match reader.next_block() {
                    Some(Ok(Block::InterfaceDescription(idb)))
                        if idb.linktype != DataLink::ETHERNET =>
                    {
                        not_ethernet(idb.linktype)
                    }
                    Some(Ok(Block::InterfaceDescription(idb))) => {
                        let offset = idb.options.iter().find_map(|o| match o {
                            InterfaceDescriptionOption::IfTsOffset(s) => Some(*s),
                            _ => None,
                        });
                        clocks.push((units_per_second(&idb.options), offset.unwrap_or(0)));
                        true
                    }
                    Some(Ok(Block::EnhancedPacket(p))) => {
                        // pcap-file gives the raw 64-bit timestamp as nanoseconds.
                        let raw = p.timestamp.as_nanos();
                        let ts = usize::try_from(p.interface_id)
                            .ok()
                            .and_then(|i| clocks.get(i))
                            .map(|&(units, offset)| {
                                let ns = raw.saturating_mul(1_000_000_000) / units.max(1);
                                let ns = ns + u128::from(offset) * 1_000_000_000;
                                u64::try_from(ns).unwrap_or(u64::MAX)
                            });
                        self.buf.push(&p.data, p.original_len, ts);
                        n += 1;
                        true
                    }
                    Some(Ok(Block::SimplePacket(p))) => {
                        self.buf.push(&p.data, p.original_len, None);
                        n += 1;
                        true
                    }
                    Some(Ok(_)) => true,
                    Some(Err(e)) => bad_file(&e),
                    None => false,
                },
            };
            if !more {
                self.done = true;
                break;
            }
        }
        match n {
            0 if self.done => Poll::Exhausted,
            0 => Poll::Idle,
            n => {
                f(&self.buf);
                Poll::Frames(n)
            }
        }
    }
}

/// A damaged capture ends the source (once per file, not per packet).
#[cold]
fn bad_file(e: &PcapError) -> bool {
    tracing::warn!(error = %e, "capture file damaged; stopping at this point");
    false
}

/// A pcapng interface of another link type ends the source: its frames would
/// be parsed as Ethernet and silently match nothing.
#[cold]
fn not_ethernet(link: DataLink) -> bool {
    tracing::warn!(link = ?link, "capture interface is not Ethernet; stopping at this point");
    false
}

#[cfg(test)]
mod test {
    use super::*;
    use pcap_file::pcap::{PcapPacket, PcapWriter};

    #[test]
    fn reads_frames_with_timestamps_in_bursts_then_exhausts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pcap");
        let mut w = PcapWriter::new(File::create(&path).unwrap()).unwrap();
        for i in 0..5u8 {
            let ts = Duration::new(1_700_000_000 + u64::from(i), 123_000);
            w.write_packet(&PcapPacket::new(ts, 3, &[i; 3])).unwrap();
        }
        drop(w);
        let mut src = PcapSource::open(&path, 2).unwrap();
        let mut seen = Vec::new();
        let mut polls = Vec::new();
        loop {
            let p = src.poll(|f, ts| seen.push((f.to_vec(), ts)));
            polls.push(p);
            if p == Poll::Exhausted {
                break;
            }
        }
        assert_eq!(
            polls,
            vec![
                Poll::Frames(2),
                Poll::Frames(2),
                Poll::Frames(1),
                Poll::Exhausted
            ]
        );
        assert_eq!(seen.len(), 5);
        assert_eq!(seen[4], (vec![4; 3], Some(1_700_000_004_000_123_000)));
    }

    #[test]
    fn rejects_a_file_that_is_not_a_capture() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, b"hello world, not pcap").unwrap();
        assert!(PcapSource::open(&path, 8).is_err());
    }

    #[test]
    fn rejects_a_pcap_of_another_link_type() {
        use pcap_file::pcap::PcapHeader;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sll.pcap");
        let header = PcapHeader {
            datalink: DataLink::LINUX_SLL,
            ..PcapHeader::default()
        };
        let mut w = PcapWriter::with_header(File::create(&path).unwrap(), header).unwrap();
        w.write_packet(&PcapPacket::new(Duration::ZERO, 3, &[1; 3]))
            .unwrap();
        drop(w);
        assert!(matches!(
            PcapSource::open(&path, 8),
            Err(SourceError::LinkType(DataLink::LINUX_SLL))
        ));
    }

    #[test]
    fn a_pcapng_interface_of_another_link_type_ends_the_source() {
        use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
        use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
        use pcap_file::pcapng::PcapNgWriter;
        use std::borrow::Cow;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw.pcapng");
        let mut w = PcapNgWriter::new(File::create(&path).unwrap()).unwrap();
        for (interface_id, linktype) in [(0u32, DataLink::ETHERNET), (1, DataLink::RAW)] {
            w.write_pcapng_block(InterfaceDescriptionBlock {
                linktype,
                snaplen: 0,
                options: vec![],
            })
            .unwrap();
            w.write_pcapng_block(EnhancedPacketBlock {
                interface_id,
                timestamp: Duration::ZERO,
                original_len: 1,
                data: Cow::Borrowed(&[1u8]),
                options: vec![],
            })
            .unwrap();
        }
        drop(w);
        let mut src = PcapSource::open(&path, 16).unwrap();
        assert_eq!(src.poll(|_, _| ()), Poll::Frames(1));
        assert_eq!(src.poll(|_, _| ()), Poll::Exhausted);
    }

    #[test]
    fn pcapng_timestamps_follow_each_interface_resolution() {
        use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
        use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
        use pcap_file::pcapng::PcapNgWriter;
        use std::borrow::Cow;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pcapng");
        let mut w = PcapNgWriter::new(File::create(&path).unwrap()).unwrap();
        let idb = |options| InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 0,
            options,
        };
        // Interface 0: default resolution (microseconds); 1: nanoseconds; 2: 2^-10 s.
        w.write_pcapng_block(idb(vec![])).unwrap();
        w.write_pcapng_block(idb(vec![InterfaceDescriptionOption::IfTsResol(9)]))
            .unwrap();
        w.write_pcapng_block(idb(vec![InterfaceDescriptionOption::IfTsResol(0x80 | 10)]))
            .unwrap();
        for (interface_id, raw) in [(0u32, 1_500_000u64), (1, 7), (2, 3 * 1024)] {
            let epb = EnhancedPacketBlock {
                interface_id,
                timestamp: Duration::from_nanos(raw),
                original_len: 1,
                data: Cow::Borrowed(&[1u8]),
                options: vec![],
            };
            w.write_pcapng_block(epb).unwrap();
        }
        drop(w);
        let mut src = PcapSource::open(&path, 16).unwrap();
        let mut ts = Vec::new();
        assert_eq!(src.poll(|_, t| ts.push(t)), Poll::Frames(3));
        assert_eq!(src.poll(|_, _| ()), Poll::Exhausted);
        assert_eq!(ts, vec![Some(1_500_000_000), Some(7), Some(3_000_000_000)]);
    }
}
