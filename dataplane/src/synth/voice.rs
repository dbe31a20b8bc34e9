//! Synthetic voice traffic: SIP requests and responses (RFC 3261) with SDP
//! offers and answers (RFC 4566, RFC 3264), RTP packets (RFC 3550), carried
//! in UDP, in two IPv4 fragments or in a TCP stream, in VLAN or QinQ; and
//! [`scenario`], a capture of a target's calls among other subscribers' calls
//! on the same media ports, with what a voice warrant must deliver of each.
//!
//! ```
//! use dataplane::synth::voice::{rtp, RtpId};
//! let p = rtp(7, 1120, 0xfeed);
//! assert_eq!(p.len(), 12 + 160);
//! assert_eq!(RtpId::of(&p), Some(RtpId { ssrc: 0xfeed, seq: 7 }));
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::Frame;
use crate::parse::tcp::flags;

/// RTP payload octets per packet: 20 ms of G.711 µ-law at 8 kHz.
pub const RTP_PAYLOAD: usize = 160;

/// An RTP packet: version 2, payload type 0 (PCMU), `seq`, `timestamp`,
/// `ssrc`, and [`RTP_PAYLOAD`] octets of silence.
#[must_use]
pub fn rtp(seq: u16, timestamp: u32, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.resize(12 + RTP_PAYLOAD, 0xff);
    p
}

/// An RTP packet as a delivery is checked by: its stream and sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RtpId {
    /// Synchronisation source: one per call and direction here.
    pub ssrc: u32,
    /// Sequence number.
    pub seq: u16,
}

impl RtpId {
    /// Of the RTP header `rtp` starts with, or of an RTCP sender report (its
    /// sender's SSRC and the low half of its packet count, as [`rtcp_sr`]
    /// writes them); `None` if it is neither (too short, not version 2).
    #[must_use]
    pub fn of(rtp: &[u8]) -> Option<Self> {
        let h = rtp.get(..12)?;
        if h[0] >> 6 != 2 {
            return None;
        }
        if h[1] == RTCP_SR {
            let sr = rtp.get(..28)?;
            return Some(RtpId {
                ssrc: u32::from_be_bytes([sr[4], sr[5], sr[6], sr[7]]),
                seq: u16::from_be_bytes([sr[22], sr[23]]),
            });
        }
        Some(RtpId {
            ssrc: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            seq: u16::from_be_bytes([h[2], h[3]]),
        })
    }
}

/// RTCP packet type of a sender report (RFC 3550 §6.4.1).
const RTCP_SR: u8 = 200;

/// An RTCP sender report with no report block from `ssrc`, its sender's
/// packet count `count`: what [`RtpId::of`] reads back as `(ssrc, count)`.
#[must_use]
pub fn rtcp_sr(ssrc: u32, count: u16) -> Vec<u8> {
    // Length in 32-bit words minus one: 7 words.
    let mut p = vec![0x80, RTCP_SR, 0, 6];
    p.extend_from_slice(&ssrc.to_be_bytes());
    // NTP timestamp, RTP timestamp: any.
    p.extend_from_slice(&[0; 12]);
    p.extend_from_slice(&u32::from(count).to_be_bytes());
    p.extend_from_slice(&(u32::from(count) * 172).to_be_bytes());
    p
}

/// An SDP direction attribute (RFC 3264).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaDir {
    /// a=sendrecv.
    SendRecv,
    /// a=sendonly (the side putting the call on hold).
    SendOnly,
    /// a=recvonly (the side held).
    RecvOnly,
}

/// An SDP body offering or answering one PCMU audio stream received at
/// `media`; `version` is the origin's session version (raised by a re-offer).
#[must_use]
pub fn sdp(media: SocketAddr, version: u32, dir: MediaDir) -> String {
    let (family, ip) = match media.ip() {
        IpAddr::V4(a) => ("IP4", a.to_string()),
        IpAddr::V6(a) => ("IP6", a.to_string()),
    };
    let dir = match dir {
        MediaDir::SendRecv => "sendrecv",
        MediaDir::SendOnly => "sendonly",
        MediaDir::RecvOnly => "recvonly",
    };
    format!(
        "v=0\r\no=- {port} {version} IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={dir}\r\n",
        port = media.port()
    )
}

/// A SIP message under construction: start line, headers in order, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sip {
    start: String,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Sip {
    /// A request line.
    #[must_use]
    pub fn request(method: &str, uri: &str) -> Self {
        Self {
            start: format!("{method} {uri} SIP/2.0"),
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// A response to `req`, as its server transaction sends it: Via, From,
    /// To, Call-ID and CSeq copied, `to_tag` added to a To without one.
    #[must_use]
    pub fn response_to(req: &Sip, status: u16, reason: &str, to_tag: Option<&str>) -> Self {
        let mut r = Self {
            start: format!("SIP/2.0 {status} {reason}"),
            headers: Vec::new(),
            body: String::new(),
        };
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if let Some(v) = req.get(name) {
                let v = match to_tag {
                    Some(tag) if name == "To" && !v.contains(";tag=") => format!("{v};tag={tag}"),
                    _ => v.to_owned(),
                };
                r = r.header(name, v);
            }
        }
        r
    }

    /// The CANCEL of `invite` (same Request-URI, Via, From, To, Call-ID and
    /// CSeq number, RFC 3261 §9.1).
    #[must_use]
    pub fn cancel_of(invite: &Sip) -> Self {
        let uri = invite.start.split(' ').nth(1).unwrap_or_default();
        let mut c = Self::request("CANCEL", uri);
        for name in ["Via", "Max-Forwards", "From", "To", "Call-ID"] {
            if let Some(v) = invite.get(name) {
                c = c.header(name, v.to_owned());
            }
        }
        let n = invite.get("CSeq").and_then(|v| v.split(' ').next());
        c.header("CSeq", format!("{} CANCEL", n.unwrap_or("1")))
    }

    /// The ACK of a non-2xx final `response` to `invite` (same transaction).
    #[must_use]
    pub fn ack_of(invite: &Sip, response: &Sip) -> Self {
        let uri = invite.start.split(' ').nth(1).unwrap_or_default();
        let mut a = Self::request("ACK", uri);
        for (name, from) in [
            ("Via", invite),
            ("Max-Forwards", invite),
            ("From", invite),
            ("To", response),
            ("Call-ID", invite),
        ] {
            if let Some(v) = from.get(name) {
                a = a.header(name, v.to_owned());
            }
        }
        let n = invite.get("CSeq").and_then(|v| v.split(' ').next());
        a.header("CSeq", format!("{} ACK", n.unwrap_or("1")))
    }

    /// Appends a header.
    #[must_use]
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets an SDP body.
    #[must_use]
    pub fn sdp(mut self, body: String) -> Self {
        self.body = body;
        self.header("Content-Type", "application/sdp")
    }

    /// The first value of header `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The message's octets, with its Content-Length.
    #[must_use]
    pub fn build(&self) -> Vec<u8> {
        let mut m = format!("{}\r\n", self.start);
        for (n, v) in &self.headers {
            m.push_str(&format!("{n}: {v}\r\n"));
        }
        m.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        m.push_str(&self.body);
        m.into_bytes()
    }
}

/// What the messages of one dialog share: Call-ID, both parties' URIs and
/// tags, and the transport their Via names.
#[derive(Clone, Debug)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// The caller's URI (From of its requests).
    pub caller: String,
    /// The caller's tag.
    pub caller_tag: String,
    /// The callee's URI as the caller addressed it (To of its requests).
    pub callee: String,
    /// The callee's tag, once it answered.
    pub callee_tag: Option<String>,
    /// `UDP` or `TCP`.
    pub transport: &'static str,
}

