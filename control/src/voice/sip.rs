//! A SIP message as the call tracker needs it (RFC 3261), with the media its
//! SDP body offers or answers (RFC 4566, RFC 3264). Built by `wire`.

use std::net::IpAddr;

/// A SIP method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE: a call, or a re-INVITE within one.
    Invite,
    /// ACK.
    Ack,
    /// BYE.
    Bye,
    /// CANCEL.
    Cancel,
    /// REGISTER.
    Register,
    /// UPDATE (RFC 3311).
    Update,
    /// PRACK (RFC 3262).
    Prack,
    /// Any other method, as written.
    Other(String),
}

/// Request line or status line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    /// A request.
    Request {
        /// Its method.
        method: Method,
        /// The Request-URI, as written.
        uri: String,
    },
    /// A response.
    Response {
        /// Status code (100..=699).
        status: u16,
    },
}

/// A From, To or Contact value: the URI and the `tag` parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// The URI, as written (without display name and angle brackets).
    pub uri: String,
    /// The `tag` parameter (From/To), if any.
    pub tag: Option<String>,
}

/// Whether and which way a media stream flows (RFC 3264 attributes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaDirection {
    /// a=sendrecv (the default).
    SendRecv,
    /// a=sendonly (e.g. the holding side).
    SendOnly,
    /// a=recvonly.
    RecvOnly,
    /// a=inactive, or a port of 0 (stream refused or removed).
    Inactive,
}

/// One `m=` line with its connection address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    /// The media type (`audio`, `video`, ...).
    pub kind: String,
    /// Where the offerer/answerer receives: the media-level `c=`, else the
    /// session-level one.
    pub addr: IpAddr,
    /// RTP port (0: the stream is refused or removed).
    pub rtp_port: u16,
    /// RTCP port: `a=rtcp`, else the RTP port + 1 (RFC 3605); equal to the
    /// RTP port with `a=rtcp-mux`.
    pub rtcp_port: u16,
    /// Where RTCP is received: the address of `a=rtcp:PORT IN IP4|IP6 ADDR`
    /// (RFC 3605), else `addr`.
    pub rtcp_addr: IpAddr,
    /// Direction attribute.
    pub direction: MediaDirection,
}

/// An SDP body's media.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Sdp {
    /// Its `m=` lines in order.
    pub media: Vec<Media>,
}

/// One SIP message, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipMessage {
    /// Request or response.
    pub start: StartLine,
    /// Call-ID.
    pub call_id: String,
    /// From.
    pub from: NameAddr,
    /// To.
    pub to: NameAddr,
    /// CSeq number and method.
    pub cseq: (u32, Method),
    /// Contact URIs (`*`, REGISTER's removal of every binding, as a URI `*`).
    pub contacts: Vec<NameAddr>,
    /// P-Asserted-Identity URIs (RFC 3325): who the network says the caller is.
    pub asserted: Vec<String>,
    /// Seconds a registration lasts (REGISTER and its response): the first
    /// Contact's `expires` parameter, else the Expires header (RFC 3261 §10.2.1.1).
    pub expires: Option<u32>,
    /// The SDP body, if the message carries one (`application/sdp`, also in a
    /// multipart body).
    pub sdp: Option<Sdp>,
}
