//! The calls of one LIID (voice warrants), by correlation number (CIN):
//!
//! - `calls/<cin>/sip.txt`: every SIP message of the call in arrival order,
//!   each after a header line `--- <RFC 3339 time> <src> -> <dst> (<n> bytes)`
//!   and followed by an empty line. One file per call reads like the call's
//!   ladder in any pager and greps as a whole; the byte count lets a program
//!   cut it back into messages whatever they contain.
//! - `calls/<cin>/rtp.pcap`: the call's RTP as UDP/IP packets rebuilt from the
//!   addresses and ports the PDUs carry (raw IP, checksums filled), so
//!   Wireshark's RTP analysis and player work on it.
//! - `calls.jsonl`: a line per change of a call (started, answered, ended, new
//!   SDP media or RTP flow), each the call's whole [`CallRecord`] so far: the
//!   last line of a CIN is its current state.
//!
//! Calls live in the LIID's journal ([`CallsState`]) with their files' offsets,
//! and are truncated back like the LIID's other files. A call is journaled
//! before anything is written to its files, so files of a CIN the journal
//! does not know hold committed data only. At most [`OPEN_CALLS`] calls of a
//! LIID keep their files open (the least recently written is closed first,
//! an ended call at once), and at most [`KEPT_CALLS`] stay in the journal:
//! ended ones leave [`LINGER_NS`] after their last message, then the least
//! recently seen. A CIN seen again after it left starts a new record.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use dataplane::parse::checksum;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::liid::LiidSummary;
use super::pcapout::{AppendOut, Link, PcapOut};
use crate::handover::pdu::{Decoded, DecodedKind};
use crate::voice::{MediaDirection, Method, SipMessage, StartLine};

/// Calls of one LIID with their files open at once (2 descriptors each).
pub const OPEN_CALLS: usize = 8;
/// Calls of one LIID kept in its journal.
pub const KEPT_CALLS: usize = 64;
/// How long an ended call stays in the journal after its last PDU (for the
/// answer to its BYE and the last RTP), on the PDUs' clock: SIP's 64*T1.
pub const LINGER_NS: u64 = 32_000_000_000;
/// Media lines and RTP flows kept per call.
const MAX_MEDIA: usize = 32;
/// Write buffer of a call's file.
const CALL_BUFFER: usize = 16 << 10;

/// Which party of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Who sent the first INVITE.
    Caller,
    /// Who it was sent to.
    Callee,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Caller => "caller",
            Side::Callee => "callee",
        })
    }
}

/// Where a call is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Set up (INVITE seen, or the call joined mid-way), not answered.
    #[default]
    Setup,
    /// A 2xx answered the INVITE.
    Answered,
    /// BYE, CANCEL or a final error response.
    Ended,
}

/// Why a call ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EndReason {
    /// A BYE, sent by `by`.
    Bye {
        /// Who hung up.
        by: Option<Side>,
    },
    /// The caller cancelled the INVITE.
    Cancel,
    /// A final error response to the INVITE.
    Rejected {
        /// Its status code.
        status: u16,
    },
}

/// One `m=` line of an SDP offer or answer of the call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SdpMedia {
    /// When it was first seen.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who sent it (the side that receives at `rtp`).
    pub by: Option<Side>,
    /// `audio`, `video`, ...
    pub kind: String,
    /// Where RTP goes.
    pub rtp: SocketAddr,
    /// Where RTCP goes.
    pub rtcp: SocketAddr,
    /// `sendrecv`, `sendonly`, `recvonly` or `inactive`.
    pub direction: String,
}

/// One RTP flow the call's media was seen on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RtpFlow {
    /// Its first packet's time.
    #[serde(with = "time::serde::rfc3339")]
    pub first: OffsetDateTime,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
}

/// A call as `calls.jsonl` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The correlation number of its IRI and CC.
    pub cin: u64,
    /// Where it is.
    pub state: Phase,
    /// Its Call-ID.
    pub call_id: Option<String>,
    /// The caller: P-Asserted-Identity, else the From URI, of the first INVITE.
    pub caller: Option<String>,
    /// The callee: its To URI.
    pub callee: Option<String>,
    /// The From tag of the first INVITE: tells the caller's requests.
    pub caller_tag: Option<String>,
    /// The first INVITE's time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub start: Option<OffsetDateTime>,
    /// The answering 2xx's time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub answer: Option<OffsetDateTime>,
    /// The end's time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub end: Option<OffsetDateTime>,
    /// Why it ended.
    pub end_reason: Option<EndReason>,
    /// Media its SDP offered and answered, in order (at most 32).
    pub sdp_media: Vec<SdpMedia>,
    /// RTP flows seen (at most 32).
    pub rtp_flows: Vec<RtpFlow>,
}