impl Dialog {
    /// A request of the caller (`by_caller`) or of the callee to `uri`, sent
    /// from `via`, with CSeq `cseq`.
    #[must_use]
    pub fn request(
        &self,
        by_caller: bool,
        method: &str,
        uri: &str,
        via: SocketAddr,
        cseq: u32,
    ) -> Sip {
        let tagged = |u: &str, t: Option<&str>| match t {
            Some(t) => format!("<{u}>;tag={t}"),
            None => format!("<{u}>"),
        };
        let caller = tagged(&self.caller, Some(&self.caller_tag));
        let callee = tagged(&self.callee, self.callee_tag.as_deref());
        let (from, to) = if by_caller {
            (caller, callee)
        } else {
            (callee, caller)
        };
        Sip::request(method, uri)
            .header(
                "Via",
                format!(
                    "SIP/2.0/{} {via};branch=z9hG4bK{:08x}",
                    self.transport,
                    branch(&[&self.call_id, uri, method, &cseq.to_string()])
                ),
            )
            .header("Max-Forwards", "70")
            .header("From", from)
            .header("To", to)
            .header("Call-ID", self.call_id.clone())
            .header("CSeq", format!("{cseq} {method}"))
    }
}

/// A stable branch parameter per request (FNV-1a of its fields).
fn branch(parts: &[&str]) -> u32 {
    parts
        .iter()
        .flat_map(|p| p.bytes().chain([0]))
        .fold(0x811c_9dc5, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        })
}

/// How the mirror carries a call's frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrap {
    /// Untagged Ethernet.
    Plain,
    /// One 802.1Q tag.
    Vlan(u16),
    /// An 802.1ad service tag around an 802.1Q tag.
    QinQ(u16, u16),
}

const MAC_ACCESS: [u8; 6] = [2, 0, 0, 0, 0x29, 1];
const MAC_CORE: [u8; 6] = [2, 0, 0, 0, 0x29, 2];

/// An Ethernet frame (in `wrap`) up to its IP layer, from `src` to `dst`.
fn ip_frame(wrap: Wrap, src: IpAddr, dst: IpAddr) -> Frame {
    let f = Frame::ethernet(MAC_ACCESS, MAC_CORE);
    let f = match wrap {
        Wrap::Plain => f,
        Wrap::Vlan(v) => f.vlan(v),
        Wrap::QinQ(s, c) => f.qinq(s).vlan(c),
    };
    f.ip(src, dst)
}

/// A UDP datagram from `src` to `dst` in `wrap`.
#[must_use]
pub fn udp(wrap: Wrap, src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    ip_frame(wrap, src.ip(), dst.ip())
        .udp(src.port(), dst.port())
        .payload(payload)
        .build()
}

/// A UDP datagram between IPv4 endpoints as two IPv4 fragments: the first
/// carries the UDP header and `first` payload octets rounded to a multiple
/// of 8 with it (the datagram's checksum covers the whole payload).
#[must_use]
pub fn udp_fragments(
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
    first: usize,
) -> [Vec<u8>; 2] {
    let whole = udp(Wrap::Plain, src, dst, payload);
    let l4 = &whole[whole.len() - (8 + payload.len())..];
    let cut = ((8 + first) / 8 * 8).min(l4.len());
    let frag = |offset: usize, more: bool, part: &[u8]| {
        let units = u16::try_from(offset / 8).unwrap_or(u16::MAX);
        ip_frame(Wrap::Plain, src.ip(), dst.ip())
            .fragment(units, more)
            .next_protocol(17)
            .payload(part)
            .build()
    };
    [frag(0, true, &l4[..cut]), frag(cut, false, &l4[cut..])]
}

/// One TCP connection's two byte streams (after a handshake).
#[derive(Clone, Debug)]
pub struct TcpFlow {
    /// The side that connected.
    pub client: SocketAddr,
    /// The side that accepted.
    pub server: SocketAddr,
    /// Next sequence number of the client's stream.
    client_seq: u32,
    /// Next sequence number of the server's stream.
    server_seq: u32,
}

impl TcpFlow {
    /// A connection from `client` to `server`: returns it with the frames of
    /// its three-way handshake.
    #[must_use]
    pub fn connect(client: SocketAddr, server: SocketAddr, wrap: Wrap) -> (Self, Vec<Vec<u8>>) {
        let mut f = Self {
            client,
            server,
            client_seq: 0x1000,
            server_seq: 0x8000,
        };
        let syn = f.segment(wrap, true, &[], flags::SYN);
        f.client_seq += 1;
        let syn_ack = f.segment(wrap, false, &[], flags::SYN | flags::ACK);
        f.server_seq += 1;
        let ack = f.segment(wrap, true, &[], flags::ACK);
        (f, vec![syn, syn_ack, ack])
    }

