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
