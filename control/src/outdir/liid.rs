//! Per-LIID (or XID) output directory (named as [`super::liiddir`] says):
//! `content.pcap`, `headers.pcap` (raw IP), `content-eth.pcap`,
//! `headers-eth.pcap` (Ethernet frames, only once one arrives), `iri.jsonl`,
//! the calls of voice warrants (`calls.jsonl` and `calls/`, see [`super::calls`]),
//! `journal.jsonl`, the crash-consistency journal, and `liid`, the LIID itself.
//!
//! Every journal line holds, AFTER the data it covers was written to the OS, the
//! end offsets of the data files, the last sequence number per stream and
//! the counters. On restart the data files are truncated back to the last
//! complete journal line, so a kill -9 followed by the probe's resend yields
//! every PDU exactly once: whatever was written after that line is rewritten
//! from the resent copy, whatever is older is recognised as a duplicate.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::calls::{CallsOut, CallsState};
use super::liiddir::{dir_name, LIID_FILE};
use super::pcapout::{AppendOut, Link, PcapOut};
use crate::handover::pdu::{Decoded, DecodedKind};

/// What the collector received for one LIID.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiidSummary {
    /// PDUs accepted (duplicates excluded).
    pub pdus: u64,
    /// CC packets written to content.pcap (and frames to content-eth.pcap).
    pub content_packets: u64,
    /// Header reports written to headers.pcap (and Ethernet headers to
    /// headers-eth.pcap) (X2: the header octets; PS-PDU
    /// IPIRIOnly: headers rebuilt from its fields, also a `report` line in iri.jsonl).
    pub header_reports: u64,
    /// IRI records (begin, end, ...) written to iri.jsonl, header reports excluded.
    pub iri: u64,
    /// PDUs dropped because their sequence number was already seen.
    pub duplicates: u64,
    /// Sequence numbers skipped (missing PDUs).
    pub gaps: u64,
    /// Calls (correlation numbers) with SIP or RTP written to `calls/`.
    #[serde(default)]
    pub calls: u64,
    /// SIP messages written to the calls' sip.txt.
    #[serde(default)]
    pub sip_messages: u64,
    /// RTP packets written to the calls' rtp.pcap.
    #[serde(default)]
    pub rtp_packets: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct JournalEntry {
    content: u64,
    headers: u64,
    #[serde(default)]
    content_eth: u64,
    #[serde(default)]
    headers_eth: u64,
    iri: u64,
    /// Last sequence number seen per stream.
    streams: BTreeMap<String, u32>,
    summary: LiidSummary,
    #[serde(default)]
    calls: CallsState,
}

/// Outcome of [`LiidOut::accept`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Written.
    New,
    /// Already seen; dropped.
    Duplicate,
}

/// One LIID's dedup state, and its files while its [`super::OutDir`] keeps
/// them open (it bounds how many LIIDs have open files).
#[derive(Debug)]
pub struct LiidOut {
    dir: PathBuf,
    liid: String,
    files: Option<Files>,
    state: JournalEntry,
    dirty: bool,
    /// The journal was rewritten to its last line (on the first open).
    compacted: bool,
    /// When last written, on the owning directory's clock.
    pub(super) last_used: u64,
}

/// The open files of one LIID: 4 descriptors, 6 once Ethernet frames came,
/// and those of its calls ([`super::calls::OPEN_CALLS`]).
#[derive(Debug)]
struct Files {
    content: PcapOut,
    headers: PcapOut,
    /// Opened on the first frame (or when the journal says one was written).
    content_eth: Option<PcapOut>,
    headers_eth: Option<PcapOut>,
    iri: AppendOut,
    calls: CallsOut,
    journal: File,
    journal_bytes: u64,
}

/// Ethernet frames (content) and Ethernet headers (headers mode).
const CONTENT_ETH: &str = "content-eth.pcap";
const HEADERS_ETH: &str = "headers-eth.pcap";

