//! ber (being written).