    /// A segment of the client's (`from_client`) or the server's stream
    /// carrying `data` next; its sequence number advances.
    pub fn segment(&mut self, wrap: Wrap, from_client: bool, data: &[u8], flags: u16) -> Vec<u8> {
        let (src, dst, seq, ack) = if from_client {
            (self.client, self.server, self.client_seq, self.server_seq)
        } else {
            (self.server, self.client, self.server_seq, self.client_seq)
        };
        let frame = ip_frame(wrap, src.ip(), dst.ip())
            .tcp_segment(src.port(), dst.port(), seq, ack, flags)
            .payload(data)
            .build();
        let n = u32::try_from(data.len()).unwrap_or(0);
        if from_client {
            self.client_seq = self.client_seq.wrapping_add(n);
        } else {
            self.server_seq = self.server_seq.wrapping_add(n);
        }
        frame
    }
}

/// One RTP stream: from `src` to `dst`, its SSRC and next sequence number.
#[derive(Clone, Copy, Debug)]
pub struct RtpStream {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// SSRC.
    pub ssrc: u32,
    /// Next sequence number (its timestamp is 160 times it).
    pub seq: u16,
}

impl RtpStream {
    /// The next packet's id and frame.
    pub fn next(&mut self, wrap: Wrap) -> (RtpId, Vec<u8>) {
        let id = RtpId {
            ssrc: self.ssrc,
            seq: self.seq,
        };
        let ts = u32::from(self.seq).wrapping_mul(160);
        self.seq = self.seq.wrapping_add(1);
        (id, udp(wrap, self.src, self.dst, &rtp(id.seq, ts, id.ssrc)))
    }
}

/// One step of staging a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A frame for the mirror.
    Frame(Vec<u8>),
    /// The probe must have parsed the capture's first `sip_messages` SIP
    /// messages and applied the media they installed on every worker before
    /// the next frame (a replay waits for it).
    Settle {
        /// SIP messages of the capture so far.
        sip_messages: usize,
    },
}

/// What one call (or registration) of a capture is, and what a warrant on
/// its target must receive of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallExpectation {
    /// Short name: which case of the scenario it is.
    pub name: &'static str,
    /// Its Call-ID (empty for stray media that belongs to no call).
    pub call_id: String,
    /// A call of the target: every one of its SIP messages is delivered,
    /// and (content mode) every one of its RTP packets; otherwise none.
    pub target: bool,
    /// Calling party: the From URI of the first INVITE (of a registration,
    /// the address of record).
    pub caller: String,
    /// Called party: the To URI of the first INVITE, as the caller wrote it
    /// (of a registration, the address of record).
    pub callee: String,
    /// Answered with a 2xx.
    pub answered: bool,
    /// Its SIP messages, in order, as sent.
    pub sip: Vec<Vec<u8>>,
    /// Its RTP packets, in order.
    pub rtp: Vec<RtpId>,
}

/// A staged capture and its expectation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VoiceCapture {
    /// What to write, in order.
    pub steps: Vec<Step>,
    /// Every call in it, the target's and the others'.
    pub calls: Vec<CallExpectation>,
}

/// The target of [`scenario`]'s warrants.
pub const TARGET: &str = "sip:alice@example.com";
/// The SIP server (proxy and registrar) every phone signals with.
pub const SIP_SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 60);
/// An integrated access device with two lines, alice's and dave's: both
/// signal from port 5060 and take RTP ports from one pool.
pub const IAD: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 40);
/// Alice's softphone, her second registered contact.
pub const SOFTPHONE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 41);
/// The media gateway the far ends of every call are behind.
pub const MEDIA_GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 80);
/// The IAD's IPv6 address: its lines' media over IPv6 (signalling stays IPv4).
pub const IAD_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x51, 0, 0, 0, 0, 0x40);
/// The media gateway's IPv6 address.
pub const MEDIA_GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x2, 0, 0, 0, 0, 0x80);

fn at(addr: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(addr), port)
}

/// A call's media between the IAD's `near` port and the gateway's `far`
/// one, over IPv4 or (`v6`) IPv6.
fn media(v6: bool, (near, far): (u16, u16)) -> (SocketAddr, SocketAddr) {
    match v6 {
        false => (at(IAD, near), at(MEDIA_GATEWAY, far)),
        true => (
            SocketAddr::new(IAD_V6.into(), near),
            SocketAddr::new(MEDIA_GATEWAY_V6.into(), far),
        ),
    }
}

fn server() -> SocketAddr {
    at(SIP_SERVER, 5060)
}

/// Builds a capture call by call.
#[derive(Default)]
struct Builder {
    cap: VoiceCapture,
}

/// Index of a call in the capture being built.
#[derive(Clone, Copy)]
struct CallIx(usize);

impl Builder {
    fn call(&mut self, name: &'static str, d: &Dialog, target: bool) -> CallIx {
        self.cap.calls.push(CallExpectation {
            name,
            call_id: d.call_id.clone(),
            target,
            caller: d.caller.clone(),
            callee: d.callee.clone(),
            answered: false,
            sip: Vec::new(),
            rtp: Vec::new(),
        });
        CallIx(self.cap.calls.len() - 1)
    }

    fn expect(&mut self, c: CallIx) -> &mut CallExpectation {
        &mut self.cap.calls[c.0]
    }

    fn frame(&mut self, f: Vec<u8>) {
        self.cap.steps.push(Step::Frame(f));
    }

    fn settle(&mut self) {
        let sip_messages = self.cap.calls.iter().map(|c| c.sip.len()).sum();
        self.cap.steps.push(Step::Settle { sip_messages });
    }

    /// `m` over UDP from `src` to `dst`.
    fn sip(&mut self, c: CallIx, wrap: Wrap, src: SocketAddr, dst: SocketAddr, m: &Sip) {
        let bytes = m.build();
        self.frame(udp(wrap, src, dst, &bytes));
        self.delivered(c, m, bytes);
    }

    /// Expects `m` (as `bytes`) delivered for call `c`; a 2xx to its INVITE answers it.
    fn delivered(&mut self, c: CallIx, m: &Sip, bytes: Vec<u8>) {
        if m.start.starts_with("SIP/2.0 2") && m.get("CSeq").is_some_and(|v| v.ends_with("INVITE"))
        {
            self.expect(c).answered = true;
        }
        self.expect(c).sip.push(bytes);
    }

    /// `n` RTP packets of `s`.
    fn rtp(&mut self, c: CallIx, wrap: Wrap, s: &mut RtpStream, n: usize) {
        for _ in 0..n {
            let (id, f) = s.next(wrap);
            self.frame(f);
            self.expect(c).rtp.push(id);
        }
    }

