//! Wall-clock time as the intercept records carry it.

/// Nanoseconds since the Unix epoch, now (0 before the epoch, saturating far after).
#[must_use]
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
