//! The intercept vocabulary both planes speak: what a warrant names and allows,
//! where a worker keeps it, and what a packet matched. Kept apart from the
//! dataplane so the control plane's model, encoders and collector build and test
//! on a machine without libdpdk; `dataplane::targets` re-exports all of it.
#![forbid(unsafe_code)]

/// What a warrant lets the probe deliver for an intercept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Communication-identifying information only (pen register / trap and trace):
    /// headers up to the end of the transport header, never a payload byte.
    Headers,
    /// Identifying information plus full content.
    Content,
}

/// Direction of a matched packet relative to the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The target is the packet's source.
    FromTarget,
    /// The target is the packet's destination.
    ToTarget,
    /// Both source and destination are targets of the same intercept.
    Both,
}

/// Index of an intercept in every worker's intercept array. Chosen by the control
/// plane; a slot is reused only after its intercept was cleared on every worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(pub u16);

/// What a worker needs to know about an intercept to match and tag packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterceptSpec {
    /// Control-plane key of the intercept, unique for the life of the probe's
    /// database and never reused: records carry it, so a reused slot can never
    /// attribute a packet to the wrong warrant.
    pub key: u32,
    /// Headers or content.
    pub mode: Mode,
    /// First nanosecond (Unix epoch, UTC) a packet may be delivered.
    pub valid_from_ns: u64,
    /// First nanosecond at which packets are no longer delivered (exclusive end).
    pub valid_until_ns: u64,
}

impl InterceptSpec {
    /// An intercept whose window never closes (benchmarks, tests, replays).
    pub fn always_open(key: u32, mode: Mode) -> Self {
        InterceptSpec {
            key,
            mode,
            valid_from_ns: 0,
            valid_until_ns: u64::MAX,
        }
    }
}
