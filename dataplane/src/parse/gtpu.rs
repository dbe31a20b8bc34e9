//! GTP-U version 1 header (3GPP TS 29.281, UDP port 2152): flags, message type,
//! length, TEID, then - if any of E/S/PN is set - sequence number, N-PDU number and
//! next-extension type, then the extension-header chain. A G-PDU (type 0xff)
//! carries a user IP packet.

use super::bytes::{be16, be32, byte, set_be16, set_be32, set_byte, Field};
use super::ParseError;

pub(crate) mod field {
    use super::Field;
    pub const FLAGS: usize = 0;
    pub const MSG_TYPE: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const TEID: Field = 4..8;
    pub const SEQ: Field = 8..10;
    pub const NPDU: usize = 10;
    pub const NEXT_EXT: usize = 11;
}

/// Length of the mandatory GTP-U header.
pub const HEADER_LEN: usize = field::TEID.end;
/// Length of the mandatory header plus the optional sequence/N-PDU/next-type word.
pub const OPT_HEADER_LEN: usize = field::NEXT_EXT + 1;
/// The IANA UDP port of GTP-U.
pub const UDP_PORT: u16 = 2152;
/// Message type of a G-PDU (user data).
pub const MSG_G_PDU: u8 = 0xff;
/// Most extension headers followed before giving up with [`ParseError::TooDeep`].
pub const MAX_EXTENSIONS: usize = 8;

const FLAG_PT: u8 = 0x10;
const FLAG_E: u8 = 0x04;
const FLAG_S: u8 = 0x02;
const FLAG_PN: u8 = 0x01;
/// The flags byte's version and protocol-type bits ([`VERSION_PT_MASK`]) of
/// GTP version 1, protocol type GTP.
pub(crate) const V1_GTP: u8 = 1 << 5 | FLAG_PT;
/// The version (3 bits) and protocol-type bits of the flags byte.
pub(crate) const VERSION_PT_MASK: u8 = 0xe0 | FLAG_PT;
/// The flags that add the optional sequence/N-PDU/next-type word.
pub(crate) const OPTIONAL_WORD: u8 = FLAG_E | FLAG_S | FLAG_PN;
/// PDU session container, the usual 5G extension header.
pub const EXT_PDU_SESSION: u8 = 0x85;

view!(
    /// A view of a GTP-U message.
    GtpuView
);

