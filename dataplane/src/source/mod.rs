//! Packet sources behind one trait: a DPDK ethdev RX queue, or a pcap file (tests, no EAL).
#![forbid(unsafe_code)]

#[cfg(feature = "dpdk")]
pub mod dpdk;
mod pcap;

#[cfg(feature = "dpdk")]
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

/// The frames of one received burst, handed to the worker as a whole so it can
/// screen or dissect all of them, prefetch their table lines, then classify (l3fwd style).
pub trait RxBurst {
    /// Number of frames (at least one when a source hands the burst out).
    fn len(&self) -> usize;
    /// Whether the burst has no frame.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes of frame `i`; empty if `i >= len()`.
    fn frame(&self, i: usize) -> &[u8];
    /// Length of frame `i` on the wire: more than `frame(i).len()` when only a
    /// part of it was captured (capture snap length, a multi-segment mbuf).
    fn wire_len(&self, i: usize) -> u32 {
        u32::try_from(self.frame(i).len()).unwrap_or(u32::MAX)
    }
    /// The source's receive timestamp of frame `i` in ns since the Unix epoch, when
    /// it has one.
    fn timestamp(&self, i: usize) -> Option<u64>;
    /// Hints the CPU to load the start of frame `i`; out of range is a no-op.
    fn prefetch(&self, _i: usize) {}
    /// Puts the bytes of frame `i` that follow [`RxBurst::frame`]'s, in order
    /// (a multi-segment mbuf's later segments), into `out`, as many as fit;
    /// returns how many it put. Sources that hold each frame in one piece put
    /// none.
    fn later_segments<'s>(&'s self, _i: usize, _out: &mut [&'s [u8]]) -> usize {
        0
    }
}

/// Where a worker gets frames from. One burst per call, handed out by reference so a
/// source can keep its buffers (mbufs) and free or reuse them after the callback.
pub trait PacketSource {
    /// What [`PacketSource::poll_burst`] hands out.
    type Burst<'a>: RxBurst
    where
        Self: 'a;

    /// Receives one burst and, if it has frames, passes it to `f` once.
    fn poll_burst<F: FnOnce(&Self::Burst<'_>)>(&mut self, f: F) -> Poll;

    /// Passes each frame of one burst to `f`, with its receive timestamp: the
    /// frame-at-a-time view of [`PacketSource::poll_burst`].
    fn poll<F: FnMut(&[u8], Option<u64>)>(&mut self, mut f: F) -> Poll {
        self.poll_burst(|b| {
            for i in 0..b.len() {
                f(b.frame(i), b.timestamp(i));
            }
        })
    }
}

/// A burst of frames held in memory: what sources without their own buffers
/// (capture files, generated traffic) hand out. Reused across bursts: after the
/// first few, filling it allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct FrameBuf {
    data: Vec<u8>,
    /// Per frame: end offset in `data`, length on the wire and timestamp.
    frames: Vec<(usize, u32, Option<u64>)>,
}

impl FrameBuf {
    /// Forgets every frame, keeping the memory.
    pub fn clear(&mut self) {
        self.data.clear();
        self.frames.clear();
    }

    /// Appends a copy of `frame`, captured from `wire_len` bytes on the wire
    /// (at least `frame.len()`), with its timestamp.
    pub fn push(&mut self, frame: &[u8], wire_len: u32, ts: Option<u64>) {
        self.data.extend_from_slice(frame);
        let wire_len = wire_len.max(u32::try_from(frame.len()).unwrap_or(u32::MAX));
        self.frames.push((self.data.len(), wire_len, ts));
    }
}

impl RxBurst for FrameBuf {
    fn len(&self) -> usize {
        self.frames.len()
    }

    fn frame(&self, i: usize) -> &[u8] {
        let start = match i.checked_sub(1) {
            Some(p) => self.frames.get(p).map_or(0, |f| f.0),
            None => 0,
        };
        let end = self.frames.get(i).map_or(start, |f| f.0);
        self.data.get(start..end).unwrap_or(&[])
    }

    fn wire_len(&self, i: usize) -> u32 {
        self.frames.get(i).map_or(0, |f| f.1)
    }

    fn timestamp(&self, i: usize) -> Option<u64> {
        self.frames.get(i).and_then(|f| f.2)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn frame_buf_hands_back_each_frame_and_timestamp() {
        let mut b = FrameBuf::default();
        b.push(&[1, 2, 3], 3, Some(7));
        b.push(&[], 0, None);
        b.push(&[4], 1500, Some(9));
        assert_eq!(b.len(), 3);
        assert_eq!(b.frame(0), &[1, 2, 3]);
        assert_eq!(b.frame(1), &[] as &[u8]);
        assert_eq!(b.frame(2), &[4]);
        assert_eq!(b.frame(3), &[] as &[u8]);
        assert_eq!((b.wire_len(0), b.wire_len(2), b.wire_len(3)), (3, 1500, 0));
        assert_eq!(
            (b.timestamp(0), b.timestamp(1), b.timestamp(2)),
            (Some(7), None, Some(9))
        );
        b.clear();
        assert!(b.is_empty());
    }
}
