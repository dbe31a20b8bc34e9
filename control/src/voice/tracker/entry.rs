//! One tracked call or registration: its dialog state and the media each side
//! of it receives.

use std::sync::Arc;

use super::super::call::{CallRef, MediaEndpoint, Party};
use super::super::sip::{Media, MediaDirection, Method, Sdp};

/// Most early dialogs (forks) one INVITE may create; later forks' media are
/// not followed (their messages still are).
const MAX_FORKS: usize = 16;

/// What an entry follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// An INVITE dialog (with its forks).
    Call,
    /// A REGISTER Call-ID.
    Registration,
}

/// Where an entry is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// INVITE sent, no 2xx yet; REGISTER sent, no 2xx yet.
    Setup,
    /// 2xx to the INVITE; 2xx to the REGISTER.
    Up,
    /// Ended: kept a little while so the messages that close it (200 to BYE,
    /// ACK of a 487) are still reported as the call's.
    Ended,
}

/// The request methods whose SDP is an offer or answer (RFC 3264, 3262, 3311).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SdpMethod {
    Invite,
    Update,
    Prack,
    Ack,
}

impl SdpMethod {
    pub(super) fn of(m: &Method) -> Option<Self> {
        match m {
            Method::Invite => Some(Self::Invite),
            Method::Update => Some(Self::Update),
            Method::Prack => Some(Self::Prack),
            Method::Ack => Some(Self::Ack),
            _ => None,
        }
    }
}

/// An offer a side sent in a request and has no final response for yet.
#[derive(Debug)]
struct Pending {
    cseq: u32,
    method: SdpMethod,
    /// The side's endpoints before the offer: media may still reach them
    /// until the peer has the offer, so they stay until the final response
    /// (make before break), and are the side's again if the offer fails.
    prev: Vec<MediaEndpoint>,
}

/// Where one side (the caller, or one callee dialog) receives media.
#[derive(Debug, Default)]
pub(super) struct Side {
    cur: Vec<MediaEndpoint>,
    pending: Option<Box<Pending>>,
}

impl Side {
    /// `sdp` sent in the request `cseq`/`method`: an offer (or, in ACK or
    /// PRACK, an answer; kept the same way until the request's final response
    /// or, for ACK, at once).
    pub(super) fn offer(&mut self, cseq: u32, method: SdpMethod, sdp: &Sdp) {
        let eps = endpoints(sdp);
        if method == SdpMethod::Ack {
            self.cur = eps;
            return;
        }
        match &mut self.pending {
            Some(p) => {
                p.cseq = cseq;
                p.method = method;
            }
            None => {
                self.pending = Some(Box::new(Pending {
                    cseq,
                    method,
                    prev: std::mem::take(&mut self.cur),
                }));
            }
        }
        self.cur = eps;
    }

    /// `sdp` sent in a response: it takes effect at once.
    pub(super) fn answer(&mut self, sdp: &Sdp) {
        self.cur = endpoints(sdp);
    }

    /// The final response to this side's request `cseq`/`method`: a 2xx
    /// confirms a pending offer, anything else withdraws it.
    pub(super) fn settle(&mut self, cseq: u32, method: SdpMethod, ok: bool) {
        let Some(p) = self
            .pending
            .take_if(|p| p.cseq == cseq && p.method == method)
        else {
            return;
        };
        if !ok {
            self.cur = p.prev;
        }
    }

    /// Every endpoint the side may receive on now.
    pub(super) fn endpoints(&self) -> impl Iterator<Item = MediaEndpoint> + '_ {
        let prev = self.pending.iter().flat_map(|p| p.prev.iter());
        self.cur.iter().chain(prev).copied()
    }

    /// Stops following `ep` (another call now uses it).
    pub(super) fn forget(&mut self, ep: MediaEndpoint) {
        self.cur.retain(|e| *e != ep);
        if let Some(p) = &mut self.pending {
            p.prev.retain(|e| *e != ep);
        }
    }

    /// Stops following every endpoint.
    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }
}

/// The endpoints an SDP body makes its sender receive on: per stream the RTP
/// port and, unless muxed onto it, the RTCP port (on its own address if
/// `a=rtcp` names one). A stream with port 0,
/// `a=inactive` or a null connection address (`c=0.0.0.0`, RFC 2543 hold)
/// receives nothing. A `sendonly` stream's endpoints stay: RTCP reports still
/// reach them (RFC 3264 §5.1), and the peer's `recvonly` side still receives RTP.
fn endpoints(sdp: &Sdp) -> Vec<MediaEndpoint> {
    let mut out = Vec::with_capacity(sdp.media.len() * 2);
    for Media {
        addr,
        rtp_port,
        rtcp_port,
        rtcp_addr,
        direction,
        ..
    } in &sdp.media
    {
        if *direction == MediaDirection::Inactive || *rtp_port == 0 || addr.is_unspecified() {
            continue;
        }
        for (addr, port) in [(addr, *rtp_port), (rtcp_addr, *rtcp_port)] {
            let ep = MediaEndpoint((*addr, port).into());
            if port != 0 && !addr.is_unspecified() && !out.contains(&ep) {
                out.push(ep);
            }
        }
    }
    out
}