    /// Both directions of a call's media, `n` packets each, interleaved.
    fn talk(&mut self, c: CallIx, wrap: Wrap, a: &mut RtpStream, b: &mut RtpStream, n: usize) {
        for _ in 0..n {
            self.rtp(c, wrap, a, 1);
            self.rtp(c, wrap, b, 1);
        }
    }

    /// A registration of `aor` with `contact` from `phone`, and its 200 OK.
    fn register(
        &mut self,
        name: &'static str,
        aor: &str,
        phone: SocketAddr,
        contact: &str,
        target: bool,
    ) {
        let d = Dialog {
            call_id: format!("reg-{name}@{}", phone.ip()),
            caller: aor.to_owned(),
            caller_tag: format!("r{}", phone.port()),
            callee: aor.to_owned(),
            callee_tag: None,
            transport: "UDP",
        };
        let c = self.call(name, &d, target);
        let reg = d
            .request(true, "REGISTER", "sip:example.com", phone, 1)
            .header("Contact", format!("<{contact}>"))
            .header("Expires", "3600");
        let ok = Sip::response_to(&reg, 200, "OK", Some("reg"))
            .header("Contact", format!("<{contact}>;expires=3600"));
        self.sip(c, Wrap::Plain, phone, server(), &reg);
        self.sip(c, Wrap::Plain, server(), phone, &ok);
    }

    /// A call from a line of the IAD (`caller`) to `callee` through the
    /// server, answered from the media gateway (media at `near` and `far`,
    /// see [`media`]): INVITE (in two IPv4 fragments if `fragmented`), 100,
    /// 180, 200, ACK; settle (a target's call); `n` RTP packets each way; BYE
    /// from the far end and its 200.
    #[allow(clippy::too_many_arguments)]
    fn basic_call(
        &mut self,
        name: &'static str,
        caller: &str,
        callee: &str,
        target: bool,
        (near, far): (SocketAddr, SocketAddr),
        n: usize,
        fragmented: bool,
    ) {
        let phone = at(IAD, 5060);
        let d = &mut self.dialog(name, caller, callee, "UDP");
        let c = self.call(name, d, target);
        let invite = d
            .request(true, "INVITE", callee, phone, 1)
            .header("Contact", format!("<{}>", contact_of(caller)))
            .sdp(sdp(near, 1, MediaDir::SendRecv));
        if fragmented {
            let bytes = invite.build();
            for f in udp_fragments(phone, server(), &bytes, bytes.len() / 2) {
                self.frame(f);
            }
            self.expect(c).sip.push(bytes);
        } else {
            self.sip(c, Wrap::Plain, phone, server(), &invite);
        }
        self.answer(c, d, Wrap::Plain, (phone, &invite), far);
        if target {
            // Only a targeted call's media is ever installed.
            self.settle();
        }
        let (mut up, mut down) = streams(c, near, far);
        self.talk(c, Wrap::Plain, &mut up, &mut down, n);
        self.hang_up(c, d, caller, phone);
    }

    /// The far end's BYE to `caller` at `phone`, through the server, and its 200.
    fn hang_up(&mut self, c: CallIx, d: &Dialog, caller: &str, phone: SocketAddr) {
        let bye = d.request(false, "BYE", &contact_of(caller), server(), 1);
        self.sip(c, Wrap::Plain, server(), phone, &bye);
        let ok = Sip::response_to(&bye, 200, "OK", None);
        self.sip(c, Wrap::Plain, phone, server(), &ok);
    }

    fn dialog(&self, name: &str, caller: &str, callee: &str, transport: &'static str) -> Dialog {
        Dialog {
            call_id: format!("{name}-{}@example.com", self.cap.calls.len()),
            caller: caller.to_owned(),
            caller_tag: format!("{name}-from"),
            callee: callee.to_owned(),
            callee_tag: None,
            transport,
        }
    }

    /// The server's 100, the far end's 180 and 200 (its SDP at `far`) to
    /// `invite` of `phone`, and the caller's ACK.
    fn answer(
        &mut self,
        c: CallIx,
        d: &mut Dialog,
        wrap: Wrap,
        (phone, invite): (SocketAddr, &Sip),
        far: SocketAddr,
    ) {
        let tag = format!("{}-to", self.cap.calls[c.0].name);
        self.sip(
            c,
            wrap,
            server(),
            phone,
            &Sip::response_to(invite, 100, "Trying", None),
        );
        self.sip(
            c,
            wrap,
            server(),
            phone,
            &Sip::response_to(invite, 180, "Ringing", Some(&tag)),
        );
        let ok = Sip::response_to(invite, 200, "OK", Some(&tag))
            .header("Contact", format!("<sip:gw@{}>", MEDIA_GATEWAY))
            .sdp(sdp(far, 1, MediaDir::SendRecv));
        self.sip(c, wrap, server(), phone, &ok);
        d.callee_tag = Some(tag);
        let ack = d.request(true, "ACK", &format!("sip:gw@{MEDIA_GATEWAY}"), phone, 1);
        self.sip(c, wrap, phone, server(), &ack);
    }
}

/// Where `i-rtcp`'s caller receives RTCP: a media relay, apart from her RTP.
pub const RTCP_RELAY: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 42);

impl Builder {
    /// `i-rtcp` and `i-after` (see [`scenario`]).
    fn rtcp_apart(&mut self) {
        let phone = at(IAD, 5060);
        let (near, far) = media(false, (40080, 30080));
        let (relay, far_rtcp) = (at(RTCP_RELAY, 41000), at(MEDIA_GATEWAY, 30081));
        let d = &mut self.dialog("i-rtcp", TARGET, BOB, "UDP");
        let c = self.call("i-rtcp", d, true);
        let offer = format!(
            "{}a=rtcp:41000 IN IP4 {RTCP_RELAY}\r\n",
            sdp(near, 1, MediaDir::SendRecv)
        );
        let invite = d
            .request(true, "INVITE", BOB, phone, 1)
            .header("Contact", format!("<{}>", contact_of(TARGET)))
            .sdp(offer);
        self.sip(c, Wrap::Plain, phone, server(), &invite);
        self.answer(c, d, Wrap::Plain, (phone, &invite), far);
        self.settle();
        let (mut up, mut down) = streams(c, near, far);
        self.talk(c, Wrap::Plain, &mut up, &mut down, 2);
        // Bob sends his reports from a port no SDP names (RTCP need not be
        // symmetric), so they match on the relay's endpoint alone.
        let bob_sends = at(MEDIA_GATEWAY, 30099);
        for count in 1..=2 {
            self.rtcp(c, relay, far_rtcp, up.ssrc, count);
            self.rtcp(c, bob_sends, relay, down.ssrc, count);
        }
        self.talk(c, Wrap::Plain, &mut up, &mut down, 1);
        self.hang_up(c, d, TARGET, phone);
        // Dave's RTP on the relay's port, then to bob's old RTCP port.
        self.basic_call("i-after", DAVE, FRANK, false, (relay, far_rtcp), 3, false);
    }