impl CallRecord {
    fn ended(&mut self, at: OffsetDateTime, reason: EndReason) {
        if self.end.is_none() {
            self.end = Some(at);
            self.end_reason = Some(reason);
            self.state = Phase::Ended;
        }
    }

    /// Who sent `msg`, once the caller's From tag is known.
    fn sender(&self, msg: &SipMessage) -> Option<Side> {
        let tag = self.caller_tag.as_ref()?;
        let from_caller = msg.from.tag.as_ref() == Some(tag);
        let request = matches!(msg.start, StartLine::Request { .. });
        Some(if from_caller == request {
            Side::Caller
        } else {
            Side::Callee
        })
    }

    /// Takes in one SIP message of the call; true if the record changed.
    pub fn apply(&mut self, msg: &SipMessage, at: OffsetDateTime) -> bool {
        let before = self.clone();
        let initial = matches!(
            &msg.start,
            StartLine::Request {
                method: Method::Invite,
                ..
            }
        ) && msg.to.tag.is_none()
            && self.start.is_none();
        if initial || self.call_id.is_none() {
            // Joined mid-call: the message's From and To, best effort.
            self.call_id = Some(msg.call_id.clone());
            self.caller = Some(
                msg.asserted
                    .first()
                    .cloned()
                    .unwrap_or_else(|| msg.from.uri.clone()),
            );
            self.callee = Some(msg.to.uri.clone());
            self.caller_tag.clone_from(&msg.from.tag);
        }
        if initial {
            self.start = Some(at);
        }
        match &msg.start {
            StartLine::Request {
                method: Method::Bye,
                ..
            } => self.ended(
                at,
                EndReason::Bye {
                    by: self.sender(msg),
                },
            ),
            StartLine::Request {
                method: Method::Cancel,
                ..
            } => self.ended(at, EndReason::Cancel),
            StartLine::Response { status } if msg.cseq.1 == Method::Invite => {
                if (200..300).contains(status) && self.answer.is_none() {
                    self.answer = Some(at);
                    // A fork's 2xx after another's error, or crossing the
                    // CANCEL: the call is up after all.
                    if !matches!(self.end_reason, Some(EndReason::Bye { .. })) {
                        self.end = None;
                        self.end_reason = None;
                        self.state = Phase::Answered;
                    }
                } else if *status >= 300 && self.answer.is_none() {
                    self.ended(at, EndReason::Rejected { status: *status });
                }
            }
            _ => {}
        }
        let by = self.sender(msg);
        for m in msg.sdp.iter().flat_map(|s| &s.media) {
            let media = SdpMedia {
                at,
                by,
                kind: m.kind.clone(),
                rtp: SocketAddr::new(m.addr, m.rtp_port),
                rtcp: SocketAddr::new(m.rtcp_addr, m.rtcp_port),
                direction: direction(m.direction).to_owned(),
            };
            let known = self.sdp_media.iter().any(|s| {
                (s.by, &s.kind, s.rtp, s.rtcp, &s.direction)
                    == (by, &media.kind, media.rtp, media.rtcp, &media.direction)
            });
            if !known && self.sdp_media.len() < MAX_MEDIA {
                self.sdp_media.push(media);
            }
        }
        *self != before
    }

    /// Takes in one RTP packet of the call; true if its flow is new.
    pub fn rtp(&mut self, src: SocketAddr, dst: SocketAddr, at: OffsetDateTime) -> bool {
        let known = self.rtp_flows.iter().any(|f| f.src == src && f.dst == dst);
        if known || self.rtp_flows.len() >= MAX_MEDIA {
            return false;
        }
        self.rtp_flows.push(RtpFlow {
            first: at,
            src,
            dst,
        });
        true
    }
}

fn direction(d: MediaDirection) -> &'static str {
    match d {
        MediaDirection::SendRecv => "sendrecv",
        MediaDirection::SendOnly => "sendonly",
        MediaDirection::RecvOnly => "recvonly",
        MediaDirection::Inactive => "inactive",
    }
}

