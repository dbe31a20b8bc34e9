//! SIP over TCP: each flow's segments put back in order and cut into whole
//! messages (by Content-Length, RFC 3261 §18.3), bounded in memory.

use std::net::SocketAddr;

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

/// Reassembles SIP messages from TCP segments of many flows.
pub struct SipStreams {
    _private: (),
}

impl SipStreams {
    /// Streams buffering at most `max_flows` flows of at most
    /// [`super::wire::MAX_MESSAGE`] unread bytes each.
    #[must_use]
    pub fn new(max_flows: usize) -> Self {
        let _ = max_flows;
        todo!("voice-sig")
    }

    /// Takes one segment; calls `out` with each whole SIP message it completes
    /// (in stream order, with the receive time of its last segment).
    pub fn push(&mut self, seg: &Segment<'_>, out: &mut dyn FnMut(u64, FlowKey, &[u8])) {
        let _ = (seg, out);
        todo!("voice-sig")
    }

    /// Forgets flows idle since before `before_ns`.
    pub fn expire(&mut self, before_ns: u64) {
        let _ = before_ns;
        todo!("voice-sig")
    }
}
