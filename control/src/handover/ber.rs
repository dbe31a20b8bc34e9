//! Minimal, exact BER (X.690) writer and reader for the handover PDUs.
//!
//! Writer: definite, minimal lengths. A constructed value is opened with room for
//! the length octets the caller expects ([`Writer::open`] takes a size hint) and
//! patched on [`Writer::close`]; content is moved only if the hint was wrong, so a
//! PDU is written in one pass in the steady state, straight into the caller's Vec.
//!
//! Reader: a cursor over a slice that never indexes; every read returns a
//! `Result`. It rejects indefinite lengths, non-minimal lengths, tags and integers,
//! and trailing bytes ([`Reader::finish`]).

/// Tag class (bits 8-7 of the identifier octet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Universal types.
    Universal,
    /// Application-wide tags.
    Application,
    /// Context-specific tags (`[n]`).
    Context,
    /// Private tags.
    Private,
}

/// A BER tag: class, primitive/constructed, number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    /// Class.
    pub class: Class,
    /// Constructed (true) or primitive.
    pub constructed: bool,
    /// Tag number.
    pub number: u32,
}

impl Tag {
    /// Context-specific primitive `[n]` (an IMPLICIT-tagged primitive type).
    pub const fn ctx(number: u32) -> Tag {
        Tag {
            class: Class::Context,
            constructed: false,
            number,
        }
    }
    /// Context-specific constructed `[n]` (SEQUENCE, CHOICE wrapper, ...).
    pub const fn ctx_cons(number: u32) -> Tag {
        Tag {
            class: Class::Context,
            constructed: true,
            number,
        }
    }
    /// Universal primitive type `number`.
    pub const fn universal(number: u32) -> Tag {
        Tag {
            class: Class::Universal,
            constructed: false,
            number,
        }
    }
    /// Universal SEQUENCE / SEQUENCE OF.
    pub const SEQUENCE: Tag = Tag {
        class: Class::Universal,
        constructed: true,
        number: 16,
    };
    /// Universal INTEGER.
    pub const INTEGER: Tag = Tag::universal(2);
    /// Universal OCTET STRING.
    pub const OCTET_STRING: Tag = Tag::universal(4);
    /// Universal NULL.
    pub const NULL: Tag = Tag::universal(5);
    /// Universal OBJECT IDENTIFIER.
    pub const OID: Tag = Tag::universal(6);
    /// Universal ENUMERATED.
    pub const ENUMERATED: Tag = Tag::universal(10);
    /// Universal RELATIVE-OID.
    pub const RELATIVE_OID: Tag = Tag::universal(13);
    /// Universal PrintableString.
    pub const PRINTABLE_STRING: Tag = Tag::universal(19);
    /// Universal GeneralizedTime.
    pub const GENERALIZED_TIME: Tag = Tag::universal(24);

    fn first_octet(self) -> u8 {
        let class = match self.class {
            Class::Universal => 0x00,
            Class::Application => 0x40,
            Class::Context => 0x80,
            Class::Private => 0xc0,
        };
        class | if self.constructed { 0x20 } else { 0 }
    }
}

/// Invalid or unsupported BER.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BerError {
    /// Fewer bytes than the encoding announces.
    #[error("truncated")]
    Truncated,
    /// Indefinite length (not used by these PDUs).
    #[error("indefinite length")]
    IndefiniteLength,
    /// A length, tag or integer encoded in more octets than needed.
    #[error("non-minimal encoding")]
    NonMinimal,
    /// A length or value too large for this decoder.
    #[error("value too large")]
    TooLarge,
    /// A different tag than the one required here.
    #[error("unexpected tag {0:?}")]
    UnexpectedTag(Tag),
    /// Bytes left after the last element.
    #[error("trailing bytes")]
    TrailingBytes,
    /// Contents not valid for the type.
    #[error("invalid {0}")]
    InvalidValue(&'static str),
}

/// Number of octets of a definite length field for `len`.
pub const fn length_octets(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS as usize / 8) - (len.leading_zeros() as usize / 8)
    }
}

