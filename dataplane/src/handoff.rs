//! Worker → control hand-off: per-worker SPSC rings of pre-allocated records.