    /// An RTCP sender report of `ssrc` from `src` to `dst`, for call `c`.
    fn rtcp(&mut self, c: CallIx, src: SocketAddr, dst: SocketAddr, ssrc: u32, count: u16) {
        self.frame(udp(Wrap::Plain, src, dst, &rtcp_sr(ssrc, count)));
        self.expect(c).rtp.push(RtpId { ssrc, seq: count });
    }
}

/// The contact a line of the IAD registers: `sip:user@IAD:5060`.
fn contact_of(aor: &str) -> String {
    let user = aor
        .trim_start_matches("sip:")
        .split('@')
        .next()
        .unwrap_or_default();
    format!("sip:{user}@{IAD}:5060")
}

/// The two RTP streams of call `c` between `near` and `far`; SSRCs name the
/// call and the direction.
fn streams(c: CallIx, near: SocketAddr, far: SocketAddr) -> (RtpStream, RtpStream) {
    let base = 0x5e00_0000 | (u32::try_from(c.0).unwrap_or(0) << 8);
    let seq = 1000 * u16::try_from(c.0 % 60).unwrap_or(0);
    let up = RtpStream {
        src: near,
        dst: far,
        ssrc: base | 1,
        seq,
    };
    let down = RtpStream {
        src: far,
        dst: near,
        ssrc: base | 2,
        seq,
    };
    (up, down)
}

const DAVE: &str = "sip:dave@example.com";
const BOB: &str = "sip:bob@example.net";
const FRANK: &str = "sip:frank@example.net";

/// The whole case list of issue #29's end-to-end test, in capture order; the
/// target is [`TARGET`] (alice), who registers two contacts (the IAD line and
/// a softphone):
/// - `g-before`: dave (the IAD's other line) calls frank on RTP ports
///   IAD:40000 and gateway:30000, before alice uses them; not delivered;
/// - `a-basic`: alice calls bob (INVITE in two IPv4 fragments), media both
///   ways on those ports, BYE;
/// - `g-after`: dave calls frank again on the same ports; not delivered;
/// - `b-contact`: carol calls alice's registered contact under another
///   name (the callee is alice only through her registration), over TCP;
/// - `c-forked`: frank calls alice, the server forks to both contacts, two
///   early dialogs ring, the IAD answers, the softphone's branch is
///   cancelled; signalling in QinQ;
/// - `d-reinvite`: alice calls bob, a re-INVITE moves her media from port
///   40030 to 40032; then `d-reuse`: dave calls erin on 40030 (not
///   delivered) while alice's call goes on;
/// - `e-hold`: alice calls bob, holds (sendonly, only her RTP flows) and
///   resumes;
/// - `f-cancel`: alice calls bob, who rings; alice cancels (487); signalling
///   in a VLAN; then `f-stray`: RTP to the port she offered; not delivered;
/// - `h-ipv6`: alice calls bob with IPv6 media (`c=IN IP6`, RTP over IPv6);
///   then `h-after`: dave calls frank on the same IPv6 addresses and ports;
///   not delivered;
/// - `i-rtcp`: alice calls bob, her RTCP on an address of its own
///   (`a=rtcp:PORT IN IP4` a media relay), bob's on his RTP port + 1; RTP
///   and sender reports both ways (bob's from a port no SDP names, so they
///   match on the relay alone); then `i-after`: dave's media on that relay
///   port and on bob's RTCP port; not delivered.
#[must_use]
pub fn scenario() -> VoiceCapture {
    let mut b = Builder::default();
    b.register("reg-iad", TARGET, at(IAD, 5060), &contact_of(TARGET), true);
    b.register(
        "reg-soft",
        TARGET,
        at(SOFTPHONE, 5060),
        &format!("sip:alice@{SOFTPHONE}:5060"),
        true,
    );
    b.register("reg-dave", DAVE, at(IAD, 5060), &contact_of(DAVE), false);
    let ports = media(false, (40000, 30000));
    b.basic_call("g-before", DAVE, FRANK, false, ports, 3, false);
    b.basic_call("a-basic", TARGET, BOB, true, ports, 5, true);
    b.basic_call("g-after", DAVE, FRANK, false, ports, 3, false);
    b.by_contact();
    b.forked();
    b.reinvite();
    b.hold();
    b.cancelled();
    let v6 = media(true, (40070, 30070));
    b.basic_call("h-ipv6", TARGET, BOB, true, v6, 4, false);
    b.basic_call("h-after", DAVE, FRANK, false, v6, 3, false);
    b.rtcp_apart();
    b.cap
}

/// A short capture for the demo: alice registers, calls bob (`n` RTP
/// packets each way), dave then calls frank on the same media ports, and
/// alice cancels a second call. The target is [`TARGET`].
#[must_use]
pub fn demo(n: usize) -> VoiceCapture {
    let mut b = Builder::default();
    b.register("reg-iad", TARGET, at(IAD, 5060), &contact_of(TARGET), true);
    let ports = media(false, (40000, 30000));
    b.basic_call("a-basic", TARGET, BOB, true, ports, n, false);
    b.basic_call("g-after", DAVE, FRANK, false, ports, n, false);
    b.cancelled();
    b.cap
}