/// A constructed value opened by [`Writer::open`] and not yet closed.
#[must_use = "an opened value must be closed"]
#[derive(Debug)]
pub struct Open {
    len_at: usize,
    reserved: usize,
}

/// Appends BER to a caller-owned buffer.
#[derive(Debug)]
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    /// Writes at the end of `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Writer { out }
    }

    fn tag(&mut self, tag: Tag) {
        let first = tag.first_octet();
        if tag.number < 31 {
            self.out.push(first | tag.number as u8);
        } else {
            self.out.push(first | 0x1f);
            self.base128(tag.number);
        }
    }

    fn base128(&mut self, v: u32) {
        let groups = (32 - v.leading_zeros()).div_ceil(7).max(1);
        for i in (0..groups).rev() {
            let more = if i == 0 { 0 } else { 0x80 };
            self.out.push(((v >> (7 * i)) & 0x7f) as u8 | more);
        }
    }

    fn length(&mut self, len: usize) {
        write_length(self.out, len);
    }

    /// Writes a primitive TLV with `content`.
    pub fn primitive(&mut self, tag: Tag, content: &[u8]) {
        self.tag(tag);
        self.length(content.len());
        self.out.extend_from_slice(content);
    }

    /// Appends TLVs encoded before (by another `Writer`).
    pub fn encoded(&mut self, tlvs: &[u8]) {
        self.out.extend_from_slice(tlvs);
    }

    /// Opens a constructed value; `size_hint` is the expected content length
    /// (exactness only saves a move of the content on [`Writer::close`]).
    pub fn open(&mut self, tag: Tag, size_hint: usize) -> Open {
        self.tag(tag);
        let len_at = self.out.len();
        let reserved = length_octets(size_hint);
        self.out.resize(len_at + reserved, 0);
        Open { len_at, reserved }
    }

    /// Closes `open`, writing its minimal length.
    pub fn close(&mut self, open: Open) {
        let start = open.len_at + open.reserved;
        let len = self.out.len() - start;
        let need = length_octets(len);
        if need != open.reserved {
            // Wrong hint: move the content so the length fits exactly.
            let end = self.out.len();
            if need > open.reserved {
                self.out.resize(end + need - open.reserved, 0);
                self.out.copy_within(start..end, open.len_at + need);
            } else {
                self.out.copy_within(start..end, open.len_at + need);
                self.out.truncate(end - (open.reserved - need));
            }
        }
        let mut tmp = [0u8; 9];
        let n = encode_length(len, &mut tmp);
        self.out[open.len_at..open.len_at + n].copy_from_slice(&tmp[..n]);
    }

    /// INTEGER (or IMPLICIT-tagged INTEGER) from an unsigned value.
    pub fn uint(&mut self, tag: Tag, v: u64) {
        let bytes = v.to_be_bytes();
        // Minimal two's complement: drop leading zero octets, keep one if the
        // next has its top bit set.
        let skip = (v.leading_zeros() / 8) as usize;
        let skip = if skip == 8 { 7 } else { skip };
        let body = &bytes[skip..];
        self.tag(tag);
        if body[0] & 0x80 != 0 {
            self.length(body.len() + 1);
            self.out.push(0);
        } else {
            self.length(body.len());
        }
        self.out.extend_from_slice(body);
    }

    /// INTEGER from a signed value.
    pub fn int(&mut self, tag: Tag, v: i64) {
        let bytes = v.to_be_bytes();
        let mut skip = 0;
        while skip < 7 {
            let (a, b) = (bytes[skip], bytes[skip + 1]);
            if (a == 0 && b & 0x80 == 0) || (a == 0xff && b & 0x80 != 0) {
                skip += 1;
            } else {
                break;
            }
        }
        self.primitive(tag, &bytes[skip..]);
    }

    /// ENUMERATED (same contents as INTEGER).
    pub fn enumerated(&mut self, tag: Tag, v: u32) {
        self.uint(tag, u64::from(v));
    }

    /// NULL.
    pub fn null(&mut self, tag: Tag) {
        self.primitive(tag, &[]);
    }

    /// OBJECT IDENTIFIER from its arcs (at least two; first 0..=2, second < 40
    /// unless the first is 2). Returns false (writing nothing) if invalid.
    pub fn oid(&mut self, tag: Tag, arcs: &[u32]) -> bool {
        let [a, b, rest @ ..] = arcs else {
            return false;
        };
        if *a > 2 || (*a < 2 && *b >= 40) || u32::MAX - a * 40 < *b {
            return false;
        }
        self.tag(tag);
        let first = a * 40 + b;
        let len = base128_len(first) + rest.iter().map(|&x| base128_len(x)).sum::<usize>();
        self.length(len);
        self.base128(first);
        for &x in rest {
            self.base128(x);
        }
        true
    }

    /// RELATIVE-OID from its arcs.
    pub fn relative_oid(&mut self, tag: Tag, arcs: &[u32]) {
        self.tag(tag);
        self.length(arcs.iter().map(|&x| base128_len(x)).sum());
        for &x in arcs {
            self.base128(x);
        }
    }

    /// GeneralizedTime `YYYYMMDDhhmmss.fffZ` (UTC, millisecond precision) from
    /// Unix ns, in the canonical (DER/CER) form: trailing zeros of the fraction
    /// removed, no fraction at all on a whole second — so any re-encoder
    /// reproduces it byte for byte.
    pub fn generalized_time(&mut self, tag: Tag, unix_ns: u64) {
        let mut buf = [0u8; 19];
        let n = format_generalized_time(unix_ns, &mut buf);
        self.primitive(tag, &buf[..n]);
    }
}