impl<B: AsRef<[u8]>> GtpuView<B> {
    /// Ensures version 1 with PT = 1 (not GTP'), a length inside the buffer, and an
    /// extension chain that ends inside the message.
    ///
    /// # Errors
    /// [`ParseError::Truncated`], [`ParseError::BadVersion`],
    /// [`ParseError::BadLength`] or [`ParseError::TooDeep`].
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        self.header_len().map(|_| ())
    }
    /// Whether this is GTP version 1 with protocol type GTP (not GTP').
    #[inline]
    pub fn is_v1_gtp(&self) -> bool {
        let f = byte(self.buf.as_ref(), field::FLAGS);
        f >> 5 == 1 && f & FLAG_PT != 0
    }
    /// Whether the sequence/N-PDU/next-type word is present.
    #[inline]
    pub fn has_optional_word(&self) -> bool {
        byte(self.buf.as_ref(), field::FLAGS) & OPTIONAL_WORD != 0
    }
    /// Message type (0xff: G-PDU).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        byte(self.buf.as_ref(), field::MSG_TYPE)
    }
    /// Bytes after the mandatory 8-byte header.
    #[inline]
    pub fn length(&self) -> u16 {
        be16(self.buf.as_ref(), field::LENGTH.start)
    }
    /// Tunnel endpoint identifier.
    pub fn teid(&self) -> u32 {
        be32(self.buf.as_ref(), field::TEID.start)
    }
    /// Sequence number, if the S flag is set.
    pub fn seq(&self) -> Option<u16> {
        (byte(self.buf.as_ref(), field::FLAGS) & FLAG_S != 0)
            .then(|| be16(self.buf.as_ref(), field::SEQ.start))
    }
    /// End of the message: 8 + length.
    #[inline]
    pub fn end(&self) -> usize {
        HEADER_LEN + usize::from(self.length())
    }
    /// Header length including the optional word and every extension header.
    ///
    /// # Errors
    /// As [`check_len`](Self::check_len).
    #[inline]
    pub fn header_len(&self) -> Result<usize, ParseError> {
        let buf = self.buf.as_ref();
        // The message's end is the fast path's one test of it: made before the
        // extension chain is walked (5 instructions a GTP-U frame), after the
        // tests `headers_end` starts with, whose errors come first.
        if buf.len() >= HEADER_LEN && self.is_v1_gtp() && self.end() > buf.len() {
            return Err(ParseError::BadLength);
        }
        self.headers_end()
    }
    /// [`Self::header_len`] but for the message's end: the headers are whole
    /// and inside the message, however much of it the buffer holds (a capture
    /// or a mirror's copy cut short).
    ///
    /// # Errors
    /// [`ParseError::Truncated`] for headers past the buffer,
    /// [`ParseError::BadVersion`], [`ParseError::BadLength`] for headers past
    /// the message, [`ParseError::TooDeep`] past [`MAX_EXTENSIONS`].
    #[inline]
    pub fn headers_end(&self) -> Result<usize, ParseError> {
        let buf = self.buf.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        if !self.is_v1_gtp() {
            return Err(ParseError::BadVersion);
        }
        if !self.has_optional_word() {
            return Ok(HEADER_LEN);
        }
        let end = self.end();
        let within = |at: usize| {
            if at > end {
                Err(ParseError::BadLength)
            } else if at > buf.len() {
                Err(ParseError::Truncated)
            } else {
                Ok(())
            }
        };
        let mut at = OPT_HEADER_LEN;
        within(at)?;
        let mut next = byte(buf, field::NEXT_EXT);
        let mut count = 0;
        while next != 0 {
            count += 1;
            if count > MAX_EXTENSIONS {
                return Err(ParseError::TooDeep);
            }
            let units = usize::from(*buf.get(at).ok_or(ParseError::Truncated)?);
            if units == 0 {
                return Err(ParseError::BadLength);
            }
            at += units * 4;
            within(at)?;
            next = byte(buf, at - 1);
        }
        Ok(at)
    }
}

impl<'a> GtpuView<&'a [u8]> {
    /// The T-PDU after all headers, up to the GTP length, borrowed from the frame;
    /// empty if the header is malformed.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        match self.header_len() {
            Ok(h) => self.buf.get(h..self.end()).unwrap_or(&[]),
            Err(_) => &[],
        }
    }
}

/// A GTP-U header as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GtpuRepr {
    /// Message type.
    pub msg_type: u8,
    /// Tunnel endpoint identifier.
    pub teid: u32,
    /// Optional sequence number (sets S).
    pub seq: Option<u16>,
    /// Number of 4-byte PDU-session-container extension headers (sets E).
    pub extensions: u8,
    /// Bytes of T-PDU after the headers.
    pub payload_len: usize,
}