impl Builder {
    /// `b-contact`: carol's call to alice's contact (To names alice's
    /// number, not her address of record), on alice's TCP connection.
    fn by_contact(&mut self) {
        let phone = at(IAD, 5062);
        let wrap = Wrap::Plain;
        let contact = contact_of(TARGET);
        let mut d = self.dialog(
            "b-contact",
            "sip:carol@example.org",
            "sip:+15550100@example.com;user=phone",
            "TCP",
        );
        let c = self.call("b-contact", &d, true);
        let (mut flow, handshake) = TcpFlow::connect(phone, server(), wrap);
        for f in handshake {
            self.frame(f);
        }
        let (near, far) = (at(IAD, 40010), at(MEDIA_GATEWAY, 30010));
        let invite = d
            .request(true, "INVITE", &contact, server(), 1)
            .header("Contact", format!("<sip:gw@{MEDIA_GATEWAY}>"))
            .sdp(sdp(far, 1, MediaDir::SendRecv));
        // The INVITE in two segments: reassembled before it is read.
        let bytes = invite.build();
        let half = bytes.len() / 2;
        let first = flow.segment(wrap, false, &bytes[..half], flags::ACK);
        let second = flow.segment(wrap, false, &bytes[half..], flags::ACK | flags::PSH);
        self.frame(first);
        self.frame(second);
        self.expect(c).sip.push(bytes);
        d.callee_tag = Some("b-to".into());
        let ringing = Sip::response_to(&invite, 180, "Ringing", Some("b-to"));
        let ok = Sip::response_to(&invite, 200, "OK", Some("b-to"))
            .header("Contact", format!("<{contact};transport=tcp>"))
            .sdp(sdp(near, 1, MediaDir::SendRecv));
        let ack = d.request(true, "ACK", &contact, server(), 1);
        for (m, from_client) in [(&ringing, true), (&ok, true), (&ack, false)] {
            self.tcp_sip(c, &mut flow, from_client, m);
        }
        self.settle();
        let (mut up, mut down) = streams(c, near, far);
        self.talk(c, wrap, &mut up, &mut down, 4);
        let bye = d.request(false, "BYE", &format!("sip:gw@{MEDIA_GATEWAY}"), phone, 1);
        self.tcp_sip(c, &mut flow, true, &bye);
        self.tcp_sip(
            c,
            &mut flow,
            false,
            &Sip::response_to(&bye, 200, "OK", None),
        );
    }

    fn tcp_sip(&mut self, c: CallIx, flow: &mut TcpFlow, from_client: bool, m: &Sip) {
        let bytes = m.build();
        let f = flow.segment(Wrap::Plain, from_client, &bytes, flags::ACK | flags::PSH);
        self.frame(f);
        self.delivered(c, m, bytes);
    }

    /// `c-forked`: frank calls alice; the server forks to the IAD and the
    /// softphone; both ring (two early dialogs), the IAD answers, the
    /// softphone's branch is cancelled. Signalling in QinQ.
    fn forked(&mut self) {
        let wrap = Wrap::QinQ(200, 300);
        let (iad, soft) = (at(IAD, 5060), at(SOFTPHONE, 5060));
        let mut d = self.dialog("c-forked", FRANK, TARGET, "UDP");
        let c = self.call("c-forked", &d, true);
        let (near, far) = (at(IAD, 40020), at(MEDIA_GATEWAY, 30020));
        let offer = sdp(far, 1, MediaDir::SendRecv);
        let to_iad = d
            .request(true, "INVITE", &contact_of(TARGET), server(), 1)
            .sdp(offer.clone());
        let to_soft = d
            .request(
                true,
                "INVITE",
                &format!("sip:alice@{SOFTPHONE}:5060"),
                server(),
                1,
            )
            .sdp(offer);
        self.sip(c, wrap, server(), iad, &to_iad);
        self.sip(c, wrap, server(), soft, &to_soft);
        self.sip(
            c,
            wrap,
            iad,
            server(),
            &Sip::response_to(&to_iad, 180, "Ringing", Some("c-iad")),
        );
        self.sip(
            c,
            wrap,
            soft,
            server(),
            &Sip::response_to(&to_soft, 180, "Ringing", Some("c-soft")),
        );
        let ok = Sip::response_to(&to_iad, 200, "OK", Some("c-iad"))
            .header("Contact", format!("<{}>", contact_of(TARGET)))
            .sdp(sdp(near, 1, MediaDir::SendRecv));
        self.sip(c, wrap, iad, server(), &ok);
        d.callee_tag = Some("c-iad".into());
        self.sip(
            c,
            wrap,
            server(),
            iad,
            &d.request(true, "ACK", &contact_of(TARGET), server(), 1),
        );
        let cancel = Sip::cancel_of(&to_soft);
        self.sip(c, wrap, server(), soft, &cancel);
        self.sip(
            c,
            wrap,
            soft,
            server(),
            &Sip::response_to(&cancel, 200, "OK", Some("c-soft")),
        );
        let terminated = Sip::response_to(&to_soft, 487, "Request Terminated", Some("c-soft"));
        self.sip(c, wrap, soft, server(), &terminated);
        self.sip(c, wrap, server(), soft, &Sip::ack_of(&to_soft, &terminated));
        self.settle();
        let (mut up, mut down) = streams(c, near, far);
        self.talk(c, Wrap::Plain, &mut up, &mut down, 4);
        let bye = d.request(true, "BYE", &contact_of(TARGET), server(), 2);
        self.sip(c, wrap, server(), iad, &bye);
        self.sip(
            c,
            wrap,
            iad,
            server(),
            &Sip::response_to(&bye, 200, "OK", None),
        );
    }

    /// Alice's call `name` from the IAD to bob, answered from the gateway:
    /// media at IAD:`port` and gateway:`port - 10000`, settled, 3 RTP
    /// packets each way.
    fn alice_calls_bob(
        &mut self,
        name: &'static str,
        port: u16,
    ) -> (CallIx, Dialog, [RtpStream; 2]) {
        let phone = at(IAD, 5060);
        let mut d = self.dialog(name, TARGET, BOB, "UDP");
        let c = self.call(name, &d, true);
        let (near, far) = (at(IAD, port), at(MEDIA_GATEWAY, port - 10000));
        let invite = d
            .request(true, "INVITE", BOB, phone, 1)
            .header("Contact", format!("<{}>", contact_of(TARGET)))
            .sdp(sdp(near, 1, MediaDir::SendRecv));
        self.sip(c, Wrap::Plain, phone, server(), &invite);
        self.answer(c, &mut d, Wrap::Plain, (phone, &invite), far);
        self.settle();
        let (mut up, mut down) = streams(c, near, far);
        self.talk(c, Wrap::Plain, &mut up, &mut down, 3);
        (c, d, [up, down])
    }