fn base128_len(v: u32) -> usize {
    (32 - v.leading_zeros()).div_ceil(7).max(1) as usize
}

fn encode_length(len: usize, out: &mut [u8; 9]) -> usize {
    if len < 0x80 {
        out[0] = len as u8;
        return 1;
    }
    let n = length_octets(len) - 1;
    out[0] = 0x80 | n as u8;
    let be = len.to_be_bytes();
    out[1..=n].copy_from_slice(&be[be.len() - n..]);
    n + 1
}

fn write_length(out: &mut Vec<u8>, len: usize) {
    let mut tmp = [0u8; 9];
    let n = encode_length(len, &mut tmp);
    out.extend_from_slice(&tmp[..n]);
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn format_generalized_time(unix_ns: u64, buf: &mut [u8; 19]) -> usize {
    let secs = unix_ns / 1_000_000_000;
    let ms = (unix_ns / 1_000_000) % 1000;
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let sod = secs % 86_400;
    let fields: [(u64, usize); 7] = [
        (y as u64, 4),
        (u64::from(mo), 2),
        (u64::from(d), 2),
        (sod / 3600, 2),
        (sod / 60 % 60, 2),
        (sod % 60, 2),
        (ms, 3),
    ];
    let mut at = 0;
    for (i, (v, width)) in fields.into_iter().enumerate() {
        if i == 6 {
            buf[at] = b'.';
            at += 1;
        }
        for k in 0..width {
            buf[at + width - 1 - k] = b'0' + (v / 10u64.pow(k as u32) % 10) as u8;
        }
        at += width;
    }
    // Canonical form: drop trailing fraction zeros, and the '.' if none is left.
    while at > 15 && buf[at - 1] == b'0' {
        at -= 1;
    }
    if buf[at - 1] == b'.' {
        at -= 1;
    }
    buf[at] = b'Z';
    at + 1
}

/// Parses GeneralizedTime `YYYYMMDDhhmmss[.f{1,9}]Z` to Unix nanoseconds.
///
/// # Errors
/// [`BerError::InvalidValue`] for any other form.
pub fn parse_generalized_time(s: &[u8]) -> Result<u64, BerError> {
    const BAD: BerError = BerError::InvalidValue("GeneralizedTime");
    let digits = |r: std::ops::Range<usize>| -> Result<u64, BerError> {
        let part = s.get(r).ok_or(BAD)?;
        part.iter().try_fold(0u64, |acc, &c| {
            if c.is_ascii_digit() {
                Ok(acc * 10 + u64::from(c - b'0'))
            } else {
                Err(BAD)
            }
        })
    };
    let (y, mo, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (h, mi, se) = (digits(8..10)?, digits(10..12)?, digits(12..14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 || y < 1970
    {
        return Err(BAD);
    }
    let mut frac_ns = 0u64;
    let rest = s.get(14..).ok_or(BAD)?;
    let rest = match rest.split_first() {
        Some((b'.', tail)) => {
            let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 || n > 9 {
                return Err(BAD);
            }
            frac_ns = digits(15..15 + n)? * 10u64.pow(9 - n as u32);
            tail.get(n..).ok_or(BAD)?
        }
        _ => rest,
    };
    if rest != b"Z" {
        return Err(BAD);
    }
    let days = days_from_civil(y as i64, mo as u32, d as u32);
    let secs = u64::try_from(days).map_err(|_| BAD)? * 86_400 + h * 3600 + mi * 60 + se;
    secs.checked_mul(1_000_000_000)
        .and_then(|v| v.checked_add(frac_ns))
        .ok_or(BAD)
}

/// Cursor over BER bytes.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// True if nothing is left.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Fails unless everything was read.
    ///
    /// # Errors
    /// [`BerError::TrailingBytes`].
    pub fn finish(&self) -> Result<(), BerError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(BerError::TrailingBytes)
        }
    }

    /// Takes `n` bytes.
    ///
    /// # Errors
    /// [`BerError::Truncated`].
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], BerError> {
        if n > self.buf.len() {
            return Err(BerError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, BerError> {
        let (&b, tail) = self.buf.split_first().ok_or(BerError::Truncated)?;
        self.buf = tail;
        Ok(b)
    }

    fn read_tag(&mut self) -> Result<Tag, BerError> {
        let b = self.byte()?;
        let class = match b >> 6 {
            0 => Class::Universal,
            1 => Class::Application,
            2 => Class::Context,
            _ => Class::Private,
        };
        let constructed = b & 0x20 != 0;
        let mut number = u32::from(b & 0x1f);
        if number == 0x1f {
            number = 0;
            let mut first = true;
            loop {
                let c = self.byte()?;
                if first && c == 0x80 {
                    return Err(BerError::NonMinimal);
                }
                first = false;
                if number > (u32::MAX >> 7) {
                    return Err(BerError::TooLarge);
                }
                number = number << 7 | u32::from(c & 0x7f);
                if c & 0x80 == 0 {
                    break;
                }
            }
            if number < 31 {
                return Err(BerError::NonMinimal);
            }
        }
        Ok(Tag {
            class,
            constructed,
            number,
        })
    }

    fn read_length(&mut self) -> Result<usize, BerError> {
        let b = self.byte()?;
        if b < 0x80 {
            return Ok(usize::from(b));
        }
        let n = usize::from(b & 0x7f);
        if n == 0 {
            return Err(BerError::IndefiniteLength);
        }
        if n > 4 {
            return Err(BerError::TooLarge);
        }
        let bytes = self.take(n)?;
        if bytes.first() == Some(&0) {
            return Err(BerError::NonMinimal);
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, &x| acc << 8 | usize::from(x));
        if len < 0x80 {
            return Err(BerError::NonMinimal);
        }
        Ok(len)
    }

    /// Reads one TLV: its tag and contents.
    ///
    /// # Errors
    /// Malformed or truncated TLV.
    pub fn tlv(&mut self) -> Result<(Tag, &'a [u8]), BerError> {
        let tag = self.read_tag()?;
        let len = self.read_length()?;
        Ok((tag, self.take(len)?))
    }

    /// The next tag, without consuming it (None at the end).
    pub fn peek_tag(&self) -> Option<Tag> {
        self.clone().read_tag().ok()
    }

    /// Reads a TLV that must have `tag`; returns its contents.
    ///
    /// # Errors
    /// Malformed TLV or [`BerError::UnexpectedTag`].
    pub fn expect(&mut self, tag: Tag) -> Result<&'a [u8], BerError> {
        let (t, v) = self.tlv()?;
        if t != tag {
            return Err(BerError::UnexpectedTag(t));
        }
        Ok(v)
    }

    /// Reads a TLV with `tag` if it is next (OPTIONAL components).
    ///
    /// # Errors
    /// Malformed TLV.
    pub fn optional(&mut self, tag: Tag) -> Result<Option<&'a [u8]>, BerError> {
        if self.peek_tag() == Some(tag) {
            Ok(Some(self.expect(tag)?))
        } else {
            Ok(None)
        }
    }

    /// Reads a constructed value with `tag` as a sub-reader.
    ///
    /// # Errors
    /// See [`Reader::expect`].
    pub fn nested(&mut self, tag: Tag) -> Result<Reader<'a>, BerError> {
        Ok(Reader::new(self.expect(tag)?))
    }

    /// Skips the rest (unknown extension additions after the known components).
    pub fn skip_rest(&mut self) -> Result<(), BerError> {
        while !self.is_empty() {
            self.tlv()?;
        }
        Ok(())
    }
}

