//! pki (being written).