/// A PDU's time; the epoch if out of range (never for a u64 of nanoseconds).
fn stamp(ns: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A call in the journal: its record and its files' committed ends.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CallState {
    /// End of sip.txt.
    sip: u64,
    /// End of rtp.pcap (0: none yet).
    rtp: u64,
    /// Its last PDU's time.
    last_ns: u64,
    record: CallRecord,
}

/// The calls part of a LIID's journal.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CallsState {
    /// End of calls.jsonl.
    jsonl: u64,
    /// Calls by CIN.
    calls: BTreeMap<u64, CallState>,
}

/// `calls/<cin>` of the LIID directory `dir`.
fn call_dir(dir: &Path, cin: u64) -> PathBuf {
    dir.join("calls").join(cin.to_string())
}

const SIP_FILE: &str = "sip.txt";
const RTP_FILE: &str = "rtp.pcap";
const CALLS_FILE: &str = "calls.jsonl";

impl CallsState {
    /// Adds call `cin` if it is new, its files' ends being what is in them
    /// (committed data of a call that left the journal); true if it was new,
    /// and must be journaled before its files are written.
    ///
    /// # Errors
    /// A file's size cannot be read.
    pub fn add(&mut self, dir: &Path, cin: u64) -> std::io::Result<bool> {
        if self.calls.contains_key(&cin) {
            return Ok(false);
        }
        let len = |name: &str| match fs::metadata(call_dir(dir, cin).join(name)) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        };
        let record = CallRecord {
            cin,
            ..CallRecord::default()
        };
        let call = CallState {
            sip: len(SIP_FILE)?,
            rtp: len(RTP_FILE)?,
            last_ns: 0,
            record,
        };
        self.calls.insert(cin, call);
        Ok(true)
    }

    /// Calls in the journal.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.calls.len()
    }
}

/// The open files of one call.
#[derive(Debug, Default)]
struct OpenCall {
    sip: Option<AppendOut>,
    rtp: Option<PcapOut>,
    /// On [`CallsOut`]'s clock.
    used: u64,
}

impl OpenCall {
    /// Flushes into `state`'s offsets.
    fn flush(&mut self, state: &mut CallState) -> std::io::Result<()> {
        if let Some(f) = &mut self.sip {
            state.sip = f.flush()?;
        }
        if let Some(f) = &mut self.rtp {
            state.rtp = f.flush()?;
        }
        Ok(())
    }
}

/// The open files of one LIID's calls.
#[derive(Debug)]
pub struct CallsOut {
    /// The LIID's directory.
    dir: PathBuf,
    jsonl: Option<AppendOut>,
    open: BTreeMap<u64, OpenCall>,
    clock: u64,
}

impl CallsOut {
    /// Nothing open yet, in the LIID directory `dir`.
    pub fn new(dir: PathBuf) -> Self {
        CallsOut {
            dir,
            jsonl: None,
            open: BTreeMap::new(),
            clock: 0,
        }
    }