/// Decodes INTEGER contents as a non-negative u64.
///
/// # Errors
/// Empty, non-minimal, negative or larger than u64.
pub fn decode_uint(v: &[u8]) -> Result<u64, BerError> {
    match v {
        [] => Err(BerError::InvalidValue("INTEGER")),
        [0, next, ..] if next & 0x80 == 0 => Err(BerError::NonMinimal),
        [0xff, next, ..] if next & 0x80 != 0 => Err(BerError::NonMinimal),
        [first, ..] if first & 0x80 != 0 => Err(BerError::InvalidValue("negative INTEGER")),
        [0, rest @ ..] if rest.len() == 8 => Ok(rest.iter().fold(0, |a, &x| a << 8 | u64::from(x))),
        _ if v.len() > 8 => Err(BerError::TooLarge),
        _ => Ok(v.iter().fold(0, |a, &x| a << 8 | u64::from(x))),
    }
}

/// Decodes INTEGER contents as an i64.
///
/// # Errors
/// Empty, non-minimal or out of range.
pub fn decode_int(v: &[u8]) -> Result<i64, BerError> {
    match v {
        [] => Err(BerError::InvalidValue("INTEGER")),
        [0, next, ..] if next & 0x80 == 0 => Err(BerError::NonMinimal),
        [0xff, next, ..] if next & 0x80 != 0 => Err(BerError::NonMinimal),
        _ if v.len() > 8 => Err(BerError::TooLarge),
        [first, ..] => {
            let init: i64 = if first & 0x80 != 0 { -1 } else { 0 };
            Ok(v.iter().fold(init, |a, &x| a << 8 | i64::from(x)))
        }
    }
}

