//! What the signalling glues (sessions, voice) share: which targets each
//! intercept held, from when until when (handover judges records that arrive
//! late by it), and the table changes whose latency is still to be measured.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use dataplane::targets::Target;
use prometheus::Histogram;

use super::controller::Controller;
use crate::model::Identity;
use crate::time::now_ns;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether a warrant naming `wanted` covers a subscriber or party seen with `seen`.
pub(super) fn names(wanted: &[Identity], seen: &[Identity]) -> bool {
    wanted.iter().any(|w| seen.iter().any(|s| w.matches(s)))
}

/// One holder's (a binding's, a call's) hold on one target for one intercept.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Span<H> {
    holder: H,
    target: Target,
    from_ns: u64,
    /// `u64::MAX` while the hold lasts.
    until_ns: u64,
}

/// Per intercept key, the targets each holder held and when.
pub(super) struct Spans<H> {
    by_key: Mutex<HashMap<u32, Vec<Span<H>>>>,
}

impl<H> Default for Spans<H> {
    fn default() -> Self {
        Self {
            by_key: Mutex::default(),
        }
    }
}

impl<H: Clone + PartialEq> Spans<H> {
    /// `holder` holds `targets` for `key` from `from_ns` on.
    pub(super) fn open(&self, key: u32, holder: &H, targets: &[Target], from_ns: u64) {
        let mut all = lock(&self.by_key);
        all.entry(key)
            .or_default()
            .extend(targets.iter().map(|&target| Span {
                holder: holder.clone(),
                target,
                from_ns,
                until_ns: u64::MAX,
            }));
    }

    /// Ends the open holds of `holder` (only those of `targets`, if given).
    pub(super) fn close(&self, key: u32, holder: &H, targets: Option<&[Target]>, until_ns: u64) {
        if let Some(list) = lock(&self.by_key).get_mut(&key) {
            for s in list.iter_mut().filter(|s| {
                &s.holder == holder
                    && s.until_ns == u64::MAX
                    && targets.is_none_or(|t| t.contains(&s.target))
            }) {
                s.until_ns = until_ns.max(s.from_ns);
            }
        }
    }

    /// Forgets the holds that ended before `horizon_ns`.
    pub(super) fn prune(&self, horizon_ns: u64) {
        lock(&self.by_key).retain(|_, list| {
            list.retain(|s| s.until_ns >= horizon_ns);
            !list.is_empty()
        });
    }

    /// What `f` makes of the first hold of `key` in effect at `ts_ns` it takes.
    pub(super) fn find<R>(
        &self,
        key: u32,
        ts_ns: u64,
        f: impl Fn(&H, &Target) -> Option<R>,
    ) -> Option<R> {
        let all = lock(&self.by_key);
        all.get(&key)?
            .iter()
            .filter(|s| s.from_ns <= ts_ns && ts_ns < s.until_ns)
            .find_map(|s| f(&s.holder, &s.target))
    }
}

/// Table changes made for signalling, until every worker applied them.
#[derive(Default)]
pub(super) struct Unacked(Vec<(u64, u64)>);

impl Unacked {
    /// A change sent as `epoch` for a signalling message received at `signal_ns`.
    pub(super) fn push(&mut self, epoch: u64, signal_ns: u64) {
        self.0.push((epoch, signal_ns));
    }

    /// Changes some worker has not applied yet.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// Observes into `latency` (receive to now) the changes every worker applied.
    pub(super) fn observe(&mut self, controller: &Controller, latency: &Histogram) {
        if self.0.is_empty() {
            return;
        }
        let applied = controller.min_applied();
        let now = now_ns();
        self.0.retain(|&(epoch, ts)| {
            let done = epoch <= applied;
            if done {
                #[allow(clippy::cast_precision_loss)]
                let secs = now.saturating_sub(ts) as f64 / 1e9;
                latency.observe(secs);
            }
            !done
        });
    }
}
