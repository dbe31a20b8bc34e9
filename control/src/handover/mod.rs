//! Handover: encode matched records in the standard formats and deliver them,
//! losing nothing, over mutually-authenticated TLS.

pub mod ber;
pub mod etsi102232;
pub mod pdu;
pub mod x2x3;
