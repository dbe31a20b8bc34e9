//! Voice: the SIP signalling and RTP media of a target's calls, from the mirror.
//!
//! Data flows one way: the signalling path hands over SIP messages of the
//! configured SIP servers (UDP datagrams, and TCP streams reassembled by
//! `stream`); `wire` parses each into a [`sip::SipMessage`] (with its SDP);
//! `tracker` follows registrations and dialogs and reports [`call::CallChange`]s;
//! the daemon's voice glue installs the media endpoints of targeted calls as
//! UDP endpoint targets and reports each SIP message as IRI.

pub mod call;
pub mod config;
pub mod sip;
pub mod stream;
pub mod tracker;
pub mod wire;

pub use call::{CallChange, CallEnd, CallRef, MediaEndpoint, Party, Role};
pub use config::VoiceConfig;
pub use sip::{Media, MediaDirection, Method, NameAddr, Sdp, SipMessage, StartLine};
