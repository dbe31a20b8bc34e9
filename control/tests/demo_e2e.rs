//! `calea-probe demo` end to end: real EAL on a net_pcap vdev (child process, own
//! --file-prefix), real collector over TLS. Exactly the targets' packets arrive,
//! of the subscriber warrant exactly its RADIUS session's, and of the voice
//! warrant exactly its target's calls.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use dataplane::synth::voice::Step;

#[test]
fn demo_delivers_exactly_the_targets_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let run = Command::new(env!("CARGO_BIN_EXE_calea-probe"))
        .args(["demo", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let received = out.join("received");
    let liids = received.join("liid");
    let mut dirs: Vec<String> = std::fs::read_dir(&liids)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    dirs.sort();
    // Per-LIID directories only: nothing for the eight other subscribers.
    let liid_dirs: Vec<&String> = dirs.iter().filter(|d| liids.join(d).is_dir()).collect();
    assert_eq!(
        liid_dirs,
        [
            "DEMO-CONTENT",
            "DEMO-HEADERS",
            "DEMO-SUBSCRIBER",
            "DEMO-VOICE"
        ],
        "{dirs:?}"
    );

    let content = dataplane::synth::read_pcap(liids.join("DEMO-CONTENT/content.pcap")).unwrap();
    assert_eq!(content.len(), 100, "{stdout}");
    let target = control::demo::CONTENT_TARGET.octets();
    for (_, p) in &content {
        // LINKTYPE_RAW IPv4: the target is the source or the destination.
        assert!(
            p[12..16] == target || p[16..20] == target,
            "foreign packet {p:02x?}"
        );
    }
    assert!(
        !liids.join("DEMO-HEADERS/content.pcap").exists() || {
            dataplane::synth::read_pcap(liids.join("DEMO-HEADERS/content.pcap"))
                .unwrap()
                .is_empty()
        },
        "headers intercept delivered content"
    );
    assert!(
        stdout.contains("DEMO-HEADERS    content packets    0  header reports  100"),
        "{stdout}"
    );

    // The subscriber warrant: exactly the packets of its address between the
    // RADIUS Start and Stop (tagged 1..=N by UDP destination port, both
    // directions), none of those after the Stop; then the session IRI.
    let subscriber = liids.join(control::demo::SUBSCRIBER_LIID);
    let session = dataplane::synth::read_pcap(subscriber.join("content.pcap")).unwrap();
    let address = control::demo::SUBSCRIBER_ADDRESS.octets();
    let tags: Vec<u16> = session
        .iter()
        .map(|(_, p)| {
            // Even tags go to the subscriber, odd ones come from it.
            let tag = u16::from_be_bytes([p[22], p[23]]);
            let side = if tag.is_multiple_of(2) {
                &p[16..20]
            } else {
                &p[12..16]
            };
            assert_eq!(side, address, "packet {tag} of another address");
            tag
        })
        .collect();
    assert_eq!(
        tags,
        (1..=control::demo::SESSION_PACKETS).collect::<Vec<_>>(),
        "{stdout}"
    );
    let iri: Vec<serde_json::Value> = std::fs::read_to_string(subscriber.join("iri.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&str> = iri
        .iter()
        .map(|v| v["record"]["accessEventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "startOfInterceptionWithSessionActive",
            "sessionStart",
            "sessionEnd"
        ],
        "the intercept's IRI-Begin, then the session's"
    );
    for v in &iri[1..] {
        let r = &v["record"];
        assert_eq!(r["targetUsername"], control::demo::SUBSCRIBER, "{r}");
        assert_eq!(
            r["targetIPAddress"],
            control::demo::SUBSCRIBER_ADDRESS.to_string(),
            "{r}"
        );
    }
    assert!(
        stdout.contains(
            "DEMO-SUBSCRIBER IRI: startOfInterceptionWithSessionActive, sessionStart, sessionEnd"
        ),
        "{stdout}"
    );
    // The voice warrant: each of alice's calls under its own correlation
    // number, with its SIP messages and RTP packets exactly; nothing of the
    // other subscriber's call on the same media ports after hers.
    let calls = dataplane::synth::voice::demo(control::demo::VOICE_RTP_EACH);
    let mut want: Vec<_> = calls
        .calls
        .iter()
        .filter(|c| c.target)
        .map(|c| (c.sip.clone(), c.rtp.clone()))
        .collect();
    want.sort();
    let mut got: Vec<_> = control::demo::delivered_calls(&liids.join(control::demo::VOICE_LIID))
        .into_iter()
        .map(|c| (c.sip, c.rtp))
        .collect();
    got.sort();
    assert_eq!(
        got.len(),
        want.len(),
        "one correlation number per call: {stdout}"
    );
    assert!(got == want, "exactly the target's calls: {stdout}");
    let sip: usize = want.iter().map(|(s, _)| s.len()).sum();
    let rtp: usize = want.iter().map(|(_, r)| r.len()).sum();
    assert!(
        stdout.contains(&format!(
            "DEMO-VOICE on sip:alice@example.com: calls {} SIP messages {sip} RTP packets {rtp} ",
            want.len()
        )),
        "{stdout}"
    );
    // The daemon stopped on SIGTERM with its final counters: the worker and
    // the net_pcap port saw every frame of the capture, none missed or dropped.
    let frames = dataplane::synth::read_pcap(out.join("capture.pcap"))
        .unwrap()
        .len();
    let line = |prefix: &str| {
        stdout
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in {stdout}"))
    };
    let worker = line("worker 0: ");
    assert!(
        worker.starts_with(&format!("worker 0: rx_packets={frames} ")),
        "{worker}"
    );
    assert!(
        worker.contains(" handoff_drops=0 parse_errors=0 "),
        "{worker}"
    );
    // 200 of the address targets, 2 RADIUS, the session's 10, and up to the 4
    // after the Stop (those the worker read before the Stop's removal reached
    // it; the gate refused them, as the content above shows); every SIP
    // frame, the target's RTP, and up to all other RTP on its media ports
    // (likewise read before the media's removal reached the worker).
    let all_rtp: usize = calls.calls.iter().map(|c| c.rtp.len()).sum();
    let voice_frames = calls.steps.iter().filter(|s| matches!(s, Step::Frame(_)));
    let sip_frames = (voice_frames.count() - all_rtp) as u64;
    let matches: u64 = worker
        .split_once(" matches=")
        .and_then(|(_, r)| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (212 + sip_frames + rtp as u64..=216 + sip_frames + all_rtp as u64).contains(&matches),
        "{worker}"
    );
    let port = line("port 0: ");
    assert!(
        port.starts_with(&format!("port 0: ipackets={frames} ")),
        "{port}"
    );
    assert!(port.ends_with(" imissed=0 ierrors=0 rx_nombuf=0"), "{port}");
}

/// README's first command as a new user runs it: no arguments, the default
/// (relative) output folder, from a fresh folder; then once more over it.
#[test]
fn demo_with_its_default_folder_from_a_fresh_folder() {
    let cwd = tempfile::tempdir().unwrap();
    for run in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_calea-probe"))
            .arg("demo")
            .current_dir(cwd.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "run {run}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let config = std::fs::read_to_string(cwd.path().join("calea-demo/probe.toml")).unwrap();
        let db = cwd.path().join("calea-demo/probe.db");
        assert!(config.contains(&format!("database = \"{}\"", db.display())));
        assert!(db.is_file());
    }
}

#[test]
fn demo_refuses_a_folder_that_holds_something_else() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.tex"), "keep me").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_calea-probe"))
        .args(["demo", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("holds no earlier demo"), "{stderr}");
    assert!(dir.path().join("thesis.tex").is_file());
}
