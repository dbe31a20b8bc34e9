//! Which wire format, and so which encoder and decoder, a delivery route uses.

use super::error::HandoverError;
use super::pdu::{DecodeError, Decoded, EncodeError, Event, PduHeader, ProbeId};
use super::{etsi102232, x2x3};
use crate::model::{Destination, DestinationFormat};

/// Wire format of a handover link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// ETSI TS 102 232-1/-3 PS-PDU, BER.
    Etsi102232,
    /// ETSI TS 103 221-2 X2/X3.
    X2X3,
}

/// Encodes one record by appending it to `out`.
pub trait Encoder {
    /// Appends the PDU for `h` and `e` to `out` (which is not cleared).
    ///
    /// # Errors
    /// A field exceeds what the format can carry; `out` is then left as it was.
    fn encode(
        &self,
        h: &PduHeader<'_>,
        e: &Event<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError>;
}

impl Format {
    /// The network format of destination `d`.
    ///
    /// # Errors
    /// `d` is not delivered over the network (e.g. `pcap-dir`).
    pub(crate) fn of(d: &Destination) -> Result<Format, HandoverError> {
        match d.format {
            DestinationFormat::Etsi102232 => Ok(Format::Etsi102232),
            DestinationFormat::X2x3 => Ok(Format::X2X3),
            _ => Err(HandoverError::Destination {
                name: d.name.clone(),
                reason: "format not delivered over the network by the handover engine".into(),
            }),
        }
    }

    /// The format a received stream starts in: `None` until enough bytes
    /// arrived, `Some(None)` for neither (a PS-PDU is a BER SEQUENCE; an X2/X3
    /// PDU starts with version 2).
    pub(crate) fn detect(buf: &[u8]) -> Option<Option<Format>> {
        match buf {
            [] | [0x00] => None,
            [0x30, ..] => Some(Some(Format::Etsi102232)),
            [0x00, 0x02, ..] => Some(Some(Format::X2X3)),
            _ => Some(None),
        }
    }

    /// The encoder for this format.
    pub fn encoder(self) -> &'static dyn Encoder {
        match self {
            Format::Etsi102232 => &etsi102232::PsPduEncoder,
            Format::X2X3 => &x2x3::X2X3Encoder,
        }
    }
}

/// A route's header fields, encoded once for the formats that repeat them in
/// every PDU (the PS-PDU's PSHeader; an X2/X3 header has only the XID).
#[derive(Clone, Debug)]
pub struct RouteHeaders {
    /// Or why the route's PS-PDUs cannot be encoded (every one would fail so).
    ps_pdu: Result<etsi102232::RouteHeader, EncodeError>,
}

impl RouteHeaders {
    /// The headers of `liid`'s PDUs sent by `probe`.
    #[must_use]
    pub fn new(liid: &str, probe: &ProbeId) -> Self {
        RouteHeaders {
            ps_pdu: etsi102232::RouteHeader::new(liid, probe),
        }
    }
}

impl Format {
    /// Appends the PDU for `h` and `e` to `out`, taking the LIID and identity
    /// from `pre` (those of `h` are not looked at).
    ///
    /// # Errors
    /// See [`Encoder::encode`].
    pub fn encode_routed(
        self,
        pre: &RouteHeaders,
        h: &PduHeader<'_>,
        e: &Event<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        match self {
            Format::Etsi102232 => match &pre.ps_pdu {
                Ok(pre) => etsi102232::PsPduEncoder.encode_routed(pre, h, e, out),
                Err(e) => Err(e.clone()),
            },
            Format::X2X3 => x2x3::X2X3Encoder.encode(h, e, out),
        }
    }
}

/// Appends the PDU for `h` and `e` in `format` to `out`.
///
/// # Errors
/// See [`Encoder::encode`].
pub fn encode(
    format: Format,
    h: &PduHeader<'_>,
    e: &Event<'_>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    format.encoder().encode(h, e, out)
}

/// Splits a byte stream into PDUs.
///
/// Returns `Ok(Some((pdu, consumed)))` for a complete PDU at the start of `buf`,
/// `Ok(None)` if more bytes are needed.
///
/// # Errors
/// The bytes are not a valid PDU of `format`; the stream cannot be resynchronised.
pub fn decode_next(
    format: Format,
    buf: &[u8],
) -> Result<Option<(Decoded<'_>, usize)>, DecodeError> {
    match format {
        Format::Etsi102232 => etsi102232::decode_next(buf),
        Format::X2X3 => x2x3::decode_next(buf),
    }
}
