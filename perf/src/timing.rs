//! Timing a per-frame function over pre-built frames, as the micro-benchmarks
//! (`classify_bench`, `parse_bench`) do, and their common reference.

use std::hint::black_box;
use std::time::Instant;

/// How a micro-benchmark times: `runs` runs of `rounds` passes over the
/// frames each, the median run counting (a shared machine's preemption only
/// adds time, and the median ignores the odd slow run).
#[derive(Clone, Copy, Debug)]
pub struct FrameTimer {
    /// Passes over the frames in one run.
    pub rounds: usize,
    /// Runs; the median counts.
    pub runs: usize,
}

impl FrameTimer {
    /// Median ns per frame of `f` over `frames` (its results are summed and
    /// kept, so the work is not optimised away).
    pub fn ns_per_frame(self, frames: &[Vec<u8>], mut f: impl FnMut(&[u8]) -> u64) -> f64 {
        let mut runs: Vec<f64> = (0..self.runs.max(1))
            .map(|_| {
                let start = Instant::now();
                let mut acc = 0u64;
                for _ in 0..self.rounds {
                    for fr in frames {
                        acc = acc.wrapping_add(f(black_box(fr)));
                    }
                }
                black_box(acc);
                let frames = (self.rounds * frames.len()).max(1);
                start.elapsed().as_nanos() as f64 / frames as f64
            })
            .collect();
        runs.sort_by(f64::total_cmp);
        runs[runs.len() / 2]
    }

    /// The reference the micro-benchmarks print beside their figures:
    /// touching one byte of each frame.
    pub fn touch_ns_per_frame(self, frames: &[Vec<u8>]) -> f64 {
        self.ns_per_frame(frames, |fr| {
            fr.get(fr.len() / 2).map_or(0, |&b| u64::from(b))
        })
    }
}

/// The reference of the tracker benchmarks (`session_bench`, `call_bench`):
/// inserts of `n` spread `u64` keys into a `HashMap<u64, u64>` per second.
#[must_use]
pub fn hashmap_insert_rate(n: u32) -> f64 {
    let begin = Instant::now();
    let mut reference: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    for i in 0..u64::from(n) {
        reference.insert(black_box(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)), i);
    }
    let rate = f64::from(n) / begin.elapsed().as_secs_f64();
    black_box(&reference);
    rate
}

/// Resident set size in bytes (`VmRSS` of /proc/self/status), so memory
/// figures count the allocator's overhead.
///
/// # Errors
/// /proc/self/status unreadable or without `VmRSS`.
pub fn resident_bytes() -> anyhow::Result<u64> {
    use anyhow::Context;
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("no VmRSS in /proc/self/status")?;
    Ok(kb * 1024)
}

/// The report line of `n` `what`s (plural `whats`) held between two
/// [`resident_bytes`] readings: bytes resident per item and the readings.
#[must_use]
pub fn resident_per(n: usize, (what, whats): (&str, &str), before: u64, after: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let (per, mib) = (
        after.saturating_sub(before) as f64 / n.max(1) as f64,
        |b: u64| b as f64 / 1_048_576.0,
    );
    format!(
        "{n} concurrent {whats}: {per:.0} bytes resident per {what} (VmRSS {:.1} MiB -> {:.1} MiB)",
        mib(before),
        mib(after)
    )
}