fn last_entry(path: &Path) -> std::io::Result<JournalEntry> {
    let raw = match fs::read(path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(JournalEntry::default()),
        Err(e) => return Err(e),
    };
    // A torn last line (crash mid-write) does not parse: use the one before.
    Ok(raw
        .rsplit(|&b| b == b'\n')
        .find_map(|l| serde_json::from_slice::<JournalEntry>(l).ok())
        .unwrap_or_default())
}

/// Journal size at which it is rewritten to its last line.
const JOURNAL_MAX: u64 = 4 << 20;

/// Atomically replaces the journal with one line holding `state`; returns the
/// journal opened for appending and its size.
fn compact(dir: &Path, state: &JournalEntry) -> std::io::Result<(File, u64)> {
    let path = dir.join("journal.jsonl");
    let tmp = dir.join("journal.jsonl.tmp");
    let mut line = serde_json::to_vec(state).map_err(std::io::Error::other)?;
    line.push(b'\n');
    fs::write(&tmp, &line)?;
    fs::rename(&tmp, &path)?;
    let journal = OpenOptions::new().append(true).open(&path)?;
    Ok((journal, line.len() as u64))
}

impl LiidOut {
    /// The output of `liid` under `root` (an output directory's
    /// [`super::liiddir::LIID_ROOT`]), created if new, with its files closed.
    ///
    /// # Errors
    /// The directory or its [`LIID_FILE`] cannot be created.
    pub fn create(root: &Path, liid: &str) -> std::io::Result<Self> {
        let dir = root.join(dir_name(liid));
        fs::create_dir_all(&dir)?;
        let id = dir.join(LIID_FILE);
        // The name is `liid`'s alone: anything else there is a torn write.
        if fs::read(&id).ok().as_deref() != Some(liid.as_bytes()) {
            let tmp = dir.join("liid.tmp");
            fs::write(&tmp, liid)?;
            fs::rename(&tmp, &id)?;
        }
        Self::load(dir, liid.to_owned())
    }

