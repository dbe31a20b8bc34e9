use std::io;

use super::*;

const KA: Duration = Duration::from_secs(1);
const STEP: Duration = Duration::from_millis(50);
const MIN: Duration = Duration::from_millis(100);
const MAX: Duration = Duration::from_secs(10);

fn refused() -> LinkError {
    LinkError::Connect(io::Error::from(io::ErrorKind::ConnectionRefused))
}

/// The other end of an in-memory link: it accepts connections or refuses
/// them, and answers each keepalive after `answer_after`, or never.
struct Peer {
    accepts: bool,
    answer_after: Option<Duration>,
    answers_due: VecDeque<Instant>,
    keepalives: u32,
}

impl Peer {
    fn new(accepts: bool, answer_after: Option<Duration>) -> Self {
        Peer {
            accepts,
            answer_after,
            answers_due: VecDeque::new(),
            keepalives: 0,
        }
    }
}

/// What happened while driving a link.
#[derive(Debug, Default)]
struct Trace {
    sessions: u32,
    reconnects: u32,
    /// When each session ended and why.
    ended: Vec<(Duration, String)>,
    /// Waits after failed attempts.
    waits: Vec<Duration>,
}

/// Runs `core` against `peer` from `start` for `span` of virtual time in
/// steps of [`STEP`], as the link thread does: connect when down, deliver
/// the peer's answers, and ask the core what to do when idle.
fn drive(core: &mut LinkCore, peer: &mut Peer, start: Instant, span: Duration) -> Trace {
    let mut trace = Trace::default();
    let mut now = start;
    while now < start + span {
        match core.state() {
            LinkState::Stopped => break,
            LinkState::Down if peer.accepts => {
                trace.sessions += 1;
                trace.reconnects += u32::from(core.connected(now, KA));
                peer.answers_due.clear();
            }
            LinkState::Down => {
                let retry = core.connect_failed(&refused(), 0.5);
                trace.waits.push(retry.after);
                now += retry.after;
                continue;
            }
            LinkState::Up(_) => {
                while peer.answers_due.front().is_some_and(|&t| t <= now) {
                    peer.answers_due.pop_front();
                    core.heard(now);
                }
                match core.idle(now) {
                    Ok(Idle::Wait) => {}
                    Ok(Idle::SendKeepalive) => {
                        peer.keepalives += 1;
                        if let Some(d) = peer.answer_after {
                            peer.answers_due.push_back(now + d);
                        }
                        core.keepalive_sent(now);
                    }
                    Err(e) => {
                        trace.ended.push((now - start, e.to_string()));
                        core.session_ended(Some(&e));
                    }
                }
            }
        }
        now += STEP;
    }
    trace
}

#[test]
fn answered_keepalives_keep_an_idle_link_up_for_an_hour() {
    let mut core = LinkCore::new(MIN, MAX);
    let mut peer = Peer::new(true, Some(Duration::from_millis(20)));
    let trace = drive(
        &mut core,
        &mut peer,
        Instant::now(),
        Duration::from_secs(3600),
    );
    assert_eq!(trace.sessions, 1);
    assert!(trace.ended.is_empty(), "{:?}", trace.ended);
    // One per period of quiet (the period is checked every STEP).
    assert!(
        (3400..=3600).contains(&peer.keepalives),
        "{}",
        peer.keepalives
    );
    assert!(matches!(core.state(), LinkState::Up(_)));
}

#[test]
fn a_silent_peer_is_dead_three_periods_after_the_first_keepalive() {
    let mut core = LinkCore::new(MIN, MAX);
    let start = Instant::now();
    core.connected(start, KA);
    let mut now = start;
    let dead_at = loop {
        match core.idle(now) {
            Ok(Idle::SendKeepalive) => core.keepalive_sent(now),
            Ok(Idle::Wait) => {}
            Err(e) => {
                assert!(matches!(e, LinkError::KeepaliveUnanswered), "{e}");
                assert_eq!(e.to_string(), "keepalive not answered");
                break now - start;
            }
        }
        now += STEP;
        assert!(now - start < KA * 10, "never declared dead");
    };
    // First keepalive after one quiet period, then more than three unanswered.
    assert!(dead_at > KA * 4 && dead_at <= KA * 4 + STEP, "{dead_at:?}");
}

#[test]
fn a_peer_answering_late_but_within_three_periods_stays_up() {
    let mut core = LinkCore::new(MIN, MAX);
    let mut peer = Peer::new(true, Some(KA * 2 + KA / 2));
    let trace = drive(
        &mut core,
        &mut peer,
        Instant::now(),
        Duration::from_secs(600),
    );
    assert!(trace.ended.is_empty(), "{:?}", trace.ended);
}

#[test]
fn a_stalled_peer_is_dropped_and_reconnected() {
    let mut core = LinkCore::new(MIN, MAX);
    let mut peer = Peer::new(true, None);
    let trace = drive(
        &mut core,
        &mut peer,
        Instant::now(),
        Duration::from_secs(20),
    );
    // A session lasts a bit over four periods (4.1 s here, reconnection
    // included); each after the first is a reconnect.
    assert_eq!(trace.sessions, 5, "{trace:?}");
    assert_eq!(trace.reconnects, 4);
    assert_eq!(trace.ended.len(), 4);
    assert!(trace
        .ended
        .iter()
        .all(|(_, why)| why == "keepalive not answered"));
}