/// Decodes INTEGER/ENUMERATED contents that must fit a u32.
///
/// # Errors
/// See [`decode_uint`]; [`BerError::TooLarge`] above `u32::MAX`.
pub fn decode_u32(v: &[u8]) -> Result<u32, BerError> {
    u32::try_from(decode_uint(v)?).map_err(|_| BerError::TooLarge)
}

fn for_each_arc(v: &[u8], mut f: impl FnMut(u32)) -> Result<(), BerError> {
    let mut acc: u32 = 0;
    let mut start = true;
    for &c in v {
        if start && c == 0x80 {
            return Err(BerError::NonMinimal);
        }
        if acc > (u32::MAX >> 7) {
            return Err(BerError::TooLarge);
        }
        acc = acc << 7 | u32::from(c & 0x7f);
        start = c & 0x80 == 0;
        if start {
            f(acc);
            acc = 0;
        }
    }
    if !start {
        return Err(BerError::Truncated);
    }
    Ok(())
}

fn decode_arcs(v: &[u8], out: &mut Vec<u32>) -> Result<(), BerError> {
    for_each_arc(v, |a| out.push(a))
}

/// Whether valid (RELATIVE-)OID contents `v` start with the contents octets
/// `prefix`, without decoding into a vector (the decoder's per-PDU checks).
///
/// # Errors
/// Empty, truncated or non-minimal arcs.
pub fn oid_starts_with(v: &[u8], prefix: &[u8]) -> Result<bool, BerError> {
    if v.is_empty() {
        return Err(BerError::InvalidValue("OBJECT IDENTIFIER"));
    }
    for_each_arc(v, |_| {})?;
    Ok(v.starts_with(prefix))
}

