//! ERSPAN headers carried in GRE: type II (GRE protocol 0x88be, 8 bytes) and type III
//! (0x22eb, 12 bytes, plus an 8-byte platform-specific subheader when the O flag is
//! set). A mirrored Ethernet frame follows either. Type I has no header of its
//! own (0x88be in a GRE header without a sequence number): the walkers take it
//! as Ethernet right after GRE.

use super::bytes::{be16, be32, byte, set_be16, set_be32, set_byte, tail, Field};
use super::ParseError;

mod field {
    use super::Field;
    pub const VER_VLAN: Field = 0..2;
    pub const COS_SESSION: Field = 2..4;
    /// Type II: 12 reserved bits and the 20-bit port index; type III: timestamp.
    pub const INDEX_OR_TIMESTAMP: Field = 4..8;
    pub const III_SGT: Field = 8..10;
    pub const III_FLAGS: Field = 10..12;
}

/// Length of an ERSPAN type II header.
pub const II_HEADER_LEN: usize = field::INDEX_OR_TIMESTAMP.end;
/// Length of an ERSPAN type III header without the platform-specific subheader.
pub const III_HEADER_LEN: usize = field::III_FLAGS.end;
/// Length of the type III platform-specific subheader.
pub const III_PLATFORM_LEN: usize = 8;

/// Version field of type II.
const VERSION_II: u8 = 1;
/// Version field of type III.
const VERSION_III: u8 = 2;
/// Type III "optional platform subheader present" flag (last bit).
const FLAG_O: u8 = 0x01;

view!(
    /// A view of an ERSPAN type II or III header (type from the GRE protocol).
    ErspanView
);

impl<B: AsRef<[u8]>> ErspanView<B> {
    /// Ensures the version is 1 (type II) or 2 (type III) and the header fits.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] or [`ParseError::BadVersion`].
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let len = self.buf.as_ref().len();
        if len < II_HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        if !matches!(self.version(), VERSION_II | VERSION_III) {
            return Err(ParseError::BadVersion);
        }
        if len < III_HEADER_LEN && self.version() == VERSION_III || len < self.header_len() {
            return Err(ParseError::Truncated);
        }
        Ok(())
    }
    /// Version: 1 for type II, 2 for type III.
    #[inline]
    pub fn version(&self) -> u8 {
        byte(self.buf.as_ref(), 0) >> 4
    }
    /// Original VLAN (12 bits).
    pub fn vlan(&self) -> u16 {
        be16(self.buf.as_ref(), field::VER_VLAN.start) & 0x0fff
    }
    /// Session identifier (10 bits).
    pub fn session(&self) -> u16 {
        be16(self.buf.as_ref(), field::COS_SESSION.start) & 0x03ff
    }
    /// Type II port index (20 bits); for type III, the timestamp word.
    pub fn index_or_timestamp(&self) -> u32 {
        let w = be32(self.buf.as_ref(), field::INDEX_OR_TIMESTAMP.start);
        if self.version() == VERSION_II {
            w & 0xf_ffff
        } else {
            w
        }
    }
    /// Type III: whether the platform-specific subheader follows.
    pub fn has_platform_subheader(&self) -> bool {
        self.version() == VERSION_III
            && byte(self.buf.as_ref(), field::III_FLAGS.end - 1) & FLAG_O != 0
    }
    /// Header length by version and O flag.
    #[inline]
    pub fn header_len(&self) -> usize {
        match self.version() {
            VERSION_III if self.has_platform_subheader() => III_HEADER_LEN + III_PLATFORM_LEN,
            VERSION_III => III_HEADER_LEN,
            _ => II_HEADER_LEN,
        }
    }
}

impl<'a> ErspanView<&'a [u8]> {
    /// The mirrored Ethernet frame, borrowed from the frame.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        tail(self.buf, self.header_len())
    }
}

/// An ERSPAN header as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErspanRepr {
    /// Type III (else type II).
    pub type3: bool,
    /// Session identifier (10 bits).
    pub session: u16,
    /// Type III: carry the 8-byte platform-specific subheader.
    pub platform_subheader: bool,
}