    /// Writes a `Sip` or `Media` PDU of a call [`CallsState::add`]ed before
    /// (anything else is ignored) and counts it in `summary`.
    ///
    /// # Errors
    /// A write failed.
    pub fn accept(
        &mut self,
        state: &mut CallsState,
        pdu: &Decoded<'_>,
        summary: &mut LiidSummary,
    ) -> std::io::Result<()> {
        let cin = pdu.cin;
        let at = stamp(pdu.timestamp_ns);
        self.clock += 1;
        let dir = call_dir(&self.dir, cin);
        if !self.open.contains_key(&cin) {
            self.make_room(state)?;
            fs::create_dir_all(&dir)?;
        }
        let Some(call) = state.calls.get_mut(&cin) else {
            return Err(std::io::Error::other("call not journaled"));
        };
        call.last_ns = pdu.timestamp_ns;
        let changed = match &pdu.kind {
            DecodedKind::Sip { message, src, dst } => {
                let files = self.files(cin);
                let sip = match &mut files.sip {
                    Some(f) => f,
                    None => files.sip.insert(AppendOut::open(
                        &dir.join(SIP_FILE),
                        call.sip,
                        CALL_BUFFER,
                    )?),
                };
                // A PS-PDU's SIP message has addresses without ports (0).
                let show = |a: &Option<SocketAddr>| match a {
                    Some(a) if a.port() == 0 => a.ip().to_string(),
                    Some(a) => a.to_string(),
                    None => "?".to_owned(),
                };
                let time = at.format(&Rfc3339).unwrap_or_default();
                let head = format!(
                    "--- {time} {} -> {} ({} bytes)\n",
                    show(src),
                    show(dst),
                    message.len()
                );
                sip.write(head.as_bytes())?;
                sip.write(message)?;
                sip.write(b"\n")?;
                summary.sip_messages += 1;
                match crate::voice::wire::parse(message) {
                    Ok(msg) => call.record.apply(&msg, at),
                    Err(e) => {
                        tracing::debug!(error = %e, cin, "SIP message not understood");
                        false
                    }
                }
            }
            DecodedKind::Media { rtp, src, dst, .. } => {
                let Some(packet) = udp_packet(*src, *dst, rtp) else {
                    tracing::warn!(cin, len = rtp.len(), "RTP packet too long for UDP; skipped");
                    return Ok(());
                };
                let files = self.files(cin);
                let out = match &mut files.rtp {
                    Some(f) => f,
                    None => files.rtp.insert(PcapOut::open_buffered(
                        &dir.join(RTP_FILE),
                        call.rtp,
                        Link::Raw,
                        CALL_BUFFER,
                    )?),
                };
                let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
                out.packet(pdu.timestamp_ns, &packet, len)?;
                summary.rtp_packets += 1;
                call.record.rtp(*src, *dst, at)
            }
            _ => false,
        };
        if changed {
            let mut line = serde_json::to_vec(&call.record).map_err(std::io::Error::other)?;
            line.push(b'\n');
            let jsonl = match &mut self.jsonl {
                Some(f) => f,
                None => self.jsonl.insert(AppendOut::open(
                    &self.dir.join(CALLS_FILE),
                    state.jsonl,
                    CALL_BUFFER,
                )?),
            };
            jsonl.write(&line)?;
        }
        if call.record.state == Phase::Ended {
            self.close(cin, call)?;
        }
        self.evict(state, pdu.timestamp_ns)
    }

    /// The open files of `cin` (none yet if it was closed).
    fn files(&mut self, cin: u64) -> &mut OpenCall {
        let clock = self.clock;
        let open = self.open.entry(cin).or_default();
        open.used = clock;
        open
    }

    /// Closes the least recently written call if [`OPEN_CALLS`] are open.
    fn make_room(&mut self, state: &mut CallsState) -> std::io::Result<()> {
        if self.open.len() < OPEN_CALLS {
            return Ok(());
        }
        let Some(cin) = self
            .open
            .iter()
            .min_by_key(|(_, f)| f.used)
            .map(|(c, _)| *c)
        else {
            return Ok(());
        };
        let mut left = CallState::default();
        self.close(cin, state.calls.get_mut(&cin).unwrap_or(&mut left))
    }

    /// Closes `cin`'s files, their ends kept in `call`.
    fn close(&mut self, cin: u64, call: &mut CallState) -> std::io::Result<()> {
        if let Some(mut f) = self.open.remove(&cin) {
            f.flush(call)?;
        }
        Ok(())
    }

    /// Keeps at most [`KEPT_CALLS`] calls journaled; ended calls leave the
    /// journal [`LINGER_NS`] after their last PDU.
    fn evict(&mut self, state: &mut CallsState, now_ns: u64) -> std::io::Result<()> {
        let gone = |c: &CallState| {
            c.record.state == Phase::Ended && c.last_ns.saturating_add(LINGER_NS) < now_ns
        };
        let mut leave: Vec<u64> = state
            .calls
            .iter()
            .filter(|(_, c)| gone(c))
            .map(|(cin, _)| *cin)
            .collect();
        let over = state.calls.len().saturating_sub(leave.len() + KEPT_CALLS);
        if over > 0 {
            // Ended calls first, then the least recently seen.
            let mut rest: Vec<(bool, u64, u64)> = state
                .calls
                .iter()
                .filter(|(_, c)| !gone(c))
                .map(|(cin, c)| (c.record.state != Phase::Ended, c.last_ns, *cin))
                .collect();
            rest.sort_unstable();
            leave.extend(rest.iter().take(over).map(|r| r.2));
        }
        for cin in leave {
            if let Some(mut call) = state.calls.remove(&cin) {
                self.close(cin, &mut call)?;
            }
        }
        Ok(())
    }

    /// Calls with files open.
    #[cfg(test)]
    pub fn open_calls(&self) -> usize {
        self.open.len()
    }