/// A callee's early or confirmed dialog, by its To tag.
#[derive(Debug)]
pub(super) struct Dialog {
    pub(super) tag: Option<Box<str>>,
    pub(super) side: Side,
}

/// One call or registration.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) id: CallRef,
    pub(super) kind: Kind,
    pub(super) phase: Phase,
    pub(super) call_id: Arc<str>,
    /// The next entry with the same Call-ID (rare: several dialogs of one Call-ID).
    pub(super) next: Option<u32>,
    /// The From tag of the INVITE (the caller's dialog tag).
    pub(super) caller_tag: Option<Box<str>>,
    /// CSeq number of the (latest) initial INVITE, or of the REGISTER.
    pub(super) cseq: u32,
    /// Expires of the latest REGISTER request.
    pub(super) req_expires: Option<u32>,
    pub(super) cancelled: bool,
    /// The 3xx the INVITE got, until the caller retries.
    pub(super) redirected: Option<u16>,
    pub(super) started_ns: u64,
    pub(super) answered_ns: u64,
    pub(super) deadline_ns: u64,
    /// Those the first INVITE (or REGISTER) names.
    pub(super) parties: Vec<Party>,
    /// Those a later INVITE named first, with its receive time.
    pub(super) joined: Vec<(Party, u64)>,
    pub(super) caller: Side,
    pub(super) dialogs: Vec<Dialog>,
    /// The endpoints reported added, with when.
    pub(super) media: Vec<(MediaEndpoint, u64)>,
    /// Contacts bound to this registration.
    pub(super) contacts: Vec<Arc<str>>,
}

impl Entry {
    pub(super) fn new(id: CallRef, kind: Kind, call_id: Arc<str>, ts_ns: u64) -> Self {
        Self {
            id,
            kind,
            phase: Phase::Setup,
            call_id,
            next: None,
            caller_tag: None,
            cseq: 0,
            req_expires: None,
            cancelled: false,
            redirected: None,
            started_ns: ts_ns,
            answered_ns: 0,
            deadline_ns: 0,
            parties: Vec::new(),
            joined: Vec::new(),
            caller: Side::default(),
            dialogs: Vec::new(),
            media: Vec::new(),
            contacts: Vec::new(),
        }
    }

    /// Every party, the joined ones last.
    pub(super) fn all_parties(&self) -> impl Iterator<Item = &Party> {
        self.parties.iter().chain(self.joined.iter().map(|j| &j.0))
    }

    /// Whether `p` is a party already.
    pub(super) fn names(&self, p: &Party) -> bool {
        self.all_parties().any(|q| q == p)
    }

    /// Whether a message with these From and To tags belongs to this entry.
    pub(super) fn owns(&self, from_tag: Option<&str>, to_tag: Option<&str>) -> bool {
        match self.kind {
            // A UA keeps one Call-ID for its registrations; its From tags vary.
            Kind::Registration => true,
            Kind::Call => {
                let mine = self.caller_tag.as_deref();
                from_tag == mine || (mine.is_some() && to_tag == mine)
            }
        }
    }

    /// The callee side of the dialog `tag`, created for a new fork before the
    /// answer; `None` for another fork once one answered.
    pub(super) fn dialog(&mut self, tag: Option<&str>) -> Option<&mut Side> {
        let i = match self.dialogs.iter().position(|d| d.tag.as_deref() == tag) {
            Some(i) => i,
            None if self.phase == Phase::Setup && self.dialogs.len() < MAX_FORKS => {
                self.dialogs.push(Dialog {
                    tag: tag.map(Into::into),
                    side: Side::default(),
                });
                self.dialogs.len() - 1
            }
            None => return None,
        };
        self.dialogs.get_mut(i).map(|d| &mut d.side)
    }

    /// The 2xx of dialog `tag` answered the call: the other forks go.
    pub(super) fn pick(&mut self, tag: Option<&str>) {
        self.dialogs.retain(|d| d.tag.as_deref() == tag);
    }

    /// Every endpoint the call's sides receive on now, in order, once each.
    pub(super) fn wanted(&self) -> Vec<MediaEndpoint> {
        let mut out: Vec<MediaEndpoint> = Vec::new();
        let all = self
            .caller
            .endpoints()
            .chain(self.dialogs.iter().flat_map(|d| d.side.endpoints()));
        for ep in all {
            if !out.contains(&ep) {
                out.push(ep);
            }
        }
        out
    }

    /// Stops following `ep` on every side.
    pub(super) fn forget(&mut self, ep: MediaEndpoint) {
        self.caller.forget(ep);
        for d in &mut self.dialogs {
            d.side.forget(ep);
        }
        self.media.retain(|(e, _)| *e != ep);
    }

    /// Drops what an ended entry no longer needs.
    pub(super) fn shrink(&mut self) {
        self.caller.clear();
        self.dialogs = Vec::new();
        self.parties = Vec::new();
        self.joined = Vec::new();
        self.contacts = Vec::new();
    }
}