impl ErspanRepr {
    /// Reads a checked view.
    pub fn parse<B: AsRef<[u8]>>(view: &ErspanView<B>) -> Self {
        Self {
            type3: view.version() == VERSION_III,
            session: view.session(),
            platform_subheader: view.has_platform_subheader(),
        }
    }
    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        match (self.type3, self.platform_subheader) {
            (false, _) => II_HEADER_LEN,
            (true, false) => III_HEADER_LEN,
            (true, true) => III_HEADER_LEN + III_PLATFORM_LEN,
        }
    }
    /// Writes the header (VLAN, index, timestamp and subheader zero) into `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let version = if self.type3 { VERSION_III } else { VERSION_II };
        set_be16(buf, field::VER_VLAN.start, u16::from(version) << 12);
        set_be16(buf, field::COS_SESSION.start, self.session & 0x03ff);
        set_be32(buf, field::INDEX_OR_TIMESTAMP.start, 0);
        if self.type3 {
            set_be16(buf, field::III_SGT.start, 0);
            set_be16(buf, field::III_FLAGS.start, 0);
            if self.platform_subheader {
                set_byte(buf, field::III_FLAGS.end - 1, FLAG_O);
                set_be32(buf, III_HEADER_LEN, 0);
                set_be32(buf, III_HEADER_LEN + 4, 0);
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // type II: version 1, VLAN 10, session 0x155, index 3; then 0x02
    static II: [u8; 9] = [0x10, 0x0a, 0x01, 0x55, 0x00, 0x00, 0x00, 0x03, 0x02];
    // type III: version 2, VLAN 0, session 7, timestamp 0x01020304, SGT 0, O flag;
    // platform subheader 8 zero bytes; then 0x02
    static III: [u8; 21] = [
        0x20, 0x00, 0x00, 0x07, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0,
        0, 0, 0x02,
    ];

    #[test]
    fn deconstruct_type2() {
        let v = ErspanView::new_checked(&II[..]).unwrap();
        assert_eq!(v.version(), 1);
        assert_eq!(v.vlan(), 10);
        assert_eq!(v.session(), 0x155);
        assert_eq!(v.index_or_timestamp(), 3);
        assert!(!v.has_platform_subheader());
        assert_eq!(v.header_len(), 8);
        assert_eq!(v.payload(), &[0x02]);
    }

    #[test]
    fn deconstruct_type3() {
        let v = ErspanView::new_checked(&III[..]).unwrap();
        assert_eq!(v.version(), 2);
        assert_eq!(v.session(), 7);
        assert_eq!(v.index_or_timestamp(), 0x0102_0304);
        assert!(v.has_platform_subheader());
        assert_eq!(v.header_len(), 20);
        assert_eq!(v.payload(), &[0x02]);
    }

    #[test]
    fn construct() {
        let r = ErspanRepr {
            type3: true,
            session: 7,
            platform_subheader: true,
        };
        let mut buf = [0xa5u8; 21];
        r.emit(&mut buf[..20]);
        assert_eq!(&buf[..4], &III[..4]);
        assert_eq!(&buf[8..20], &III[8..20]);
        assert_eq!(buf[20], 0xa5);
        assert_eq!(
            ErspanRepr::parse(&ErspanView::new_checked(&buf[..]).unwrap()),
            r
        );
        let r2 = ErspanRepr {
            type3: false,
            session: 0x155,
            platform_subheader: false,
        };
        let mut buf = [0xa5u8; 9];
        r2.emit(&mut buf[..8]);
        assert_eq!(&buf[..4], &[0x10, 0x00, 0x01, 0x55]);
        assert_eq!(
            ErspanRepr::parse(&ErspanView::new_checked(&buf[..]).unwrap()),
            r2
        );
    }

    #[test]
    fn rejects_truncated() {
        assert_eq!(
            ErspanView::new_checked(&II[..7]).err(),
            Some(ParseError::Truncated)
        );
        assert_eq!(
            ErspanView::new_checked(&III[..11]).err(),
            Some(ParseError::Truncated)
        );
        assert_eq!(
            ErspanView::new_checked(&III[..19]).err(),
            Some(ParseError::Truncated)
        );
    }

    #[test]
    fn rejects_unknown_version() {
        let mut b = II;
        b[0] = 0x30;
        assert_eq!(
            ErspanView::new_checked(&b[..]).err(),
            Some(ParseError::BadVersion)
        );
    }
}