    /// Resumes the output in `dir` (files closed); `None` if `dir` is not an
    /// LIID directory (no [`LIID_FILE`], or one naming another directory).
    ///
    /// # Errors
    /// The LIID or journal file cannot be read.
    pub fn resume(dir: PathBuf) -> std::io::Result<Option<Self>> {
        let liid = match fs::read(dir.join(LIID_FILE)) {
            Ok(raw) => String::from_utf8(raw).ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        match liid {
            Some(l) if dir.file_name() == Some(dir_name(&l).as_ref()) => {
                Self::load(dir, l).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn load(dir: PathBuf, liid: String) -> std::io::Result<Self> {
        let state = last_entry(&dir.join("journal.jsonl"))?;
        Ok(LiidOut {
            dir,
            liid,
            files: None,
            state,
            dirty: false,
            compacted: false,
            last_used: 0,
        })
    }

    /// The LIID (or XID).
    pub fn liid(&self) -> &str {
        &self.liid
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True while its files are open.
    pub fn is_open(&self) -> bool {
        self.files.is_some()
    }

    /// Opens the files, truncated back to the last journaled (or, after a
    /// [`LiidOut::close`], committed) offsets; a pcap's header is written only
    /// into an empty file.
    ///
    /// # Errors
    /// A file cannot be opened, truncated or written.
    pub fn open_files(&mut self) -> std::io::Result<()> {
        if self.files.is_some() {
            return Ok(());
        }
        let dir = &self.dir;
        let state = &self.state;
        let content = PcapOut::open(&dir.join("content.pcap"), state.content, Link::Raw)?;
        let headers = PcapOut::open(&dir.join("headers.pcap"), state.headers, Link::Raw)?;
        // Truncated back like the others, if one was ever written.
        let eth = |name: &str, offset: u64| {
            (offset > 0)
                .then(|| PcapOut::open(&dir.join(name), offset, Link::Ethernet))
                .transpose()
        };
        let content_eth = eth(CONTENT_ETH, state.content_eth)?;
        let headers_eth = eth(HEADERS_ETH, state.headers_eth)?;
        let iri = AppendOut::open(&dir.join("iri.jsonl"), state.iri, 64 << 10)?;
        // A crash may have torn the journal's last line: rewrite it once.
        let (journal, journal_bytes) = if self.compacted {
            let j = OpenOptions::new()
                .append(true)
                .open(dir.join("journal.jsonl"))?;
            let len = j.metadata()?.len();
            (j, len)
        } else {
            compact(dir, state)?
        };
        self.compacted = true;
        self.files = Some(Files {
            content,
            headers,
            content_eth,
            headers_eth,
            iri,
            calls: CallsOut::new(dir.clone()),
            journal,
            journal_bytes,
        });
        Ok(())
    }

    /// Commits, then closes the files.
    ///
    /// # Errors
    /// The commit failed (the files stay open).
    pub fn close(&mut self) -> std::io::Result<()> {
        self.commit()?;
        self.files = None;
        Ok(())
    }

    /// Dedups by sequence number within `stream` and writes a new PDU.
    ///
    /// # Errors
    /// A write failed.
    pub fn accept(&mut self, stream: &str, pdu: &Decoded<'_>) -> std::io::Result<Accepted> {
        if self.files.is_none() {
            return Err(closed());
        }
        let last = self.state.streams.get(stream).copied();
        if last.is_some_and(|l| pdu.sequence <= l) {
            self.state.summary.duplicates += 1;
            self.dirty = true;
            return Ok(Accepted::Duplicate);
        }
        if matches!(
            pdu.kind,
            DecodedKind::Sip { .. } | DecodedKind::Media { .. }
        ) && self.state.calls.add(&self.dir, pdu.cin)?
        {
            // Journaled before its files are written, and before this PDU
            // counts as seen (a resend after a crash writes it again).
            self.state.summary.calls += 1;
            self.dirty = true;
            self.commit()?;
        }
        let files = self.files.as_mut().ok_or_else(closed)?;
        match last {
            Some(l) if pdu.sequence > l.saturating_add(1) => {
                let missing = u64::from(pdu.sequence - l - 1);
                // Not the directory: it is named after the LIID. Each LIID's
                // summary counts its gaps.
                tracing::warn!(stream, after = l, next = pdu.sequence, "sequence gap");
                self.state.summary.gaps += missing;
            }
            None if pdu.sequence > 0 => {
                tracing::warn!(
                    stream,
                    first = pdu.sequence,
                    "stream does not start at sequence 0"
                );
                self.state.summary.gaps += u64::from(pdu.sequence);
            }
            _ => {}
        }
        match self.state.streams.get_mut(stream) {
            Some(last) => *last = pdu.sequence,
            None => {
                self.state.streams.insert(stream.to_owned(), pdu.sequence);
            }
        }
        self.state.summary.pdus += 1;
        self.dirty = true;
        match &pdu.kind {
            DecodedKind::Content { ip_packet, .. } => {
                let len = u32::try_from(ip_packet.len()).unwrap_or(u32::MAX);
                files.content.packet(pdu.timestamp_ns, ip_packet, len)?;
                self.state.summary.content_packets += 1;
            }
            DecodedKind::HeaderReport {
                ip_headers,
                wire_len,
                report,
                ..
            } => {
                files
                    .headers
                    .packet(pdu.timestamp_ns, ip_headers, *wire_len)?;
                if let Some(record) = report {
                    files.iri_line(pdu, "report", record)?;
                }
                self.state.summary.header_reports += 1;
            }
            DecodedKind::Frame {
                frame,
                wire_len,
                header_only,
                ..
            } => {
                let (out, name, count) = if *header_only {
                    let c = &mut self.state.summary.header_reports;
                    (&mut files.headers_eth, HEADERS_ETH, c)
                } else {
                    let c = &mut self.state.summary.content_packets;
                    (&mut files.content_eth, CONTENT_ETH, c)
                };
                let out = match out {
                    Some(o) => o,
                    None => out.insert(PcapOut::open(&self.dir.join(name), 0, Link::Ethernet)?),
                };
                out.packet(pdu.timestamp_ns, frame, *wire_len)?;
                *count += 1;
            }
            DecodedKind::Iri(record) => {
                let kind = match record.get("iRIType").and_then(|t| t.as_str()) {
                    Some("iRI-Begin") => "begin",
                    Some("iRI-End") => "end",
                    Some("iRI-Report") => "report",
                    Some("iRI-Continue") => "continue",
                    _ => "iri",
                };
                files.iri_line(pdu, kind, record)?;
                self.state.summary.iri += 1;
            }
            DecodedKind::Sip { .. } | DecodedKind::Media { .. } => {
                files
                    .calls
                    .accept(&mut self.state.calls, pdu, &mut self.state.summary)?;
            }
            DecodedKind::Keepalive | DecodedKind::KeepaliveAck => {}
        }
        Ok(Accepted::New)
    }

    /// Flushes the data files, then journals their offsets and the dedup state.
    ///
    /// # Errors
    /// A write failed.
    pub fn commit(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let files = self.files.as_mut().ok_or_else(closed)?;
        self.state.content = files.content.flush()?;
        self.state.headers = files.headers.flush()?;
        if let Some(f) = &mut files.content_eth {
            self.state.content_eth = f.flush()?;
        }
        if let Some(f) = &mut files.headers_eth {
            self.state.headers_eth = f.flush()?;
        }
        self.state.iri = files.iri.flush()?;
        files.calls.flush(&mut self.state.calls)?;
        let mut line = serde_json::to_vec(&self.state).map_err(std::io::Error::other)?;
        line.push(b'\n');
        if files.journal_bytes + line.len() as u64 > JOURNAL_MAX {
            (files.journal, files.journal_bytes) = compact(&self.dir, &self.state)?;
        } else {
            files.journal.write_all(&line)?;
            files.journal_bytes += line.len() as u64;
        }
        self.dirty = false;
        Ok(())
    }

    /// Counters so far (including before a restart).
    pub fn summary(&self) -> &LiidSummary {
        &self.state.summary
    }
}

fn closed() -> std::io::Error {
    std::io::Error::other("output files are closed")
}

impl Files {
    fn iri_line(
        &mut self,
        pdu: &Decoded<'_>,
        kind: &str,
        record: &serde_json::Value,
    ) -> std::io::Result<()> {
        let line = serde_json::json!({
            "sequence": pdu.sequence,
            "timestamp_ns": pdu.timestamp_ns,
            "cin": pdu.cin,
            "type": kind,
            "record": record,
        });
        let mut bytes = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        self.iri.write(&bytes)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::handover::pdu::Direction;
    use std::borrow::Cow;
    use std::net::{Ipv4Addr, SocketAddr};

    fn cc(seq: u32, ip_packet: &[u8]) -> Decoded<'_> {
        Decoded {
            liid_or_xid: "L1".into(),
            cin: 1,
            sequence: seq,
            timestamp_ns: 1_000 + u64::from(seq),
            kind: DecodedKind::Content {
                ip_packet,
                direction: Direction::ToTarget,
            },
        }
    }

    fn opened(root: &Path) -> LiidOut {
        let mut out = LiidOut::create(root, "L1").unwrap();
        out.open_files().unwrap();
        out
    }

    fn frame(seq: u32, frame: &[u8], header_only: bool) -> Decoded<'_> {
        Decoded {
            kind: DecodedKind::Frame {
                frame,
                wire_len: 60,
                header_only,
                direction: Direction::FromTarget,
            },
            ..cc(seq, &[])
        }
    }

    fn media(cin: u64, seq: u32, port: u16) -> Decoded<'static> {
        let mut rtp = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        rtp[2..4].copy_from_slice(&(seq as u16).to_be_bytes());
        rtp.extend_from_slice(&[0xd5; 160]);
        Decoded {
            liid_or_xid: "L1".into(),
            cin,
            sequence: seq,
            timestamp_ns: 1_700_000_000_000_000_000 + u64::from(seq) * 20_000_000,
            kind: DecodedKind::Media {
                rtp: Cow::Owned(rtp),
                src: SocketAddr::new(Ipv4Addr::new(192, 0, 2, 1).into(), port),
                dst: SocketAddr::new(Ipv4Addr::new(198, 51, 100, 2).into(), port + 2),
                direction: crate::handover::pdu::Direction::FromTarget,
            },
        }
    }

    /// The RTP sequence numbers in a call's rtp.pcap, read by pcap-file.
    fn rtp_seqs(path: &Path) -> Vec<u16> {
        let mut r = pcap_file::pcap::PcapReader::new(File::open(path).unwrap()).unwrap();
        assert_eq!(r.header().datalink, pcap_file::DataLink::RAW);
        let mut seqs = Vec::new();
        while let Some(p) = r.next_packet() {
            let p = p.unwrap();
            seqs.push(u16::from_be_bytes([p.data[30], p.data[31]]));
        }
        seqs
    }

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn calls_rtp_and_records_are_whole_once_across_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = opened(dir.path());
        for seq in 0..4 {
            out.accept("probe", &media(7 + u64::from(seq % 2), seq, 4000))
                .unwrap();
        }
        out.commit().unwrap();
        // Never journaled: a new call 9 (journaled before it is written), a
        // new flow of call 7, packets of 8; then a kill -9 (the OS has the data).
        let tail = [media(9, 4, 4000), media(7, 5, 4100), media(8, 6, 4000)];
        for m in &tail {
            out.accept("probe", m).unwrap();
        }
        drop(out);
        let call = |cin: u32, name: &str| dir.path().join(format!("L1/calls/{cin}/{name}"));
        assert_eq!(rtp_seqs(&call(9, "rtp.pcap")), [4]);
        let mut out = opened(dir.path());
        // The probe resends 2..=6.
        for m in [media(7, 2, 4000), media(8, 3, 4000)].iter().chain(&tail) {
            out.accept("probe", m).unwrap();
        }
        out.commit().unwrap();
        assert_eq!(rtp_seqs(&call(7, "rtp.pcap")), [0, 2, 5]);
        assert_eq!(rtp_seqs(&call(8, "rtp.pcap")), [1, 3, 6]);
        assert_eq!(rtp_seqs(&call(9, "rtp.pcap")), [4]);
        let records = lines(&dir.path().join("L1/calls.jsonl"));
        let flows: Vec<(u64, usize)> = records
            .iter()
            .map(|r| {
                (
                    r["cin"].as_u64().unwrap(),
                    r["rtp_flows"].as_array().unwrap().len(),
                )
            })
            .collect();
        assert_eq!(flows, [(7, 1), (8, 1), (9, 1), (7, 2)]);
        assert_eq!(
            records[0]["rtp_flows"][0]["src"], "192.0.2.1:4000",
            "{records:?}"
        );
        let s = out.summary();
        assert_eq!((s.pdus, s.calls, s.rtp_packets, s.duplicates), (7, 3, 7, 2));
    }

    #[test]
    fn call_files_and_journaled_calls_are_bounded() {
        use super::super::calls::{KEPT_CALLS, OPEN_CALLS};
        let dir = tempfile::tempdir().unwrap();
        let mut out = opened(dir.path());
        let calls = KEPT_CALLS as u32 + 6;
        for seq in 0..calls * 2 {
            out.accept("probe", &media(u64::from(seq % calls), seq, 4000))
                .unwrap();
            let files = out.files.as_ref().unwrap();
            assert!(files.calls.open_calls() <= OPEN_CALLS);
            assert!(out.state.calls.len() <= KEPT_CALLS);
        }
        out.close().unwrap();
        for cin in 0..calls {
            let pcap = dir.path().join(format!("L1/calls/{cin}/rtp.pcap"));
            assert_eq!(rtp_seqs(&pcap), [cin as u16, (cin + calls) as u16]);
        }
    }

    #[test]
    fn frames_go_to_ethernet_pcaps_truncated_back_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = opened(dir.path());
        let eth = |name: &str| dir.path().join("L1").join(name);
        assert!(!eth("content-eth.pcap").exists(), "opened only on a frame");
        out.accept("probe", &frame(0, &[1; 42], false)).unwrap();
        out.accept("probe", &frame(1, &[2; 14], true)).unwrap();
        out.commit().unwrap();
        let committed = fs::metadata(eth("content-eth.pcap")).unwrap().len();
        // Written but never journaled: a kill -9 here.
        out.accept("probe", &frame(2, &[3; 42], false)).unwrap();
        out.files
            .as_mut()
            .unwrap()
            .content_eth
            .as_mut()
            .unwrap()
            .flush()
            .unwrap();
        drop(out);
        let _resumed = opened(dir.path());
        assert_eq!(
            fs::metadata(eth("content-eth.pcap")).unwrap().len(),
            committed
        );
        for (name, data) in [
            ("content-eth.pcap", vec![1; 42]),
            ("headers-eth.pcap", vec![2; 14]),
        ] {
            let raw = fs::read(eth(name)).unwrap();
            assert_eq!(raw[20..24], 1u32.to_le_bytes(), "{name}: LINKTYPE_ETHERNET");
            // One record: 16-byte header (original length 60), then the bytes.
            assert_eq!(raw[24 + 12..24 + 16], 60u32.to_le_bytes(), "{name}");
            assert_eq!(raw[24 + 16..], data[..], "{name}");
        }
        let raw = fs::read(eth("content.pcap")).unwrap();
        assert_eq!(raw.len(), 24, "no frame in the raw-IP file");
    }

    #[test]
    fn a_torn_liid_file_is_rewritten_and_resumed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(dir_name("L1"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(LIID_FILE), "L").unwrap();
        assert!(LiidOut::resume(dir.clone()).unwrap().is_none());
        opened(root.path());
        let resumed = LiidOut::resume(dir).unwrap().unwrap();
        assert_eq!(resumed.liid(), "L1");
    }

    #[test]
    fn resumes_from_journal_after_crash_and_drops_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = opened(dir.path());
        for seq in 0..3 {
            assert_eq!(
                out.accept("probe", &cc(seq, &[0x45, seq as u8, 0, 20]))
                    .unwrap(),
                Accepted::New
            );
        }
        out.commit().unwrap();
        let committed = fs::metadata(dir.path().join("L1/content.pcap"))
            .unwrap()
            .len();
        // Written but never journaled: a kill -9 here.
        out.accept("probe", &cc(3, &[0x45, 3, 0, 20])).unwrap();
        out.files.as_mut().unwrap().content.flush().unwrap();
        drop(out);
        assert!(
            fs::metadata(dir.path().join("L1/content.pcap"))
                .unwrap()
                .len()
                > committed
        );
        let mut out = opened(dir.path());
        assert_eq!(
            fs::metadata(dir.path().join("L1/content.pcap"))
                .unwrap()
                .len(),
            committed
        );
        // The probe resends 1..=3: 1 and 2 are duplicates, 3 is new again.
        assert_eq!(
            out.accept("probe", &cc(1, &[0x45, 1, 0, 20])).unwrap(),
            Accepted::Duplicate
        );
        assert_eq!(
            out.accept("probe", &cc(2, &[0x45, 2, 0, 20])).unwrap(),
            Accepted::Duplicate
        );
        assert_eq!(
            out.accept("probe", &cc(3, &[0x45, 3, 0, 20])).unwrap(),
            Accepted::New
        );
        assert_eq!(
            out.accept("probe", &cc(5, &[0x45, 5, 0, 20])).unwrap(),
            Accepted::New
        );
        out.commit().unwrap();
        let s = out.summary();
        assert_eq!(
            (s.pdus, s.content_packets, s.duplicates, s.gaps),
            (5, 5, 2, 1)
        );
    }
}
