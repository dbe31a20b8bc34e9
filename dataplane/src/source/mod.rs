//! Packet sources behind one trait: a DPDK ethdev RX queue, or a pcap file (tests, no EAL).

pub mod dpdk;
mod pcap;

pub use dpdk::DpdkSource;
pub use pcap::{PcapSource, SourceError};

/// What one [`PacketSource::poll`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// This many frames (at least one) were passed to the callback.
    Frames(usize),
    /// Nothing arrived; poll again.
    Idle,
    /// The source is finished (end of a capture file); the worker stops.
    Exhausted,
}

/// Where a worker gets frames from. One burst per call, handed out by reference so a
/// source can keep its buffers (mbufs) and free or reuse them after the callback.
pub trait PacketSource {
    /// Passes each frame of one burst to `f`, with the source's receive timestamp in
    /// ns since the Unix epoch when it has one.
    fn poll<F: FnMut(&[u8], Option<u64>)>(&mut self, f: F) -> Poll;
}
