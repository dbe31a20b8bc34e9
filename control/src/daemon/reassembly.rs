//! IP fragments of signalling datagrams put back together (IPv4, and IPv6
//! Fragment headers), bounded: SIP with SDP over UDP often exceeds the MTU.
//!
//! A datagram is keyed by (source, destination, identification, protocol) and
//! waits at most the timeout (receive time) for its fragments. Overlapping
//! fragments (RFC 5722), a datagram over 65,535 bytes and a short non-last
//! fragment refuse the whole datagram; exact duplicates are ignored.

use std::collections::HashMap;
use std::net::IpAddr;

/// Most bytes of a reassembled IP payload.
pub const MAX_DATAGRAM: usize = 65_535;
/// Most fragments of one datagram.
const MAX_PARTS: usize = 64;

/// The datagram a fragment belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragKey {
    /// IP source.
    pub src: IpAddr,
    /// IP destination.
    pub dst: IpAddr,
    /// Identification (16 bits in IPv4, 32 in IPv6).
    pub id: u32,
    /// The protocol of the reassembled payload.
    pub proto: u8,
}

/// One fragment as the signalling path saw it.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    /// Receive time, ns since the Unix epoch.
    pub ts_ns: u64,
    /// Its datagram.
    pub key: FragKey,
    /// Offset of its first byte in the datagram's payload.
    pub offset: usize,
    /// More fragments follow (MF).
    pub more: bool,
    /// Its bytes.
    pub data: &'a [u8],
}

/// Why a fragment (and its datagram) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FragError {
    /// It overlaps another fragment of the datagram with different bytes, or
    /// disagrees with the datagram's end.
    #[error("overlapping fragment")]
    Overlap,
    /// The datagram would exceed [`MAX_DATAGRAM`] bytes.
    #[error("reassembled datagram too long")]
    Oversize,
    /// A non-last fragment whose length is not a multiple of 8.
    #[error("fragment length not a multiple of 8")]
    Misaligned,
    /// Too many datagrams, fragments or bytes waiting.
    #[error("reassembly full")]
    Full,
}

/// A datagram waiting for fragments.
struct Pending {
    /// Receive time of its first fragment.
    first_ns: u64,
    /// Fragments by offset (none overlapping).
    parts: Vec<(usize, Vec<u8>)>,
    /// Its length, once the last fragment was seen.
    len: Option<usize>,
    /// Bytes held.
    bytes: usize,
}

impl Pending {
    /// Adds `f`; `Ok(false)` for an exact duplicate.
    fn add(&mut self, f: &Fragment<'_>) -> Result<bool, FragError> {
        let end = f.offset + f.data.len();
        if !f.more {
            if self.len.is_some_and(|l| l != end)
                || self.parts.iter().any(|p| p.0 + p.1.len() > end)
            {
                return Err(FragError::Overlap);
            }
            self.len = Some(end);
        } else if self.len.is_some_and(|l| end > l) {
            return Err(FragError::Overlap);
        }
        let at = self.parts.partition_point(|p| p.0 < f.offset);
        if let Some(p) = self.parts.get(at).filter(|p| p.0 == f.offset) {
            if p.1 == f.data {
                return Ok(false);
            }
            return Err(FragError::Overlap);
        }
        let before = at.checked_sub(1).and_then(|i| self.parts.get(i));
        if before.is_some_and(|p| p.0 + p.1.len() > f.offset)
            || self.parts.get(at).is_some_and(|p| p.0 < end)
        {
            return Err(FragError::Overlap);
        }
        if self.parts.len() >= MAX_PARTS {
            return Err(FragError::Full);
        }
        self.parts.insert(at, (f.offset, f.data.to_vec()));
        self.bytes += f.data.len();
        Ok(true)
    }

    /// The payload, if every byte is here.
    fn whole(&self) -> Option<Vec<u8>> {
        if self.len? != self.bytes {
            return None;
        }
        Some(
            self.parts
                .iter()
                .flat_map(|p| p.1.iter().copied())
                .collect(),
        )
    }
}

/// Datagrams being reassembled, bounded in count, bytes and time.
pub struct Reassembler {
    pending: HashMap<FragKey, Pending>,
    max_datagrams: usize,
    max_bytes: usize,
    /// Bytes held over every datagram.
    bytes: usize,
    timeout_ns: u64,
    /// Datagrams dropped for their time, so far.
    expired: u64,
}

impl Reassembler {
    /// At most `max_datagrams` datagrams of `max_bytes` together waiting, each
    /// at most `timeout_ns` after its first fragment.
    #[must_use]
    pub fn new(max_datagrams: usize, max_bytes: usize, timeout_ns: u64) -> Self {
        Reassembler {
            pending: HashMap::new(),
            max_datagrams,
            max_bytes,
            bytes: 0,
            timeout_ns,
            expired: 0,
        }
    }

    /// Datagrams dropped for their time, so far.
    #[must_use]
    pub fn expired(&self) -> u64 {
        self.expired
    }

    /// Datagrams waiting and bytes held.
    #[must_use]
    pub fn usage(&self) -> (usize, usize) {
        (self.pending.len(), self.bytes)
    }

