//! SIP over TCP: each flow's segments put back in order and cut into whole
//! messages (by Content-Length, RFC 3261 §18.3), bounded in memory.
//!
//! The mirror shows each direction of a connection as it passed the tap:
//! segments may come out of order, twice, overlapping, or not at all. In-order
//! bytes are framed at once; bytes ahead of a hole wait (bounded in count,
//! bytes and time). When the hole cannot be filled, the flow's partial message
//! is dropped and framing resumes at the next line that starts a SIP message.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::wire::MAX_MESSAGE;

/// TCP flags read.
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
/// Segments held ahead of a hole per flow.
const MAX_HELD_SEGMENTS: usize = 32;
/// How long bytes wait for a hole before it (receive time): a sender retransmits
/// within its RTO, a segment the mirror lost never comes.
const HOLE_WAIT_NS: u64 = 1_000_000_000;
/// Every flow's buffers together, by default.
const DEFAULT_BUDGET: usize = 64 << 20;
/// While resyncing, the longest partial line kept (a start line cut by a segment).
const MAX_START_LINE: usize = 1024;

/// One direction of a TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
}

/// One TCP segment as the signalling path saw it.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// Receive time, ns since the Unix epoch.
    pub ts_ns: u64,
    /// Its flow.
    pub flow: FlowKey,
    /// Sequence number of its first payload byte.
    pub seq: u32,
    /// TCP flags (SYN, FIN, RST matter).
    pub flags: u8,
    /// Its payload.
    pub payload: &'a [u8],
}

/// What the streams did, since they were made (the signalling path counts them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Whole messages given.
    pub messages: u64,
    /// Holes given up on (or bytes refused for memory): a partial message dropped
    /// and the flow resynced at the next message start.
    pub gaps: u64,
    /// Messages without a usable Content-Length, or longer than [`MAX_MESSAGE`].
    pub malformed: u64,
    /// Segments of new flows refused because `max_flows` flows were open.
    pub refused: u64,
}

/// One direction's state.
struct Flow {
    /// Sequence number of the next in-order byte.
    next: u32,
    /// In-order bytes not yet cut into a message.
    buf: Vec<u8>,
    /// Segments ahead of `next`, ordered by sequence: (seq, receive time, bytes).
    held: Vec<(u32, u64, Vec<u8>)>,
    /// Bytes were lost before `buf`: skip to the next message start.
    resync: bool,
    /// The sender closed (FIN): forget the flow once nothing is held.
    closing: bool,
    /// Last segment's receive time.
    last_ns: u64,
}

/// Signed distance of `seq` ahead of `from` (modulo 2^32).
fn ahead(seq: u32, from: u32) -> i64 {
    i64::from(seq.wrapping_sub(from) as i32)
}

impl Flow {
    fn new(next: u32, resync: bool, ts_ns: u64) -> Self {
        Flow {
            next,
            buf: Vec::new(),
            held: Vec::new(),
            resync,
            closing: false,
            last_ns: ts_ns,
        }
    }

    /// Bytes buffered.
    fn bytes(&self) -> usize {
        self.buf.len() + self.held.iter().map(|h| h.2.len()).sum::<usize>()
    }

    /// Takes `data` starting at `seq` (in order, ahead, or partly old).
    fn take(&mut self, seq: u32, ts_ns: u64, data: &[u8]) {
        let d = ahead(seq, self.next);
        if d > 0 {
            let at = self
                .held
                .iter()
                .position(|h| ahead(h.0, seq) >= 0)
                .unwrap_or(self.held.len());
            match self.held.get(at) {
                // The same segment again: keep the longer copy.
                Some(h) if h.0 == seq && h.2.len() >= data.len() => {}
                Some(h) if h.0 == seq => self.held[at] = (seq, ts_ns, data.to_vec()),
                _ => self.held.insert(at, (seq, ts_ns, data.to_vec())),
            }
            return;
        }
        // Bytes before `next` were had already (retransmission, overlap).
        let old = usize::try_from(-d).unwrap_or(usize::MAX);
        if let Some(new) = data.get(old..).filter(|n| !n.is_empty()) {
            self.buf.extend_from_slice(new);
            self.next = self.next.wrapping_add(new.len() as u32);
        }
    }

    /// Moves the held segments the in-order bytes now reach into `buf`.
    fn fill(&mut self) {
        while self
            .held
            .first()
            .is_some_and(|h| ahead(h.0, self.next) <= 0)
        {
            let (seq, ts, data) = self.held.remove(0);
            self.take(seq, ts, &data);
        }
    }

