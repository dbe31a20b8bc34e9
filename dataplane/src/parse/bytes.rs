//! Bounds-checked big-endian field access shared by the layer views, and the macro
//! that gives every view the same constructors. Out-of-range reads return 0 and
//! out-of-range writes do nothing: after `check_len` they cannot happen, and even
//! without it nothing panics.

/// A header field: a byte range relative to the start of the header.
pub(crate) type Field = core::ops::Range<usize>;

/// Reads a big-endian `u16` at `at`, 0 if out of range.
#[inline]
pub(crate) fn be16(buf: &[u8], at: usize) -> u16 {
    match buf.get(at..at.saturating_add(2)) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

/// Reads a big-endian `u32` at `at`, 0 if out of range.
#[inline]
pub(crate) fn be32(buf: &[u8], at: usize) -> u32 {
    match buf.get(at..at.saturating_add(4)) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Reads the byte at `at`, 0 if out of range.
#[inline]
pub(crate) fn byte(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

/// Reads a fixed-size array from `field`, zeroes if out of range.
#[inline]
pub(crate) fn array<const N: usize>(buf: &[u8], field: Field) -> [u8; N] {
    buf.get(field)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .unwrap_or([0; N])
}

/// Writes `bytes` at `at`, nothing if out of range.
#[inline]
pub(crate) fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at.saturating_add(bytes.len())) {
        dst.copy_from_slice(bytes);
    }
}

/// Writes a big-endian `u16` at `at`.
#[inline]
pub(crate) fn set_be16(buf: &mut [u8], at: usize, v: u16) {
    put(buf, at, &v.to_be_bytes());
}

/// Writes a big-endian `u32` at `at`.
#[inline]
pub(crate) fn set_be32(buf: &mut [u8], at: usize, v: u32) {
    put(buf, at, &v.to_be_bytes());
}

/// Writes one byte at `at`.
#[inline]
pub(crate) fn set_byte(buf: &mut [u8], at: usize, v: u8) {
    if let Some(b) = buf.get_mut(at) {
        *b = v;
    }
}

/// The slice from `from` to the end, empty if out of range.
#[inline]
pub(crate) fn tail(buf: &[u8], from: usize) -> &[u8] {
    buf.get(from..).unwrap_or(&[])
}

/// Declares a view struct `$name<B>` with `new_unchecked`, `new_checked` (which calls
/// the `check_len` each module writes) and `into_inner`.
macro_rules! view {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name<B: AsRef<[u8]>> {
            buf: B,
        }

        impl<B: AsRef<[u8]>> $name<B> {
            /// Wraps `buf` without checking its length: only for writing into a buffer
            /// sized by the matching `Repr::buffer_len()`.
            #[inline]
            pub const fn new_unchecked(buf: B) -> Self {
                Self { buf }
            }

            /// Wraps `buf` after `check_len`; every received frame goes through here.
            ///
            /// # Errors
            /// The [`ParseError`](crate::parse::ParseError) of `check_len`.
            #[inline]
            pub fn new_checked(buf: B) -> Result<Self, crate::parse::ParseError> {
                let view = Self::new_unchecked(buf);
                view.check_len()?;
                Ok(view)
            }

            /// Gives the buffer back.
            #[inline]
            pub fn into_inner(self) -> B {
                self.buf
            }
        }
    };
}