    /// Alice's in-dialog `method` (CSeq `cseq`, SDP `offer`) and the 200 OK
    /// (SDP `answer`); an INVITE's ACK.
    fn alice_request(
        &mut self,
        c: CallIx,
        d: &Dialog,
        method: &str,
        cseq: u32,
        sdps: Option<(String, String)>,
    ) {
        let (phone, gw) = (at(IAD, 5060), format!("sip:gw@{MEDIA_GATEWAY}"));
        let mut req = d.request(true, method, &gw, phone, cseq);
        let mut ok = Sip::response_to(&req, 200, "OK", None);
        if let Some((offer, answer)) = sdps {
            req = req.sdp(offer);
            ok = ok.sdp(answer);
        }
        self.sip(c, Wrap::Plain, phone, server(), &req);
        self.sip(c, Wrap::Plain, server(), phone, &ok);
        if method == "INVITE" {
            let ack = d.request(true, "ACK", &gw, phone, cseq);
            self.sip(c, Wrap::Plain, phone, server(), &ack);
        }
    }

    /// `d-reinvite` and `d-reuse`: alice's re-INVITE moves her media from
    /// IAD:40030 to 40032; dave's call to erin then takes 40030.
    fn reinvite(&mut self) {
        let (c, d, [mut up, mut down]) = self.alice_calls_bob("d-reinvite", 40030);
        let (new, far) = (at(IAD, 40032), up.dst);
        let sdps = (
            sdp(new, 2, MediaDir::SendRecv),
            sdp(far, 2, MediaDir::SendRecv),
        );
        self.alice_request(c, &d, "INVITE", 2, Some(sdps));
        self.settle();
        up.src = new;
        down.dst = new;
        self.talk(c, Wrap::Plain, &mut up, &mut down, 3);
        // Dave's call to erin on the port alice left, while hers goes on.
        self.basic_call(
            "d-reuse",
            DAVE,
            "sip:erin@example.net",
            false,
            media(false, (40030, 30040)),
            3,
            false,
        );
        self.talk(c, Wrap::Plain, &mut up, &mut down, 2);
        self.alice_request(c, &d, "BYE", 3, None);
    }

    /// `e-hold`: alice holds bob (sendonly: only her RTP flows), resumes.
    fn hold(&mut self) {
        let (c, d, [mut up, mut down]) = self.alice_calls_bob("e-hold", 40050);
        let (near, far) = (up.src, up.dst);
        for (cseq, mine, theirs) in [
            (2, MediaDir::SendOnly, MediaDir::RecvOnly),
            (3, MediaDir::SendRecv, MediaDir::SendRecv),
        ] {
            let sdps = (sdp(near, cseq, mine), sdp(far, cseq, theirs));
            self.alice_request(c, &d, "INVITE", cseq, Some(sdps));
            if mine == MediaDir::SendOnly {
                // On hold: only alice's side (music on hold) flows.
                self.rtp(c, Wrap::Plain, &mut up, 3);
            } else {
                self.talk(c, Wrap::Plain, &mut up, &mut down, 3);
            }
        }
        self.alice_request(c, &d, "BYE", 4, None);
    }

    /// `f-cancel` and `f-stray`: alice cancels a ringing call (VLAN 100);
    /// a packet to the port she offered comes after.
    fn cancelled(&mut self) {
        let wrap = Wrap::Vlan(100);
        let phone = at(IAD, 5060);
        let d = self.dialog("f-cancel", TARGET, BOB, "UDP");
        let c = self.call("f-cancel", &d, true);
        let near = at(IAD, 40060);
        let invite = d
            .request(true, "INVITE", BOB, phone, 1)
            .header("Contact", format!("<{}>", contact_of(TARGET)))
            .sdp(sdp(near, 1, MediaDir::SendRecv));
        self.sip(c, wrap, phone, server(), &invite);
        self.sip(
            c,
            wrap,
            server(),
            phone,
            &Sip::response_to(&invite, 100, "Trying", None),
        );
        self.sip(
            c,
            wrap,
            server(),
            phone,
            &Sip::response_to(&invite, 180, "Ringing", Some("f-to")),
        );
        let cancel = Sip::cancel_of(&invite);
        self.sip(c, wrap, phone, server(), &cancel);
        self.sip(
            c,
            wrap,
            server(),
            phone,
            &Sip::response_to(&cancel, 200, "OK", Some("f-to")),
        );
        let terminated = Sip::response_to(&invite, 487, "Request Terminated", Some("f-to"));
        self.sip(c, wrap, server(), phone, &terminated);
        self.sip(c, wrap, phone, server(), &Sip::ack_of(&invite, &terminated));
        let stray = Dialog {
            call_id: String::new(),
            ..d
        };
        let s = self.call("f-stray", &stray, false);
        let (_, mut down) = streams(s, near, at(MEDIA_GATEWAY, 30060));
        self.rtp(s, Wrap::Plain, &mut down, 2);
    }
}

#[cfg(test)]
mod test {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::parse::{dissect, Dissection, IpPair};

    fn parsed(frame: &[u8]) -> Dissection {
        let mut d = Dissection::default();
        dissect(frame, &mut d).unwrap();
        d
    }

    fn udp_payload(frame: &[u8]) -> &[u8] {
        let d = parsed(frame);
        assert_eq!(d.transport.map(|t| t.proto), Some(17), "{frame:02x?}");
        &frame[usize::from(d.header_len)..]
    }

    #[test]
    fn rtp_packets_carry_their_stream_and_sequence() {
        let mut s = RtpStream {
            src: at(IAD, 40000),
            dst: at(MEDIA_GATEWAY, 30000),
            ssrc: 0x1234_5678,
            seq: u16::MAX,
        };
        let (id, f) = s.next(Wrap::Vlan(5));
        let p = udp_payload(&f);
        assert_eq!(p.len(), 12 + RTP_PAYLOAD);
        assert_eq!(RtpId::of(p), Some(id));
        assert_eq!(id.seq, u16::MAX);
        assert_eq!(s.next(Wrap::Plain).0.seq, 0, "wraps");
        assert_eq!(RtpId::of(&[0x40; 12]), None, "version 1");
        let sr = rtcp_sr(0xfeed, 3);
        assert_eq!(
            RtpId::of(&sr),
            Some(RtpId {
                ssrc: 0xfeed,
                seq: 3
            })
        );
        assert_eq!(RtpId::of(&sr[..20]), None, "a cut sender report");
    }