    /// Takes one fragment: the reassembled payload if it completed one.
    ///
    /// # Errors
    /// The fragment is refused, and with it every fragment of its datagram
    /// held so far (see [`FragError`]).
    pub fn push(&mut self, f: &Fragment<'_>) -> Result<Option<Vec<u8>>, FragError> {
        let refused = |s: &mut Self, e| {
            s.forget(&f.key);
            Err(e)
        };
        let end = f.offset + f.data.len();
        let limit = match f.key.src {
            // What an IPv4 header of 20 bytes leaves in a 65,535-byte packet.
            IpAddr::V4(_) => MAX_DATAGRAM - 20,
            IpAddr::V6(_) => MAX_DATAGRAM,
        };
        if end > limit {
            return refused(self, FragError::Oversize);
        }
        if f.more && (f.data.is_empty() || !f.data.len().is_multiple_of(8)) {
            return refused(self, FragError::Misaligned);
        }
        let full = |s: &Self| {
            s.bytes + f.data.len() > s.max_bytes
                || (!s.pending.contains_key(&f.key) && s.pending.len() >= s.max_datagrams)
        };
        if full(self) {
            // Room may be held by datagrams past their time.
            self.expire(f.ts_ns);
            if full(self) {
                return refused(self, FragError::Full);
            }
        }
        let p = self.pending.entry(f.key).or_insert_with(|| Pending {
            first_ns: f.ts_ns,
            parts: Vec::new(),
            len: None,
            bytes: 0,
        });
        match p.add(f) {
            Ok(true) => self.bytes += f.data.len(),
            Ok(false) => return Ok(None),
            Err(e) => return refused(self, e),
        }
        let whole = p.whole();
        if whole.is_some() {
            self.forget(&f.key);
        }
        Ok(whole)
    }

    /// Drops the datagrams whose first fragment came before `now_ns` less the
    /// timeout; returns how many.
    pub fn expire(&mut self, now_ns: u64) -> usize {
        let before = now_ns.saturating_sub(self.timeout_ns);
        let n = self.pending.len();
        let mut freed = 0;
        self.pending.retain(|_, p| {
            let keep = p.first_ns >= before;
            if !keep {
                freed += p.bytes;
            }
            keep
        });
        self.bytes -= freed;
        let expired = n - self.pending.len();
        self.expired += expired as u64;
        expired
    }

    fn forget(&mut self, key: &FragKey) {
        if let Some(p) = self.pending.remove(key) {
            self.bytes -= p.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key(id: u32) -> FragKey {
        FragKey {
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.2".parse().unwrap(),
            id,
            proto: 17,
        }
    }

    fn frag(id: u32, offset: usize, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment {
            ts_ns: 1,
            key: key(id),
            offset,
            more,
            data,
        }
    }

    #[test]
    fn reassembles_in_any_order_ignoring_duplicates() {
        let payload: Vec<u8> = (0..40u8).collect();
        let mut r = Reassembler::new(4, 1 << 20, 5);
        assert_eq!(r.push(&frag(1, 32, false, &payload[32..])), Ok(None));
        assert_eq!(r.push(&frag(1, 0, true, &payload[..16])), Ok(None));
        assert_eq!(r.push(&frag(1, 0, true, &payload[..16])), Ok(None));
        assert_eq!(r.usage(), (1, 24));
        assert_eq!(
            r.push(&frag(1, 16, true, &payload[16..32])),
            Ok(Some(payload))
        );
        assert_eq!(r.usage(), (0, 0));
    }

    #[test]
    fn overlap_oversize_and_misaligned_refuse_the_datagram() {
        let data = [7u8; 16];
        let mut r = Reassembler::new(4, 1 << 20, 5);
        r.push(&frag(1, 0, true, &data)).unwrap();
        assert_eq!(r.push(&frag(1, 8, true, &data)), Err(FragError::Overlap));
        assert_eq!(r.usage(), (0, 0));
        r.push(&frag(2, 0, true, &data)).unwrap();
        assert_eq!(
            r.push(&frag(2, 0, true, &[8u8; 16])),
            Err(FragError::Overlap)
        );
        r.push(&frag(3, 16, true, &data)).unwrap();
        assert_eq!(r.push(&frag(3, 0, false, &data)), Err(FragError::Overlap));
        assert_eq!(
            r.push(&frag(4, 65_512, false, &data)),
            Err(FragError::Oversize)
        );
        assert_eq!(
            r.push(&frag(5, 0, true, &data[..9])),
            Err(FragError::Misaligned)
        );
        assert_eq!(r.usage(), (0, 0));
    }

    #[test]
    fn bounds_hold_and_waiting_datagrams_expire() {
        let data = [0u8; 1024];
        let mut r = Reassembler::new(8, 4096, 5);
        for id in 0..100 {
            let _ = r.push(&frag(id, 0, true, &data));
            assert!(r.usage().0 <= 4 && r.usage().1 <= 4096);
        }
        assert_eq!(r.push(&frag(200, 0, true, &data)), Err(FragError::Full));
        assert_eq!(r.expire(6), 0);
        // A fragment past the others' time makes room for itself.
        let late = Fragment {
            ts_ns: 7,
            ..frag(201, 0, true, &data)
        };
        assert_eq!(r.push(&late), Ok(None));
        assert_eq!((r.usage(), r.expired()), ((1, 1024), 4));
        assert_eq!(r.expire(13), 1);
        assert_eq!(r.usage(), (0, 0));
        for i in 0..MAX_PARTS {
            r.push(&frag(300, 16 * i, true, &data[..8])).unwrap();
        }
        assert_eq!(
            r.push(&frag(300, 16 * MAX_PARTS, true, &data[..8])),
            Err(FragError::Full)
        );
    }
}
