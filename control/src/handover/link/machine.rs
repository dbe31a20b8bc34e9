//! The decisions of a delivery link, free of I/O: when to reconnect, which
//! failures to report, when to send a keepalive or declare the peer dead, and
//! what to resend after a break. Time is passed in, so the tests drive it
//! against an in-memory peer without sleeping.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::error::{Cause, LinkError};

/// Where a link is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// No session: before the first attempt, or after a failure.
    Down,
    /// A session is up.
    Up(Liveness),
    /// Stopped on request; what was not delivered is spooled.
    Stopped,
}

/// Keepalive bookkeeping of an up session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Liveness {
    /// Last write of data or a keepalive.
    wrote: Instant,
    /// Last time the peer sent anything (keepalive answers included).
    heard: Instant,
    /// Oldest keepalive sent since the peer was last heard.
    pending: Option<Instant>,
}

/// What an idle up session should do now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Idle {
    /// Nothing yet.
    Wait,
    /// Send a keepalive, then call [`LinkCore::keepalive_sent`].
    SendKeepalive,
}

/// What a failed connection attempt leads to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Retry {
    /// The failure differs from the previous one: log and audit it.
    pub report: bool,
    /// Wait this long before the next attempt.
    pub after: Duration,
}

/// A link's state machine (see the module docs).
#[derive(Debug)]
pub(crate) struct LinkCore {
    state: LinkState,
    backoff: Duration,
    backoff_min: Duration,
    backoff_max: Duration,
    keepalive: Duration,
    /// The last failure reported, so that a repeated one is not.
    last_failure: Option<Cause>,
    ever_connected: bool,
}

impl LinkCore {
    /// A link not yet connected; reconnects wait `backoff_min`, doubling up to
    /// `backoff_max`.
    pub(crate) fn new(backoff_min: Duration, backoff_max: Duration) -> Self {
        LinkCore {
            state: LinkState::Down,
            backoff: backoff_min,
            backoff_min,
            backoff_max,
            keepalive: Duration::MAX,
            last_failure: None,
            ever_connected: false,
        }
    }

    pub(crate) fn state(&self) -> LinkState {
        self.state
    }

    /// A connection attempt failed. `jitter` in `[0, 1)` spreads the wait over
    /// ±25 % of the backoff, so that links do not reconnect in step.
    pub(crate) fn connect_failed(&mut self, e: &LinkError, jitter: f64) -> Retry {
        let cause = e.cause();
        let report = self.last_failure != Some(cause);
        self.last_failure = Some(cause);
        self.state = LinkState::Down;
        let after = self.backoff.mul_f64(0.75 + jitter.clamp(0.0, 1.0) * 0.5);
        self.backoff = (self.backoff * 2).min(self.backoff_max);
        Retry { report, after }
    }

    /// A session came up at `now`, to be kept alive every `keepalive` when
    /// idle. True if it is a reconnection (not the link's first session).
    pub(crate) fn connected(&mut self, now: Instant, keepalive: Duration) -> bool {
        self.backoff = self.backoff_min;
        self.last_failure = None;
        self.keepalive = keepalive;
        self.state = LinkState::Up(Liveness {
            wrote: now,
            heard: now,
            pending: None,
        });
        std::mem::replace(&mut self.ever_connected, true)
    }

    /// The session ended: by `e`, or cleanly on request (`None`).
    pub(crate) fn session_ended(&mut self, e: Option<&LinkError>) {
        match e {
            Some(e) => {
                self.last_failure = Some(e.cause());
                self.state = LinkState::Down;
            }
            None => self.state = LinkState::Stopped,
        }
    }

    /// The peer sent something at `now`.
    pub(crate) fn heard(&mut self, now: Instant) {
        if let LinkState::Up(l) = &mut self.state {
            l.heard = now;
        }
    }

    /// Data was written at `now`.
    pub(crate) fn wrote(&mut self, now: Instant) {
        if let LinkState::Up(l) = &mut self.state {
            l.wrote = now;
        }
    }

    /// Nothing to send at `now`: a keepalive is due after a quiet period; a
    /// peer that answered nothing for three periods since the oldest
    /// unanswered keepalive is dead (or stalled: data would only pile up in
    /// socket buffers).
    ///
    /// # Errors
    /// [`LinkError::KeepaliveUnanswered`].
    pub(crate) fn idle(&mut self, now: Instant) -> Result<Idle, LinkError> {
        let LinkState::Up(l) = &mut self.state else {
            return Ok(Idle::Wait);
        };
        if l.pending.is_some_and(|t| t < l.heard) {
            l.pending = None;
        }
        if let Some(t) = l.pending {
            if now.saturating_duration_since(t) > self.keepalive.saturating_mul(3) {
                return Err(LinkError::KeepaliveUnanswered);
            }
        }
        if now.saturating_duration_since(l.wrote) >= self.keepalive {
            return Ok(Idle::SendKeepalive);
        }
        Ok(Idle::Wait)
    }

    /// The keepalive [`Idle::SendKeepalive`] asked for was written at `now`.
    pub(crate) fn keepalive_sent(&mut self, now: Instant) {
        if let LinkState::Up(l) = &mut self.state {
            l.wrote = now;
            l.pending.get_or_insert(now);
        }
    }
}

/// The last bytes written to a link, resent first after a break (the peer
/// may not have read what sat in socket buffers; it drops duplicates).
#[derive(Debug)]
pub(crate) struct ResendWindow {
    chunks: VecDeque<Vec<u8>>,
    bytes: usize,
    cap: usize,
    /// Taken from the queue but not written when the link broke: never evicted.
    unsent: VecDeque<Vec<u8>>,
}

impl ResendWindow {
    /// Keeps at least the last chunk written, and older ones up to `cap` bytes.
    pub(crate) fn new(cap: usize) -> Self {
        ResendWindow {
            chunks: VecDeque::new(),
            bytes: 0,
            cap,
            unsent: VecDeque::new(),
        }
    }

    /// `chunk` was written; chunks evicted to stay under the cap go to `spare`.
    pub(crate) fn written(&mut self, chunk: Vec<u8>, mut spare: impl FnMut(Vec<u8>)) {
        self.bytes += chunk.len();
        self.chunks.push_back(chunk);
        while self.bytes > self.cap && self.chunks.len() > 1 {
            if let Some(old) = self.chunks.pop_front() {
                self.bytes -= old.len();
                spare(old);
            }
        }
    }

    /// Writing `failed` broke the link: it and `rest` are owed, in order.
    pub(crate) fn unsent(&mut self, failed: Vec<u8>, rest: impl IntoIterator<Item = Vec<u8>>) {
        self.unsent.push_back(failed);
        self.unsent.extend(rest);
    }

    /// Forgets what [`ResendWindow::unsent`] kept: for chunks that are still
    /// elsewhere (a spool segment, removed only once wholly written).
    pub(crate) fn forget_unsent(&mut self) {
        self.unsent.clear();
    }

    /// What a new session owes first, oldest first: what was written before
    /// (maybe lost in socket buffers), then what never was. Empties the window.
    pub(crate) fn owed(&mut self) -> Vec<Vec<u8>> {
        let mut owed: Vec<Vec<u8>> = self.chunks.drain(..).collect();
        owed.extend(self.unsent.drain(..));
        self.bytes = 0;
        owed
    }

    /// Everything held, oldest first (at exit, ahead of the queue and spool).
    pub(crate) fn held(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.chunks.iter().chain(self.unsent.iter())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.unsent.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.unsent.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