    /// Gives up on the hole before the first held segment (or on `buf`).
    fn skip(&mut self, stats: &mut StreamStats) {
        stats.gaps += 1;
        self.buf.clear();
        self.resync = true;
        if let Some(h) = self.held.first() {
            self.next = h.0;
        }
    }

    /// Cuts every whole message out of `buf`.
    fn frame(
        &mut self,
        ts_ns: u64,
        key: FlowKey,
        stats: &mut StreamStats,
        out: &mut dyn FnMut(u64, FlowKey, &[u8]),
    ) {
        loop {
            if self.resync {
                match message_start(&self.buf) {
                    Some(at) => {
                        self.buf.drain(..at);
                        self.resync = false;
                    }
                    None => {
                        // Keep the last, unfinished line: it may start a message.
                        let line = self
                            .buf
                            .iter()
                            .rposition(|&b| b == b'\n')
                            .map_or(0, |i| i + 1);
                        self.buf.drain(..line);
                        if self.buf.len() > MAX_START_LINE {
                            self.buf.clear();
                        }
                        return;
                    }
                }
            }
            // CRLF keep-alives (RFC 5626) between messages.
            let crlf = self
                .buf
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            self.buf.drain(..crlf);
            if self.buf.is_empty() {
                return;
            }
            let Some(head) = find(&self.buf, b"\r\n\r\n").map(|i| i + 4) else {
                if self.buf.len() > MAX_MESSAGE {
                    stats.malformed += 1;
                    self.buf.clear();
                    self.resync = true;
                }
                return;
            };
            let len = content_length(&self.buf[..head]).map(|n| head.saturating_add(n));
            match len {
                Some(len) if len <= MAX_MESSAGE => {
                    let Some(message) = self.buf.get(..len) else {
                        return;
                    };
                    stats.messages += 1;
                    out(ts_ns, key, message);
                    self.buf.drain(..len);
                }
                // Without a length a stream cannot be framed: skip this head.
                _ => {
                    stats.malformed += 1;
                    self.buf.drain(..head);
                    self.resync = true;
                }
            }
        }
    }
}

/// Where `hay` first holds `needle`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Offset of the first line of `buf` that starts a SIP message: a status line
/// (`SIP/2.0 `) or a whole request line (`METHOD SP URI SP SIP/2.0`).
fn message_start(buf: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at < buf.len() {
        let rest = &buf[at..];
        let eol = rest.iter().position(|&b| b == b'\n');
        if rest.starts_with(b"SIP/2.0 ") {
            return Some(at);
        }
        let line = &rest[..eol?];
        if is_request_line(line.strip_suffix(b"\r").unwrap_or(line)) {
            return Some(at);
        }
        at += eol? + 1;
    }
    None
}

fn is_request_line(line: &[u8]) -> bool {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !method.is_empty()
        && method.iter().all(u8::is_ascii_uppercase)
        && !uri.is_empty()
        && version == b"SIP/2.0"
}

/// The Content-Length (or compact `l`) of a message head; `None` if it has
/// none, an unreadable one, or two that differ.
fn content_length(head: &[u8]) -> Option<usize> {
    let mut found = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = line[colon + 1..].trim_ascii();
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n: usize = std::str::from_utf8(value).ok()?.parse().ok()?;
        if found.is_some_and(|f| f != n) {
            return None;
        }
        found = Some(n);
    }
    found
}

/// Reassembles SIP messages from TCP segments of many flows.
pub struct SipStreams {
    flows: HashMap<FlowKey, Flow>,
    max_flows: usize,
    max_bytes: usize,
    /// Bytes buffered over every flow.
    bytes: usize,
    stats: StreamStats,
}

impl SipStreams {
    /// Streams buffering at most `max_flows` flows of at most
    /// [`super::wire::MAX_MESSAGE`] unread bytes each.
    #[must_use]
    pub fn new(max_flows: usize) -> Self {
        Self::with_budget(max_flows, DEFAULT_BUDGET)
    }

    /// As [`SipStreams::new`], with at most `max_bytes` buffered over every flow.
    #[must_use]
    pub fn with_budget(max_flows: usize, max_bytes: usize) -> Self {
        SipStreams {
            flows: HashMap::new(),
            max_flows,
            max_bytes,
            bytes: 0,
            stats: StreamStats::default(),
        }
    }

    /// What they did so far.
    #[must_use]
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// Flows open and bytes buffered.
    #[must_use]
    pub fn usage(&self) -> (usize, usize) {
        (self.flows.len(), self.bytes)
    }