    #[test]
    fn fragments_carry_the_datagram_in_order() {
        let payload: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let (src, dst) = (at(IAD, 5060), server());
        let whole = udp(Wrap::Plain, src, dst, &payload);
        let [a, b] = udp_fragments(src, dst, &payload, 500);
        // Ethernet + IPv4 headers each; the UDP header and payload split at 504.
        assert_eq!(a.len() + b.len(), whole.len() + 34);
        assert_eq!(&a[34..], &whole[34..34 + 504]);
        assert_eq!(&b[34..], &whole[34 + 504..]);
        assert_eq!(u16::from_be_bytes([a[20], a[21]]), 0x2000, "MF, offset 0");
        assert_eq!(u16::from_be_bytes([b[20], b[21]]), 504 / 8, "offset 63");
        assert_eq!((a[23], b[23]), (17, 17));
    }

    #[test]
    fn a_tcp_stream_numbers_its_bytes() {
        let (mut flow, hs) = TcpFlow::connect(at(IAD, 5062), server(), Wrap::Plain);
        assert_eq!(hs.len(), 3);
        let seq = |f: &[u8]| u32::from_be_bytes([f[38], f[39], f[40], f[41]]);
        let ack = |f: &[u8]| u32::from_be_bytes([f[42], f[43], f[44], f[45]]);
        assert_eq!(
            (seq(&hs[0]), seq(&hs[1]), ack(&hs[1])),
            (0x1000, 0x8000, 0x1001)
        );
        let s1 = flow.segment(Wrap::Plain, true, b"INVITE ", flags::ACK);
        let s2 = flow.segment(Wrap::Plain, true, b"sip:x", flags::ACK);
        let r = flow.segment(Wrap::Plain, false, b"SIP/2.0", flags::ACK);
        assert_eq!((seq(&s1), seq(&s2)), (0x1001, 0x1008));
        assert_eq!((seq(&r), ack(&r)), (0x8001, 0x100d));
        assert_eq!(parsed(&s2).transport.map(|t| t.proto), Some(6));
    }

    #[test]
    fn messages_are_whole_sip_with_their_sdp() {
        let d = Dialog {
            call_id: "x@h".into(),
            caller: TARGET.into(),
            caller_tag: "1".into(),
            callee: BOB.into(),
            callee_tag: None,
            transport: "UDP",
        };
        let inv = d.request(true, "INVITE", BOB, at(IAD, 5060), 1).sdp(sdp(
            at(IAD, 40000),
            1,
            MediaDir::SendOnly,
        ));
        let text = String::from_utf8(inv.build()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("INVITE sip:bob@example.net SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.40:5060;branch=z9hG4bK"));
        assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
        assert!(
            body.contains("c=IN IP4 198.51.100.40\r\n")
                && body.contains("m=audio 40000 RTP/AVP 0\r\n")
        );
        assert!(body.ends_with("a=sendonly\r\n"));
        let ok = String::from_utf8(Sip::response_to(&inv, 200, "OK", Some("t")).build()).unwrap();
        assert!(
            ok.contains("\r\nTo: <sip:bob@example.net>;tag=t\r\n"),
            "{ok}"
        );
        assert!(ok.contains("\r\nCSeq: 1 INVITE\r\n"));
        let cancel = String::from_utf8(Sip::cancel_of(&inv).build()).unwrap();
        assert!(cancel.starts_with("CANCEL sip:bob@example.net SIP/2.0\r\n"));
        assert!(cancel.contains("\r\nCSeq: 1 CANCEL\r\n"));
        assert_eq!(
            inv.get("via"),
            Sip::cancel_of(&inv).get("Via"),
            "same transaction"
        );
    }

    #[test]
    fn the_scenario_covers_every_case_and_parses() {
        let cap = scenario();
        let names: Vec<_> = cap.calls.iter().map(|c| c.name).collect();
        for n in [
            "a-basic",
            "b-contact",
            "c-forked",
            "d-reinvite",
            "d-reuse",
            "e-hold",
            "f-cancel",
            "g-before",
            "g-after",
            "h-ipv6",
            "h-after",
        ] {
            assert!(names.contains(&n), "{n} missing");
        }
        let ids: Vec<&str> = cap
            .calls
            .iter()
            .map(|c| c.call_id.as_str())
            .filter(|i| !i.is_empty())
            .collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(ids.len(), unique.len(), "one Call-ID per call");
        let rtp: Vec<RtpId> = cap.calls.iter().flat_map(|c| c.rtp.clone()).collect();
        let mut distinct = rtp.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(rtp.len(), distinct.len(), "every RTP packet told apart");
        for c in &cap.calls {
            for m in &c.sip {
                let text = std::str::from_utf8(m).unwrap();
                assert!(
                    text.contains(&format!("\r\nCall-ID: {}\r\n", c.call_id)),
                    "{text}"
                );
            }
        }
        let get = |n: &str| cap.calls.iter().find(|c| c.name == n).unwrap();
        assert!(get("a-basic").answered && !get("f-cancel").answered);
        assert!(get("f-cancel").rtp.is_empty() && !get("f-stray").target);
        // Every frame parses, and the media of others reuse the target's ports.
        for s in &cap.steps {
            if let Step::Frame(f) = s {
                parsed(f);
            }
        }
        assert_eq!(get("g-before").rtp.len(), 6);
        // a, b, c, d twice, e, h, i: a settle per new media of the target's calls.
        let settles = cap
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Settle { .. }));
        assert_eq!(settles.count(), 8);
        // i's offer puts its RTCP on the relay; its reports go both ways there.
        let i = get("i-rtcp");
        let invite = std::str::from_utf8(&i.sip[0]).unwrap();
        assert!(invite.contains(&format!("\r\na=rtcp:41000 IN IP4 {RTCP_RELAY}\r\n")));
        assert_eq!(i.rtp.len(), 6 + 4);
        // h's SDP and RTP are IPv6, and h-after's RTP goes to the same endpoints.
        let h = get("h-ipv6");
        let invite = std::str::from_utf8(&h.sip[0]).unwrap();
        assert!(invite.contains(&format!("\r\nc=IN IP6 {IAD_V6}\r\nt=0 0\r\nm=audio 40070 ")));
        let v6_rtp: Vec<RtpId> = cap
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Frame(f) if matches!(parsed(f).ips().next(), Some(IpPair::V6 { .. })) => {
                    RtpId::of(udp_payload(f))
                }
                _ => None,
            })
            .collect();
        let mut both = h.rtp.clone();
        both.extend(&get("h-after").rtp);
        assert_eq!(v6_rtp, both);
    }
}