    /// Flushes every open file into `state`'s offsets.
    ///
    /// # Errors
    /// A write failed.
    pub fn flush(&mut self, state: &mut CallsState) -> std::io::Result<()> {
        if let Some(f) = &mut self.jsonl {
            state.jsonl = f.flush()?;
        }
        for (cin, f) in &mut self.open {
            if let Some(call) = state.calls.get_mut(cin) {
                f.flush(call)?;
            }
        }
        Ok(())
    }
}

/// `payload` as the UDP/IP packet that carried it from `src` to `dst`: IPv4
/// if both are, else IPv6 (an IPv4 one mapped); `None` if too long for UDP.
pub fn udp_packet(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    const UDP: u8 = 17;
    let udp_len = u16::try_from(payload.len() + 8).ok()?;
    let mut udp = Vec::with_capacity(8 + payload.len());
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let len = u32::from(udp_len);
    let (mut packet, pseudo) = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = u16::try_from(20 + udp.len()).ok()?;
            let mut h = Vec::with_capacity(20 + udp.len());
            h.extend_from_slice(&[0x45, 0]);
            h.extend_from_slice(&total.to_be_bytes());
            // Identification 0, don't fragment, TTL 64.
            h.extend_from_slice(&[0, 0, 0x40, 0, 64, UDP, 0, 0]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let sum = checksum::checksum(&h);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            (h, checksum::pseudo_v4(s, d, UDP, len))
        }
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            let (s, d) = (v6(s), v6(d));
            let mut h = Vec::with_capacity(40 + udp.len());
            h.extend_from_slice(&[0x60, 0, 0, 0]);
            h.extend_from_slice(&udp_len.to_be_bytes());
            h.extend_from_slice(&[UDP, 64]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            (h, checksum::pseudo_v6(s, d, UDP, len))
        }
    };
    // 0 means "none" (and is not allowed in IPv6): sent as all ones.
    let sum = match checksum::finish(checksum::sum(pseudo, &udp)) {
        0 => 0xffff,
        s => s,
    };
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    packet.extend_from_slice(&udp);
    Some(packet)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::voice::{Media, NameAddr, Sdp};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + s).unwrap()
    }

    fn sdp(addr: IpAddr, port: u16, direction: MediaDirection) -> Option<Sdp> {
        Some(Sdp {
            media: vec![Media {
                kind: "audio".into(),
                addr,
                rtp_port: port,
                rtcp_port: port + 1,
                rtcp_addr: addr,
                direction,
            }],
        })
    }

    /// A message of the dialog between alice (tag `a`) and bob (tag `b`,
    /// `to_tag`), sent by alice when `by_alice` (From/To swap otherwise).
    fn msg(start: StartLine, cseq: Method, by_alice: bool, to_tag: bool) -> SipMessage {
        let alice = NameAddr {
            uri: "sip:alice@example.org".into(),
            tag: Some("a".into()),
        };
        let bob = NameAddr {
            uri: "sip:bob@example.org".into(),
            tag: to_tag.then(|| "b".into()),
        };
        let (from, to) = if by_alice { (alice, bob) } else { (bob, alice) };
        SipMessage {
            start,
            call_id: "call-1@example.org".into(),
            from,
            to,
            cseq: (1, cseq),
            contacts: Vec::new(),
            asserted: Vec::new(),
            expires: None,
            sdp: None,
        }
    }

    fn request(method: Method, by_alice: bool) -> SipMessage {
        let start = StartLine::Request {
            method: method.clone(),
            uri: "sip:bob@example.org".into(),
        };
        msg(start, method, by_alice, true)
    }

    /// A response of bob's to alice's `method`.
    fn response(status: u16, method: Method) -> SipMessage {
        msg(StartLine::Response { status }, method, true, true)
    }

    fn invite() -> SipMessage {
        let mut m = request(Method::Invite, true);
        m.to.tag = None;
        m.asserted = vec!["tel:+15551230001".into()];
        m.sdp = sdp(
            Ipv4Addr::new(192, 0, 2, 1).into(),
            4000,
            MediaDirection::SendRecv,
        );
        m
    }

    #[test]
    fn record_follows_answer_hold_and_bye() {
        let mut r = CallRecord::default();
        assert!(r.apply(&invite(), at(0)));
        assert!(!r.apply(&response(100, Method::Invite), at(1)));
        let mut ok = response(200, Method::Invite);
        ok.sdp = sdp(Ipv6Addr::LOCALHOST.into(), 5000, MediaDirection::SendRecv);
        assert!(r.apply(&ok, at(2)));
        assert!(!r.apply(&request(Method::Ack, true), at(2)));
        // Bob puts alice on hold: a re-INVITE of his, answered by alice.
        let mut hold = request(Method::Invite, false);
        hold.sdp = sdp(Ipv6Addr::LOCALHOST.into(), 5000, MediaDirection::SendOnly);
        assert!(r.apply(&hold, at(3)));
        assert!(r.apply(&request(Method::Bye, false), at(4)));
        assert_eq!(r.state, Phase::Ended);
        assert_eq!(r.call_id.as_deref(), Some("call-1@example.org"));
        assert_eq!(r.caller.as_deref(), Some("tel:+15551230001"));
        assert_eq!(r.callee.as_deref(), Some("sip:bob@example.org"));
        assert_eq!(
            (r.start, r.answer, r.end),
            (Some(at(0)), Some(at(2)), Some(at(4)))
        );
        assert_eq!(
            r.end_reason,
            Some(EndReason::Bye {
                by: Some(Side::Callee)
            })
        );
        let media: Vec<_> = r
            .sdp_media
            .iter()
            .map(|m| (m.by, m.rtp.to_string(), m.direction.as_str()))
            .collect();
        assert_eq!(
            media,
            [
                (Some(Side::Caller), "192.0.2.1:4000".into(), "sendrecv"),
                (Some(Side::Callee), "[::1]:5000".into(), "sendrecv"),
                (Some(Side::Callee), "[::1]:5000".into(), "sendonly"),
            ]
        );
        assert_eq!(r.sdp_media[1].rtcp.port(), 5001);
        // The answer to the BYE changes nothing.
        assert!(!r.apply(&response(200, Method::Bye), at(5)));
        let line = serde_json::to_value(&r).unwrap();
        assert_eq!(
            line["end_reason"],
            serde_json::json!({"kind": "bye", "by": "callee"})
        );
        assert_eq!(line["start"], "2023-11-14T22:13:20Z");
    }

    #[test]
    fn cancel_rejection_and_a_later_forks_answer() {
        let mut r = CallRecord::default();
        r.apply(&invite(), at(0));
        r.apply(&request(Method::Cancel, true), at(1));
        r.apply(&response(487, Method::Invite), at(1));
        assert_eq!(
            (r.state, r.end_reason),
            (Phase::Ended, Some(EndReason::Cancel))
        );

        let mut r = CallRecord::default();
        r.apply(&invite(), at(0));
        r.apply(&response(486, Method::Invite), at(1));
        assert_eq!(r.end_reason, Some(EndReason::Rejected { status: 486 }));
        // Another fork answers after all.
        assert!(r.apply(&response(200, Method::Invite), at(2)));
        assert_eq!(
            (r.state, r.end, r.answer),
            (Phase::Answered, None, Some(at(2)))
        );
        // A failed re-INVITE does not end an answered call.
        r.apply(&response(491, Method::Invite), at(3));
        assert_eq!(r.state, Phase::Answered);
    }

    #[test]
    fn rebuilt_udp_packets_carry_valid_checksums() {
        let v4 = |p| SocketAddr::new(Ipv4Addr::new(192, 0, 2, p).into(), 4000);
        let v6 = |p| SocketAddr::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, p).into(), 5000);
        for (src, dst) in [(v4(1), v4(2)), (v6(1), v6(2)), (v4(1), v6(2))] {
            for len in [0, 1, 172] {
                let rtp = vec![0x80; len];
                let p = udp_packet(src, dst, &rtp).unwrap();
                let (ip, pseudo) = if src.is_ipv4() && dst.is_ipv4() {
                    assert_eq!(checksum::checksum(&p[..20]), 0, "IPv4 header");
                    assert_eq!(usize::from(u16::from_be_bytes([p[2], p[3]])), p.len());
                    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
                        unreachable!()
                    };
                    (20, checksum::pseudo_v4(s, d, 17, len as u32 + 8))
                } else {
                    assert_eq!(usize::from(u16::from_be_bytes([p[4], p[5]])), len + 8);
                    let s = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap());
                    let d = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap());
                    (40, checksum::pseudo_v6(s, d, 17, len as u32 + 8))
                };
                let udp = &p[ip..];
                assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), src.port());
                assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), dst.port());
                assert_ne!(udp[6..8], [0, 0]);
                assert_eq!(checksum::finish(checksum::sum(pseudo, udp)), 0);
                assert_eq!(&udp[8..], &rtp[..]);
            }
        }
        assert!(udp_packet(v4(1), v4(2), &[0; 65_528]).is_none());
    }
}