    /// Takes one segment; calls `out` with each whole SIP message it completes
    /// (in stream order, with the receive time of its last segment).
    pub fn push(&mut self, seg: &Segment<'_>, out: &mut dyn FnMut(u64, FlowKey, &[u8])) {
        let key = seg.flow;
        if seg.flags & (RST | SYN) != 0 {
            // Reset, or a new connection on the same ports: start afresh.
            self.forget(&key);
            if seg.flags & RST != 0 {
                return;
            }
        }
        let seq = if seg.flags & SYN != 0 {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        if !self.flows.contains_key(&key) {
            if seg.payload.is_empty() && seg.flags & SYN == 0 {
                return;
            }
            if self.flows.len() >= self.max_flows {
                self.stats.refused += 1;
                return;
            }
            // Picked up mid-stream: the first byte seen may be inside a message.
            let flow = Flow::new(seq, seg.flags & SYN == 0, seg.ts_ns);
            self.flows.insert(key, flow);
        }
        let others = self.bytes;
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        let before = flow.bytes();
        let others = others - before;
        flow.last_ns = seg.ts_ns;
        flow.closing |= seg.flags & FIN != 0;
        if !seg.payload.is_empty() {
            flow.take(seq, seg.ts_ns, seg.payload);
        }
        loop {
            flow.fill();
            flow.frame(seg.ts_ns, key, &mut self.stats, out);
            let stale = flow
                .held
                .first()
                .is_some_and(|h| seg.ts_ns.saturating_sub(h.1) > HOLE_WAIT_NS);
            let over = flow.bytes() > MAX_MESSAGE || others + flow.bytes() > self.max_bytes;
            if !(stale || over || flow.held.len() > MAX_HELD_SEGMENTS) {
                break;
            }
            if flow.held.is_empty() {
                // Over budget with nothing to skip to: drop the partial message.
                flow.skip(&mut self.stats);
                break;
            }
            flow.skip(&mut self.stats);
        }
        let (after, done) = (flow.bytes(), flow.closing && flow.held.is_empty());
        self.bytes = others + after;
        if done {
            self.forget(&key);
        }
    }

    /// Forgets flows idle since before `before_ns`.
    pub fn expire(&mut self, before_ns: u64) {
        let mut freed = 0;
        self.flows.retain(|_, f| {
            let keep = f.last_ns >= before_ns;
            if !keep {
                freed += f.bytes();
            }
            keep
        });
        self.bytes -= freed;
    }

    fn forget(&mut self, key: &FlowKey) {
        if let Some(f) = self.flows.remove(key) {
            self.bytes -= f.bytes();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const ACK: u8 = 0x10;

    fn key() -> FlowKey {
        FlowKey {
            src: "192.0.2.1:5060".parse().unwrap(),
            dst: "192.0.2.2:40000".parse().unwrap(),
        }
    }

    /// A request whose body ends its last line (as SDP does).
    fn msg(body: &str) -> Vec<u8> {
        let body = format!("{body}\r\n");
        format!(
            "INVITE sip:b@example.com SIP/2.0\r\nCall-ID: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// Pushes (seq, flags, bytes) at times 1, 2, ... and returns the messages.
    fn run(s: &mut SipStreams, segs: &[(u32, u8, &[u8])]) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        for (i, (seq, flags, payload)) in segs.iter().enumerate() {
            let seg = Segment {
                ts_ns: i as u64 + 1,
                flow: key(),
                seq: *seq,
                flags: *flags,
                payload,
            };
            s.push(&seg, &mut |_, _, m| got.push(m.to_vec()));
        }
        got
    }

    #[test]
    fn frames_by_content_length_across_segments() {
        let m = msg("v=0\r\n");
        let mut s = SipStreams::new(4);
        let got = run(
            &mut s,
            &[(99, SYN, b""), (100, ACK, &m[..10]), (110, ACK, &m[10..])],
        );
        assert_eq!(got, vec![m]);
        assert_eq!(s.stats().messages, 1);
    }

    #[test]
    fn reorders_ignores_retransmissions_and_splits_two_in_one() {
        let (a, b) = (msg("a"), msg("bb"));
        let mut both = a.clone();
        both.extend_from_slice(&b);
        let n = both.len() as u32;
        let mut s = SipStreams::new(4);
        let got = run(
            &mut s,
            &[
                (979, SYN, b""),
                (1000, ACK, &both[20..]),
                (980, ACK, &both[..20]),
                (980, ACK, &both[..20]),
                (990, ACK, &both[10..30]),
            ],
        );
        assert_eq!(got, vec![a, b]);
        assert_eq!(s.flows[&key()].next, 980 + n);
        assert_eq!(s.stats().gaps, 0);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let m = msg("wrap");
        let mut s = SipStreams::new(4);
        let start = u32::MAX - 5;
        let got = run(
            &mut s,
            &[
                (start, ACK, &m[..12]),
                (start.wrapping_add(12), ACK, &m[12..]),
            ],
        );
        assert_eq!(got, vec![m]);
    }

    #[test]
    fn a_hole_past_its_wait_resyncs_at_the_next_message() {
        let (a, b) = (msg("a"), msg("b"));
        let mut s = SipStreams::new(4);
        let mut got = Vec::new();
        let mut push = |ts, seq, payload: &[u8]| {
            let seg = Segment {
                ts_ns: ts,
                flow: key(),
                seq,
                flags: if payload.is_empty() { SYN } else { ACK },
                payload,
            };
            s.push(&seg, &mut |_, _, m| got.push(m.to_vec()));
        };
        // a's first 10 bytes are lost; its rest and b wait, then the wait ends.
        push(1, 0, b"");
        push(2, 11, &a[10..]);
        push(3 + HOLE_WAIT_NS, 1 + a.len() as u32, &b);
        assert_eq!(got, vec![b]);
        assert_eq!(s.stats().gaps, 1);
    }

    #[test]
    fn mid_stream_pickup_skips_to_a_message_start() {
        let m = msg("x");
        let mut junk = b"tail of a body\r\n".to_vec();
        junk.extend_from_slice(&m);
        let mut s = SipStreams::new(4);
        assert_eq!(run(&mut s, &[(5, ACK, &junk)]), vec![m]);
    }

    #[test]
    fn a_response_and_compact_length_and_keepalives() {
        let r = b"SIP/2.0 200 OK\r\nl: 2\r\n\r\nok".to_vec();
        let mut seg = b"\r\n\r\n".to_vec();
        seg.extend_from_slice(&r);
        let mut s = SipStreams::new(4);
        assert_eq!(run(&mut s, &[(0, SYN, b""), (1, ACK, &seg)]), vec![r]);
    }

    #[test]
    fn no_content_length_is_malformed_and_skipped() {
        let bad = b"BYE sip:a@b SIP/2.0\r\nCall-ID: y\r\n\r\n".to_vec();
        let good = msg("z");
        let mut seg = bad.clone();
        seg.extend_from_slice(&good);
        let mut s = SipStreams::new(4);
        assert_eq!(run(&mut s, &[(0, SYN, b""), (1, ACK, &seg)]), vec![good]);
        assert_eq!(s.stats().malformed, 1);
        let two = b"ACK sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nxx";
        let mut s = SipStreams::new(4);
        assert!(run(&mut s, &[(0, SYN, b""), (1, ACK, two)]).is_empty());
        assert_eq!(s.stats().malformed, 1);
    }

    #[test]
    fn rst_and_fin_forget_the_flow_and_bounds_hold() {
        let m = msg("q");
        let mut s = SipStreams::new(2);
        run(&mut s, &[(0, SYN, b""), (1, ACK, &m[..5])]);
        assert_eq!(s.usage(), (1, 5));
        run(&mut s, &[(6, RST, b"")]);
        assert_eq!(s.usage(), (0, 0));
        let got = run(&mut s, &[(0, SYN, b""), (1, ACK | FIN, &m)]);
        assert_eq!((got, s.usage()), (vec![m.clone()], (0, 0)));
        // A flood of flows and of bytes ahead of a hole stays bounded.
        let mut s = SipStreams::with_budget(2, 3 * MAX_MESSAGE / 2);
        let junk = vec![b'x'; 1400];
        let mut messages = 0;
        for port in 0..100u16 {
            for i in 0..200u32 {
                let seg = Segment {
                    ts_ns: 1,
                    flow: FlowKey {
                        src: SocketAddr::from(([192, 0, 2, 9], port)),
                        dst: key().dst,
                    },
                    seq: 1 + 1401 * i,
                    flags: ACK,
                    payload: &junk,
                };
                s.push(&seg, &mut |_, _, _| messages += 1);
                let (flows, bytes) = s.usage();
                assert!(flows <= 2 && bytes <= 3 * MAX_MESSAGE / 2);
                assert!(s.flows.values().all(|f| f.bytes() <= MAX_MESSAGE));
            }
        }
        assert_eq!(messages, 0);
        assert_eq!(s.stats().refused, 98 * 200);
        s.expire(2);
        assert_eq!(s.usage(), (0, 0));
    }
}