/// Decodes RELATIVE-OID contents to arcs.
///
/// # Errors
/// Empty, truncated or non-minimal arcs.
pub fn decode_relative_oid(v: &[u8]) -> Result<Vec<u32>, BerError> {
    if v.is_empty() {
        return Err(BerError::InvalidValue("RELATIVE-OID"));
    }
    let mut arcs = Vec::new();
    decode_arcs(v, &mut arcs)?;
    Ok(arcs)
}

/// Decodes OBJECT IDENTIFIER contents to arcs.
///
/// # Errors
/// Empty, truncated or non-minimal arcs.
pub fn decode_oid(v: &[u8]) -> Result<Vec<u32>, BerError> {
    let rel = decode_relative_oid(v)?;
    let (&first, rest) = rel
        .split_first()
        .ok_or(BerError::InvalidValue("OBJECT IDENTIFIER"))?;
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut arcs = Vec::with_capacity(rel.len() + 1);
    arcs.extend([a, b]);
    arcs.extend_from_slice(rest);
    Ok(arcs)
}

/// Checks PrintableString contents (X.680 character set) and returns them.
///
/// # Errors
/// [`BerError::InvalidValue`] on other characters.
pub fn decode_printable(v: &[u8]) -> Result<&str, BerError> {
    let ok = v
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&c));
    if !ok {
        return Err(BerError::InvalidValue("PrintableString"));
    }
    std::str::from_utf8(v).map_err(|_| BerError::InvalidValue("PrintableString"))
}

#[cfg(test)]
mod test {
    use super::*;

