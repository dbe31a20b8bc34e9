//! The voice glue over a real controller, real tables, a real handover engine
//! and a real collector: SIP of a target's call installs the call's media
//! endpoints (both sides, RTP and RTCP) in the content intercept's slot and
//! removes them at the BYE, never for a headers-mode intercept; each SIP
//! message of a targeted call is one IRI for every intercept naming a party;
//! another subscriber reusing the media address and port later installs
//! nothing; a warrant provisioned mid-call takes the call's media at once;
//! a callee a forwarded INVITE names gets the call from that INVITE on.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery_common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use control::api::Provisioning;
use control::daemon::signalling::{SignalSink, Watermark};
use control::daemon::voice::VoiceGlue;
use control::daemon::Controller;
use control::handover::{HandoverEngine, ProbeId};
use control::metrics::ProbeMetrics;
use control::model::{DestinationFormat, InterceptRequest, TargetPolicy};
use control::sessions::{SignalPacket, Transport};
use control::store::Store;
use control::time::now_ns;
use control::voice::VoiceConfig;
use dataplane::parse::{dissect, Dissection};
use dataplane::synth::Frame;
use dataplane::targets::{Matches, TableReplica};
use delivery_common::*;

const PROXY: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 5)), 5060);
/// Alice's phone, and later Dave's (behind the same NAT address).
const ALICE_UA: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20)), 5060);
const CAROL_UA: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 40)), 5060);
const ALICE_RTP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20)), 40000);
const BOB_RTP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 30)), 50000);
const CAROL_RTP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 40)), 41000);
const ERIN_RTP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 50)), 51000);

/// One dialog's SIP as a UA and the proxy exchange it.
struct Dialog {
    call_id: &'static str,
    from: &'static str,
    to: &'static str,
    ua: SocketAddr,
}

