//! Subscriber sessions: the AAA and address-assignment signalling the mirror
//! carries (RADIUS accounting, DHCPv4, DHCPv6) turned into bindings of
//! subscriber identities to addresses, which decide what an identity warrant
//! intercepts.
//!
//! Data flows one way: the dataplane's signalling path hands over
//! [`signal::SignalPacket`]s; `wire` authenticates and parses them into
//! [`signal::Signal`]s; `tracker` keeps the current [`binding::Binding`]s and
//! reports their changes; the daemon installs and removes the bound addresses
//! of targeted subscribers and reports the sessions as IRI.

pub mod binding;
pub mod config;
pub mod signal;
pub mod tracker;
pub mod wire;

pub use binding::{Binding, BindingChange, BindingId, EndReason, Nas, NasRestart};
pub use config::{NasConfig, SessionsConfig};
pub use signal::{Protocol, Refusal, Signal, SignalEvent, SignalPacket, Transport};
