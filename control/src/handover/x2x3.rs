//! x2x3 (being written).