#[test]
fn data_written_postpones_the_keepalive() {
    let mut core = LinkCore::new(MIN, MAX);
    let start = Instant::now();
    core.connected(start, KA);
    core.wrote(start + KA / 2);
    assert_eq!(core.idle(start + KA).unwrap(), Idle::Wait);
    assert_eq!(core.idle(start + KA + KA / 2).unwrap(), Idle::SendKeepalive);
}

#[test]
fn backoff_doubles_up_to_its_cap_and_resets_once_connected() {
    let mut core = LinkCore::new(MIN, MAX);
    let mut peer = Peer::new(false, None);
    let trace = drive(
        &mut core,
        &mut peer,
        Instant::now(),
        Duration::from_secs(60),
    );
    let ms: Vec<u128> = trace.waits.iter().map(Duration::as_millis).collect();
    assert_eq!(
        ms[..10],
        [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
    );
    assert_eq!(trace.sessions, 0);

    peer.accepts = true;
    let t = Instant::now();
    assert!(!core.connected(t, KA), "the first session is no reconnect");
    core.session_ended(Some(&refused()));
    assert_eq!(core.connect_failed(&refused(), 0.5).after, MIN);
    assert!(core.connected(t, KA), "the second one is");
}

#[test]
fn jitter_spreads_the_wait_over_a_quarter_either_side() {
    let mut core = LinkCore::new(MIN, MAX);
    assert_eq!(core.connect_failed(&refused(), 0.0).after, MIN * 3 / 4);
    let mut core = LinkCore::new(MIN, MAX);
    assert_eq!(core.connect_failed(&refused(), 1.0).after, MIN * 5 / 4);
}

#[test]
fn a_failure_is_reported_when_it_changes() {
    let mut core = LinkCore::new(MIN, MAX);
    let timeout = || LinkError::Connect(io::Error::from(io::ErrorKind::TimedOut));
    assert!(core.connect_failed(&refused(), 0.5).report);
    assert!(!core.connect_failed(&refused(), 0.5).report);
    assert!(core.connect_failed(&timeout(), 0.5).report);
    assert!(core.connect_failed(&refused(), 0.5).report);
    assert!(!core.connect_failed(&refused(), 0.5).report);
    // A session in between: the same failure again is news.
    core.connected(Instant::now(), KA);
    assert!(core.connect_failed(&refused(), 0.5).report);
    // A session that ended by one failure: the next attempt's differs.
    core.connected(Instant::now(), KA);
    core.session_ended(Some(&LinkError::KeepaliveUnanswered));
    assert!(core.connect_failed(&refused(), 0.5).report);
}

#[test]
fn a_clean_end_stops_the_link() {
    let mut core = LinkCore::new(MIN, MAX);
    core.connected(Instant::now(), KA);
    core.session_ended(None);
    assert_eq!(core.state(), LinkState::Stopped);
    let mut peer = Peer::new(true, None);
    let trace = drive(&mut core, &mut peer, Instant::now(), Duration::from_secs(5));
    assert_eq!(trace.sessions, 0);
}

fn chunk(n: u8, len: usize) -> Vec<u8> {
    vec![n; len]
}

#[test]
fn after_a_break_the_written_chunks_then_the_unsent_ones_are_owed_in_order() {
    let mut w = ResendWindow::new(1000);
    let mut spare = Vec::new();
    for n in 0..3 {
        w.written(chunk(n, 100), |c| spare.push(c));
    }
    // Chunk 3 failed; 4 and 5 were behind it.
    w.unsent(chunk(3, 100), [chunk(4, 100), chunk(5, 100)]);
    let held: Vec<u8> = w.held().map(|c| c[0]).collect();
    assert_eq!(held, [0, 1, 2, 3, 4, 5]);
    let owed: Vec<u8> = w.owed().iter().map(|c| c[0]).collect();
    assert_eq!(owed, [0, 1, 2, 3, 4, 5]);
    assert!(w.is_empty());
    assert!(spare.is_empty());
}

#[test]
fn the_window_evicts_the_oldest_written_but_keeps_the_last_and_the_unsent() {
    let mut w = ResendWindow::new(250);
    let mut spare = Vec::new();
    w.unsent(chunk(9, 500), []);
    for n in 0..4 {
        w.written(chunk(n, 100), |c| spare.push(c[0]));
    }
    assert_eq!(spare, [0, 1]);
    w.written(chunk(4, 1000), |c| spare.push(c[0]));
    assert_eq!(spare, [0, 1, 2, 3]);
    let held: Vec<u8> = w.held().map(|c| c[0]).collect();
    assert_eq!(
        held,
        [4, 9],
        "the last written chunk stays, unsent never goes"
    );
    w.forget_unsent();
    let held: Vec<u8> = w.held().map(|c| c[0]).collect();
    assert_eq!(held, [4]);
    w.clear();
    assert!(w.is_empty());
}