impl GtpuRepr {
    /// Reads a checked view.
    ///
    /// # Errors
    /// As [`GtpuView::check_len`].
    pub fn parse<B: AsRef<[u8]>>(view: &GtpuView<B>) -> Result<Self, ParseError> {
        let h = view.header_len()?;
        let ext_bytes = h.saturating_sub(OPT_HEADER_LEN);
        Ok(Self {
            msg_type: view.msg_type(),
            teid: view.teid(),
            seq: view.seq(),
            extensions: u8::try_from(ext_bytes / 4).unwrap_or(u8::MAX),
            payload_len: view.end().saturating_sub(h),
        })
    }
    /// Bytes [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        if self.seq.is_some() || self.extensions > 0 {
            OPT_HEADER_LEN + 4 * self.extensions as usize
        } else {
            HEADER_LEN
        }
    }
    /// Writes the header into `buf` (extensions: PDU session container, QFI 9).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut flags = 0x20 | FLAG_PT;
        if self.seq.is_some() {
            flags |= FLAG_S;
        }
        if self.extensions > 0 {
            flags |= FLAG_E;
        }
        set_byte(buf, field::FLAGS, flags);
        set_byte(buf, field::MSG_TYPE, self.msg_type);
        let len = self.buffer_len() - HEADER_LEN + self.payload_len;
        set_be16(
            buf,
            field::LENGTH.start,
            u16::try_from(len).unwrap_or(u16::MAX),
        );
        set_be32(buf, field::TEID.start, self.teid);
        if self.buffer_len() > HEADER_LEN {
            set_be16(buf, field::SEQ.start, self.seq.unwrap_or(0));
            set_byte(buf, field::NPDU, 0);
            let first = if self.extensions > 0 {
                EXT_PDU_SESSION
            } else {
                0
            };
            set_byte(buf, field::NEXT_EXT, first);
            for i in 0..usize::from(self.extensions) {
                let at = OPT_HEADER_LEN + 4 * i;
                let next = if i + 1 < usize::from(self.extensions) {
                    EXT_PDU_SESSION
                } else {
                    0
                };
                // length 1 (4 bytes), PDU type 1 (UL), QFI 9, next type
                set_be32(buf, at, 0x0110_0900 | u32::from(next));
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // v1, PT, E and S; G-PDU; length 10; TEID 0x11223344; seq 0x0102, N-PDU 0,
    // next ext 0x85; ext: length 1, 10 09, next 0; then T-PDU 45 00
    static MSG: [u8; 18] = [
        0x36, 0xff, 0x00, 0x0a, 0x11, 0x22, 0x33, 0x44, 0x01, 0x02, 0x00, 0x85, 0x01, 0x10, 0x09,
        0x00, 0x45, 0x00,
    ];

    const fn repr() -> GtpuRepr {
        GtpuRepr {
            msg_type: MSG_G_PDU,
            teid: 0x1122_3344,
            seq: Some(0x0102),
            extensions: 1,
            payload_len: 2,
        }
    }

    #[test]
    fn deconstruct() {
        let v = GtpuView::new_checked(&MSG[..]).unwrap();
        assert!(v.is_v1_gtp());
        assert!(v.has_optional_word());
        assert_eq!(v.msg_type(), MSG_G_PDU);
        assert_eq!(v.length(), 10);
        assert_eq!(v.teid(), 0x1122_3344);
        assert_eq!(v.seq(), Some(0x0102));
        assert_eq!(v.header_len(), Ok(16));
        assert_eq!(v.payload(), &[0x45, 0x00]);
        assert_eq!(GtpuRepr::parse(&v), Ok(repr()));
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 17];
        repr().emit(&mut buf[..16]);
        assert_eq!(&buf[..16], &MSG[..16]);
        assert_eq!(buf[16], 0xa5);
    }

    #[test]
    fn rejects_truncated() {
        assert_eq!(
            GtpuView::new_checked(&MSG[..7]).err(),
            Some(ParseError::Truncated)
        );
    }

    #[test]
    fn rejects_length_past_buffer() {
        assert_eq!(
            GtpuView::new_checked(&MSG[..17]).err(),
            Some(ParseError::BadLength)
        );
        // The headers alone are whole: a message cut short.
        assert_eq!(GtpuView::new_unchecked(&MSG[..16]).headers_end(), Ok(16));
        assert_eq!(
            GtpuView::new_unchecked(&MSG[..15]).headers_end(),
            Err(ParseError::Truncated)
        );
    }

    #[test]
    fn rejects_zero_length_extension() {
        let mut b = MSG;
        b[12] = 0;
        assert_eq!(
            GtpuView::new_checked(&b[..]).err(),
            Some(ParseError::BadLength)
        );
    }

    #[test]
    fn rejects_extension_past_length() {
        let mut b = MSG;
        b[12] = 3;
        assert_eq!(
            GtpuView::new_checked(&b[..]).err(),
            Some(ParseError::BadLength)
        );
    }

    #[test]
    fn rejects_gtp_prime_and_v2() {
        let mut b = MSG;
        b[0] = 0x26; // PT = 0
        assert_eq!(
            GtpuView::new_checked(&b[..]).err(),
            Some(ParseError::BadVersion)
        );
        b[0] = 0x56; // version 2
        assert_eq!(
            GtpuView::new_checked(&b[..]).err(),
            Some(ParseError::BadVersion)
        );
    }

    #[test]
    fn stops_extension_loops() {
        // optional word then 9 one-word extensions each pointing to another
        let mut b = vec![0x34, 0xff, 0x00, 0x28, 0, 0, 0, 1, 0, 0, 0, 0x85];
        for _ in 0..9 {
            b.extend_from_slice(&[0x01, 0x00, 0x00, 0x85]);
        }
        assert_eq!(
            GtpuView::new_checked(&b[..]).err(),
            Some(ParseError::TooDeep)
        );
    }
}