impl Dialog {
    /// `first`: request line or status line; `to_tag`: once answered;
    /// `sdp`: where this side receives media.
    fn message(&self, first: &str, cseq: &str, to_tag: bool, sdp: Option<SocketAddr>) -> Vec<u8> {
        let body = sdp.map_or_else(String::new, |m| {
            format!(
                "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
                 m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
                ip = m.ip(),
                port = m.port()
            )
        });
        let mut head = format!(
            "{first}\r\nVia: SIP/2.0/UDP {ua};branch=z9hG4bK-{id}-{cseq_n}\r\n\
             Max-Forwards: 70\r\nFrom: <{from}>;tag=f-{id}\r\nTo: <{to}>{tag}\r\n\
             Call-ID: {id}\r\nCSeq: {cseq}\r\nContact: <sip:ua@{ua}>\r\n",
            ua = self.ua,
            id = self.call_id,
            cseq_n = cseq.split(' ').next().unwrap(),
            from = self.from,
            to = self.to,
            tag = if to_tag {
                format!(";tag=t-{}", self.call_id)
            } else {
                String::new()
            },
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/sdp\r\n");
        }
        format!("{head}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    /// INVITE offering `offer`, 100, 200 answering `answer`, ACK.
    fn setup(&self, offer: SocketAddr, answer: SocketAddr) -> Vec<(bool, Vec<u8>)> {
        let invite = format!("INVITE {} SIP/2.0", self.to);
        vec![
            (true, self.message(&invite, "1 INVITE", false, Some(offer))),
            (
                false,
                self.message("SIP/2.0 100 Trying", "1 INVITE", false, None),
            ),
            (
                false,
                self.message("SIP/2.0 200 OK", "1 INVITE", true, Some(answer)),
            ),
            (
                true,
                self.message(&format!("ACK {} SIP/2.0", self.to), "1 ACK", true, None),
            ),
        ]
    }

    /// BYE and its 200.
    fn hangup(&self) -> Vec<(bool, Vec<u8>)> {
        vec![
            (
                true,
                self.message(&format!("BYE {} SIP/2.0", self.to), "2 BYE", true, None),
            ),
            (false, self.message("SIP/2.0 200 OK", "2 BYE", true, None)),
        ]
    }
}

struct Rig {
    controller: Arc<Controller>,
    glue: VoiceGlue,
    metrics: ProbeMetrics,
    tables: Arc<Mutex<TableReplica>>,
    stop: Arc<AtomicBool>,
    applier: Option<std::thread::JoinHandle<()>>,
    _collector: CollectorProc,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn start(dests: &[&str]) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new(dir.path());
        let collector = CollectorProc::start(&pki, &dir.path().join("out"), 0);
        let store = Store::open(&dir.path().join("p.db"), &dir.path().join("a.jsonl")).unwrap();
        let dests: Vec<_> = dests
            .iter()
            .map(|name| {
                let spool = dir.path().join(format!("spool-{name}"));
                let d = destination(name, &collector.addr, DestinationFormat::X2x3, &pki, &spool);
                store.create_destination(&d, "t").unwrap();
                d
            })
            .collect();
        let metrics = ProbeMetrics::unregistered().unwrap();
        let (_producer, consumer) = dataplane::handoff::channel(64, 2048);
        let engine = HandoverEngine::start_tuned(
            ProbeId::new(identity()).unwrap(),
            dests,
            vec![consumer],
            audit().0,
            metrics.registry(),
            tuning(),
        )
        .unwrap();
        let (writer, mut replicas) = dataplane::targets::replicas(1, 1024);
        let controller = Arc::new(Controller::new(
            store,
            writer,
            Some(engine),
            metrics.clone(),
            Duration::from_secs(10),
            TargetPolicy::default(),
        ));
        // The worker's side of the tables: applies updates as they come.
        let tables = Arc::new(Mutex::new(replicas.remove(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let applier = {
            let (tables, stop) = (Arc::clone(&tables), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    tables.lock().unwrap().apply_pending(usize::MAX);
                    std::thread::sleep(Duration::from_micros(200));
                }
            })
        };
        let cfg: VoiceConfig =
            toml::from_str(&format!("sip_servers = [\"{}\"]", PROXY.ip())).unwrap();
        let glue = VoiceGlue::new(
            &cfg,
            Arc::clone(&controller),
            metrics.clone(),
            Watermark::default(),
        )
        .unwrap();
        Rig {
            controller,
            glue,
            metrics,
            tables,
            stop,
            applier: Some(applier),
            _collector: collector,
            _dir: dir,
        }
    }

    /// Provisions an intercept of `target` through the controller (as the API
    /// does); returns its key once it is active on the worker.
    fn provision(&self, liid: &str, mode: &str, target: &str, dest: &str) -> u32 {
        let req = InterceptRequest {
            liid: liid.into(),
            warrant_ref: "W".into(),
            issuing_authority: "court".into(),
            valid_from: "2026-01-01T00:00:00Z".into(),
            valid_until: "2099-01-01T00:00:00Z".into(),
            mode: mode.into(),
            targets: vec![target.into()],
            destinations: vec![dest.into()],
        };
        let p = self.controller.create_intercept("t", req).unwrap();
        assert!(p.active, "{liid} active");
        p.intercept.key
    }

    /// Gives `dialog`'s messages to the glue (`true`: sent by the UA).
    fn signal(&mut self, dialog: &Dialog, messages: Vec<(bool, Vec<u8>)>) {
        for (from_ua, payload) in messages {
            let (src, dst) = if from_ua {
                (dialog.ua, PROXY)
            } else {
                (PROXY, dialog.ua)
            };
            self.glue.signal(&SignalPacket {
                ts_ns: now_ns(),
                src: src.ip(),
                dst: dst.ip(),
                src_port: src.port(),
                dst_port: dst.port(),
                transport: Transport::Udp,
                payload: &payload,
            });
        }
        self.glue.idle(now_ns());
    }

    /// The intercepts an RTP packet to `to` matches on the worker now.
    fn matched(&self, to: SocketAddr) -> Vec<u32> {
        let IpAddr::V4(dst) = to.ip() else {
            unreachable!()
        };
        let frame = Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(Ipv4Addr::new(192, 0, 2, 99), dst)
            .udp(7078, to.port())
            .payload(&[0x80; 40])
            .build();
        let mut d = Dissection::default();
        dissect(&frame, &mut d).unwrap();
        let mut m = Matches::new();
        self.tables.lock().unwrap().classify(&d, now_ns(), &mut m);
        m.as_slice().iter().map(|m| m.key).collect()
    }

    /// Waits until every one of `endpoints` (and its RTCP port) matches just `keys`.
    fn media(&self, endpoints: &[SocketAddr], keys: &[u32], what: &str) {
        wait_for(30, what, || {
            endpoints.iter().all(|e| {
                let rtcp = SocketAddr::new(e.ip(), e.port() + 1);
                self.matched(*e) == keys && self.matched(rtcp) == keys
            })
        });
    }

    /// PDUs encoded for destination `dest` so far.
    fn pdus(&self, dest: &str) -> f64 {
        self.metrics
            .registry()
            .gather()
            .iter()
            .filter(|f| f.name() == "calea_handover_pdus_total")
            .flat_map(|f| f.get_metric())
            .filter(|m| m.get_label().iter().any(|l| l.value() == dest))
            .map(|m| m.get_counter().get_value())
            .sum()
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.applier.take().unwrap().join().unwrap();
        if let Some(engine) = self.controller.take_handover() {
            engine.shutdown(Duration::from_secs(5));
        }
    }
}

#[test]
fn a_targets_calls_install_their_media_for_the_call_only_and_report_each_sip_message() {
    let mut rig = Rig::start(&["cc", "hdr", "mid"]);
    let cc = rig.provision("LIID-CC", "content", "sip:alice@example.com", "cc");
    rig.provision("LIID-HDR", "headers", "sip:bob@example.com", "hdr");
    // IRI-Begin of each.
    wait_for(30, "IRI-Begin", || {
        rig.pdus("cc") == 1.0 && rig.pdus("hdr") == 1.0
    });

    // Alice calls Bob: her content warrant gets both sides' media, his
    // headers warrant none; both get every SIP message.
    let call = Dialog {
        call_id: "call-1@example.com",
        from: "sip:alice@example.com",
        to: "sip:bob@example.com",
        ua: ALICE_UA,
    };
    rig.signal(&call, call.setup(ALICE_RTP, BOB_RTP));
    rig.media(&[ALICE_RTP, BOB_RTP], &[cc], "the call's media installed");
    assert_eq!(
        rig.metrics.voice_media_endpoints.get(),
        4,
        "RTP and RTCP, both sides"
    );
    rig.signal(&call, call.hangup());
    rig.media(
        &[ALICE_RTP, BOB_RTP],
        &[],
        "the call's media removed at the BYE",
    );
    assert_eq!(rig.metrics.voice_media_endpoints.get(), 0);
    wait_for(30, "a SIP IRI per message", || {
        rig.pdus("cc") == 7.0 && rig.pdus("hdr") == 7.0
    });

    // Dave, behind Alice's NAT address, later gets her media port: not a target.
    let reuse = Dialog {
        call_id: "call-2@example.com",
        from: "sip:dave@example.com",
        to: "sip:frank@example.com",
        ua: ALICE_UA,
    };
    rig.signal(&reuse, reuse.setup(ALICE_RTP, BOB_RTP));
    assert_eq!(rig.metrics.voice_media_endpoints.get(), 0);

    // Carol calls Erin; a warrant for Carol arrives mid-call.
    let mid = Dialog {
        call_id: "call-3@example.com",
        from: "sip:carol@example.com",
        to: "sip:erin@example.com",
        ua: CAROL_UA,
    };
    rig.signal(&mid, mid.setup(CAROL_RTP, ERIN_RTP));
    assert_eq!(rig.metrics.voice_media_endpoints.get(), 0, "no warrant yet");
    let carol = rig.provision("LIID-MID", "content", "sip:carol@example.com", "mid");
    rig.media(
        &[CAROL_RTP, ERIN_RTP],
        &[carol],
        "a call in progress taken at once",
    );
    // Applied in order after Dave's call: whose media was never installed.
    assert!(rig.matched(ALICE_RTP).is_empty() && rig.matched(BOB_RTP).is_empty());
    rig.signal(&mid, mid.hangup());
    rig.media(&[CAROL_RTP, ERIN_RTP], &[], "removed at its BYE");
    wait_for(30, "the mid-call warrant's IRI", || rig.pdus("mid") == 3.0);
    assert_eq!(
        (rig.pdus("cc"), rig.pdus("hdr")),
        (7.0, 7.0),
        "no other call's SIP"
    );
    rig.signal(&reuse, reuse.hangup());

    let parsed = rig
        .metrics
        .voice_sip_messages
        .with_label_values(&["parsed"])
        .get();
    assert_eq!(parsed, 18);
    assert!(rig.metrics.voice_media_latency.get_sample_count() > 0);
    rig.stop();
}

#[test]
fn a_callee_joining_by_a_forwarded_invite_gets_the_call_from_then_on() {
    let mut rig = Rig::start(&["fwd"]);
    let erin = rig.provision("LIID-FWD", "content", "sip:erin@example.com", "fwd");
    wait_for(30, "IRI-Begin", || rig.pdus("fwd") == 1.0);
    // Carol calls Bob; the proxy says it forwards the call (181)...
    let call = Dialog {
        call_id: "call-fwd@example.com",
        from: "sip:carol@example.com",
        to: "sip:bob@example.com",
        ua: CAROL_UA,
    };
    let invite = |ruri: &str| {
        let first = format!("INVITE {ruri} SIP/2.0");
        call.message(&first, "1 INVITE", false, Some(CAROL_RTP))
    };
    let forwarding = call.message("SIP/2.0 181 Forwarded", "1 INVITE", false, None);
    rig.signal(
        &call,
        vec![(true, invite("sip:bob@example.com")), (false, forwarding)],
    );
    assert_eq!(rig.metrics.voice_media_endpoints.get(), 0, "not Erin's yet");
    // ... to Erin, in the same dialog: her warrant takes the call from there.
    let ok = call.message("SIP/2.0 200 OK", "1 INVITE", true, Some(ERIN_RTP));
    let ack = call.message("ACK sip:erin@example.com SIP/2.0", "1 ACK", true, None);
    rig.signal(
        &call,
        vec![
            (false, invite("sip:erin@example.com")),
            (false, ok),
            (true, ack),
        ],
    );
    rig.media(&[CAROL_RTP, ERIN_RTP], &[erin], "the joined callee's media");
    rig.signal(&call, call.hangup());
    rig.media(&[CAROL_RTP, ERIN_RTP], &[], "removed at the BYE");
    // IRI-Begin and the five messages from the forwarded INVITE on.
    wait_for(30, "the SIP from the forwarded INVITE on", || {
        rig.pdus("fwd") == 6.0
    });
    rig.glue.idle(now_ns());
    assert_eq!(rig.pdus("fwd"), 6.0, "nothing before Erin joined");
    rig.stop();
}
