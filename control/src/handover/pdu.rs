//! pdu (being written).