    fn w(f: impl FnOnce(&mut Writer<'_>)) -> Vec<u8> {
        let mut v = Vec::new();
        f(&mut Writer::new(&mut v));
        v
    }

    #[test]
    fn writes_unsigned_integers_minimally() {
        assert_eq!(w(|w| w.uint(Tag::INTEGER, 0)), [0x02, 0x01, 0x00]);
        assert_eq!(w(|w| w.uint(Tag::INTEGER, 127)), [0x02, 0x01, 0x7f]);
        assert_eq!(w(|w| w.uint(Tag::INTEGER, 128)), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(w(|w| w.uint(Tag::INTEGER, 256)), [0x02, 0x02, 0x01, 0x00]);
        assert_eq!(
            w(|w| w.uint(Tag::ctx(4), 0xffff_ffff)),
            [0x84, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            w(|w| w.uint(Tag::INTEGER, u64::MAX)),
            [0x02, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn writes_signed_integers_minimally() {
        assert_eq!(w(|w| w.int(Tag::INTEGER, -1)), [0x02, 0x01, 0xff]);
        assert_eq!(w(|w| w.int(Tag::INTEGER, -128)), [0x02, 0x01, 0x80]);
        assert_eq!(w(|w| w.int(Tag::INTEGER, -129)), [0x02, 0x02, 0xff, 0x7f]);
        assert_eq!(w(|w| w.int(Tag::INTEGER, 128)), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(
            w(|w| w.int(Tag::INTEGER, i64::MIN)),
            [0x02, 0x08, 0x80, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn integers_round_trip() {
        for v in [
            0u64,
            1,
            127,
            128,
            255,
            256,
            65_535,
            1 << 31,
            u32::MAX as u64,
            1 << 63,
            u64::MAX,
        ] {
            let enc = w(|w| w.uint(Tag::INTEGER, v));
            let mut r = Reader::new(&enc);
            assert_eq!(decode_uint(r.expect(Tag::INTEGER).unwrap()), Ok(v));
            assert!(r.finish().is_ok());
        }
        for v in [0i64, -1, 127, -128, 128, -129, i64::MIN, i64::MAX] {
            let enc = w(|w| w.int(Tag::INTEGER, v));
            let mut r = Reader::new(&enc);
            assert_eq!(decode_int(r.expect(Tag::INTEGER).unwrap()), Ok(v));
            assert!(r.finish().is_ok());
        }
    }

    #[test]
    fn rejects_non_minimal_integers() {
        assert_eq!(decode_uint(&[0x00, 0x7f]), Err(BerError::NonMinimal));
        assert_eq!(decode_int(&[0xff, 0x80]), Err(BerError::NonMinimal));
        assert_eq!(decode_uint(&[]), Err(BerError::InvalidValue("INTEGER")));
        assert_eq!(
            decode_uint(&[0x80]),
            Err(BerError::InvalidValue("negative INTEGER"))
        );
        assert_eq!(
            decode_uint(&[1, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(BerError::TooLarge)
        );
        assert_eq!(decode_u32(&[0x01, 0, 0, 0, 0]), Err(BerError::TooLarge));
    }

    #[test]
    fn writes_octet_string_null_enumerated_printable() {
        assert_eq!(
            w(|w| w.primitive(Tag::OCTET_STRING, b"ab")),
            [0x04, 0x02, b'a', b'b']
        );
        assert_eq!(w(|w| w.null(Tag::NULL)), [0x05, 0x00]);
        assert_eq!(w(|w| w.null(Tag::ctx(3))), [0x83, 0x00]);
        assert_eq!(w(|w| w.enumerated(Tag::ENUMERATED, 9)), [0x0a, 0x01, 0x09]);
        assert_eq!(
            w(|w| w.primitive(Tag::PRINTABLE_STRING, b"DE")),
            [0x13, 0x02, b'D', b'E']
        );
        assert_eq!(decode_printable(b"DE"), Ok("DE"));
        assert!(decode_printable(b"D@").is_err());
    }

    #[test]
    fn writes_oids() {
        // LI-PS-PDU version35: {0 4 0 2 2 5 1 35}
        assert_eq!(
            w(|w| assert!(w.oid(Tag::OID, &[0, 4, 0, 2, 2, 5, 1, 35]))),
            [0x06, 0x07, 0x04, 0x00, 0x02, 0x02, 0x05, 0x01, 0x23]
        );
        // 1.2.840.113549 (RSA): 2a 86 48 86 f7 0d
        assert_eq!(
            w(|w| assert!(w.oid(Tag::OID, &[1, 2, 840, 113_549]))),
            [0x06, 0x06, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]
        );
        assert_eq!(
            w(|w| w.relative_oid(Tag::ctx(0), &[3, 5, 3, 26])),
            [0x80, 0x04, 0x03, 0x05, 0x03, 0x1a]
        );
        assert_eq!(
            w(|w| w.relative_oid(Tag::RELATIVE_OID, &[128])),
            [0x0d, 0x02, 0x81, 0x00]
        );
        assert_eq!(
            decode_oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]),
            Ok(vec![1, 2, 840, 113_549])
        );
        assert_eq!(decode_relative_oid(&[0x81, 0x00, 0x05]), Ok(vec![128, 5]));
        assert_eq!(
            decode_relative_oid(&[0x80, 0x01]),
            Err(BerError::NonMinimal)
        );
        assert_eq!(decode_relative_oid(&[0x81]), Err(BerError::Truncated));
        assert!(w(|w| assert!(!w.oid(Tag::OID, &[3, 1]))).is_empty());
    }

    #[test]
    fn writes_generalized_time() {
        // 2026-11-21T19:40:13.123Z
        let ns = 1_795_290_013_123_456_789u64;
        let enc = w(|w| w.generalized_time(Tag::GENERALIZED_TIME, ns));
        assert_eq!(&enc[..2], [0x18, 19]);
        assert_eq!(&enc[2..], b"20261121194013.123Z");
        assert_eq!(
            parse_generalized_time(b"20261121194013.123Z"),
            Ok(1_795_290_013_123_000_000)
        );
        assert_eq!(parse_generalized_time(b"19700101000000Z"), Ok(0));
        let at = |ns| w(|w| w.generalized_time(Tag::ctx(5), ns));
        assert_eq!(at(1_795_290_013_120_999_999)[2..], *b"20261121194013.12Z");
        assert_eq!(at(1_795_290_013_000_999_999)[2..], *b"20261121194013Z");
        let mut expect = vec![0x85, 17];
        expect.extend_from_slice(b"20261121194013.1Z");
        assert_eq!(at(1_795_290_013_100_000_000), expect);
        assert_eq!(
            parse_generalized_time(b"20000229235959.5Z"),
            Ok(951_868_799_500_000_000)
        );
        assert!(parse_generalized_time(b"20261121194013.123").is_err());
        assert!(parse_generalized_time(b"20261321194013Z").is_err());
    }

    #[test]
    fn writes_high_tag_numbers() {
        assert_eq!(w(|w| w.null(Tag::ctx(31))), [0x9f, 0x1f, 0x00]);
        assert_eq!(w(|w| w.null(Tag::ctx(201))), [0x9f, 0x81, 0x49, 0x00]);
        let enc = w(|w| w.null(Tag::ctx_cons(1000)));
        let mut r = Reader::new(&enc);
        assert_eq!(r.expect(Tag::ctx_cons(1000)), Ok(&[][..]));
        assert_eq!(
            Reader::new(&[0x9f, 0x80, 0x1f, 0x00]).tlv(),
            Err(BerError::NonMinimal)
        );
        assert_eq!(
            Reader::new(&[0x9f, 0x05, 0x00]).tlv(),
            Err(BerError::NonMinimal)
        );
    }

    #[test]
    fn patches_lengths_whatever_the_hint() {
        for content_len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536] {
            for hint in [0usize, 200, 70_000] {
                let content = vec![0xa5u8; content_len];
                let enc = w(|w| {
                    let o = w.open(Tag::SEQUENCE, hint);
                    w.primitive(Tag::OCTET_STRING, &content);
                    w.close(o);
                });
                let mut r = Reader::new(&enc);
                let mut inner = r.nested(Tag::SEQUENCE).unwrap();
                assert_eq!(inner.expect(Tag::OCTET_STRING).unwrap(), &content[..]);
                assert!(inner.finish().is_ok() && r.finish().is_ok());
            }
        }
        let enc = w(|w| {
            let o = w.open(Tag::SEQUENCE, 0);
            w.primitive(Tag::OCTET_STRING, &[7; 200]);
            w.close(o);
        });
        assert_eq!(&enc[..6], [0x30, 0x81, 0xcb, 0x04, 0x81, 0xc8]);
    }

    #[test]
    fn rejects_indefinite_and_non_minimal_lengths() {
        assert_eq!(
            Reader::new(&[0x30, 0x80, 0x00, 0x00]).tlv(),
            Err(BerError::IndefiniteLength)
        );
        assert_eq!(
            Reader::new(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).tlv(),
            Err(BerError::NonMinimal)
        );
        assert_eq!(
            Reader::new(&[0x04, 0x82, 0x00, 0x80]).tlv(),
            Err(BerError::NonMinimal)
        );
        assert_eq!(
            Reader::new(&[0x04, 0x85, 1, 0, 0, 0, 0]).tlv(),
            Err(BerError::TooLarge)
        );
    }

    #[test]
    fn rejects_truncated_and_trailing() {
        assert_eq!(
            Reader::new(&[0x04, 0x03, 1, 2]).tlv(),
            Err(BerError::Truncated)
        );
        assert_eq!(Reader::new(&[0x04]).tlv(), Err(BerError::Truncated));
        let mut r = Reader::new(&[0x05, 0x00, 0x05]);
        assert!(r.expect(Tag::NULL).is_ok());
        assert_eq!(r.finish(), Err(BerError::TrailingBytes));
    }

    #[test]
    fn rejects_unexpected_tag() {
        let mut r = Reader::new(&[0x05, 0x00]);
        assert_eq!(
            r.expect(Tag::INTEGER),
            Err(BerError::UnexpectedTag(Tag::NULL))
        );
        assert_eq!(Reader::new(&[0x05, 0x00]).optional(Tag::INTEGER), Ok(None));
    }
}
