//! ETSI TS 103 221-1 X1 against the real daemon: every request type, the
//! standard's error codes, hostile input (DTD/entities, 10 MB, schema-invalid,
//! wrong certificates), one model shared with the REST API, and every document
//! exchanged checked by xmlschema against the shared XSD.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod daemon_harness;
mod x1_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::time::Duration;

use control::x1::client::X1Client;
use control::x1::message::{
    write_request, DeliveryAddress, DeliveryType, DestinationDetails, Kind, Ports, Request,
    TargetIdentifier,
};
use daemon_harness::{eventually, free_port, mkfifo, Feed, Probe, Setup};
use dataplane::synth::Frame;
use serde_json::Value;
use uuid::Uuid;
use x1_support::*;

async fn rest_intercepts(setup: &Setup) -> Vec<Value> {
    let v = setup.client("admin").list_intercepts().await.unwrap();
    v.as_array().unwrap().clone()
}

fn by_xid(all: &[Value], xid: Uuid) -> Value {
    all.iter()
        .find(|i| i["xid"] == xid.to_string())
        .cloned()
        .unwrap_or_else(|| panic!("no intercept with XID {xid} over REST"))
}

async fn audit(setup: &Setup) -> Vec<Value> {
    let v = setup.client("auditor").audit(0, 10_000).await.unwrap();
    v.as_array().unwrap().clone()
}

/// Refusal records of X1 with `code`.
fn refusals(records: &[Value], code: u32) -> Vec<Value> {
    records
        .iter()
        .filter(|r| {
            r["action"] == "request_refused"
                && r["details"]["interface"] == "x1"
                && r["details"]["error_code"] == code
        })
        .cloned()
        .collect()
}

/// A probe with an X1 NE on an empty capture, the ADMF talking to it, and
/// the NE's port.
fn start_ne(setup: &Setup) -> (Probe, Admf, u16) {
    let x1_port = free_port();
    dataplane::synth::write_pcap(setup.path("empty.pcap"), &[]).unwrap();
    let config = setup.write_config("empty.pcap", &x1_block(setup, x1_port, "probe"));
    (
        Probe::start(&config),
        Admf::new(setup, x1_port, ADMF),
        x1_port,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn x1_ne_end_to_end() {
    let setup = Setup::new();
    let (probe, mut admf, x1_port) = start_ne(&setup);
    let shared = shared_dir();

    // Ping and Keepalive; the shared Ping sample is answered as such.
    admf.ok(Kind::Ping, Request::Empty).await;
    admf.ok(Kind::Keepalive, Request::Empty).await;
    let sample = |name: &str| {
        shared
            .as_ref()
            .map(|d| std::fs::read_to_string(d.join("specs/samples").join(name)).unwrap())
    };
    if let Some(ping) = sample("PingRequest_example.xml") {
        let (status, body) = admf.raw(ping, true).await;
        assert_eq!(status, 200);
        assert!(
            body.contains("PingResponse") && body.contains("3741800e-971b-4aa9-85f4-466d2b1adc7f")
        );
    }

    // Destinations.
    let (d1, d2) = (Uuid::new_v4(), Uuid::new_v4());
    admf.ok(
        Kind::CreateDestination,
        Request::Destination(destination(d1, 40_001)),
    )
    .await;
    admf.refused(
        Kind::CreateDestination,
        Request::Destination(destination(d1, 40_001)),
        2030,
    )
    .await;
    let udp = DestinationDetails {
        address: DeliveryAddress::Uri("udp://127.0.0.1:9".into()),
        ..destination(d2, 40_002)
    };
    admf.refused(Kind::CreateDestination, Request::Destination(udp), 6020)
        .await;
    admf.ok(
        Kind::ModifyDestination,
        Request::Destination(destination(d1, 40_003)),
    )
    .await;
    admf.refused(
        Kind::ModifyDestination,
        Request::Destination(destination(d2, 40_003)),
        2040,
    )
    .await;
    let got = admf
        .send(Kind::GetDestinationDetails, Request::Did(d1))
        .await;
    assert_eq!(got.destinations[0].0, destination(d1, 40_003));
    admf.refused(Kind::GetDestinationDetails, Request::Did(d2), 2040)
        .await;
    let rest_dests = setup.client("admin").list_destinations().await.unwrap();
    assert!(
        rest_dests.to_string().contains(&d1.to_string()),
        "{rest_dests}"
    );

    // The shared ActivateTask sample is valid X1: its target (an E.164 number)
    // is a tel: target, its destination is not configured here.
    if let Some(activate) = sample("ActivateTaskRequest_example.xml") {
        let (status, body) = admf.raw(activate, true).await;
        assert_eq!(status, 200);
        assert!(body.contains("<x1:errorCode>2040</x1:errorCode>"), "{body}");
    }

    // ActivateTask: an intercept with the task's XID, visible over REST.
    let xid = Uuid::new_v4();
    let v4 = TargetIdentifier::Ipv4(Ipv4Addr::new(198, 51, 100, 7));
    admf.ok(
        Kind::ActivateTask,
        Request::ActivateTask(task(xid, vec![v4.clone()], vec![d1])),
    )
    .await;
    let rest = by_xid(&rest_intercepts(&setup).await, xid);
    assert_eq!(
        (
            rest["origin"].as_str(),
            rest["state"].as_str(),
            rest["mode"].as_str()
        ),
        (Some("x1"), Some("active"), Some("content"))
    );
    assert_eq!(rest["targets"], serde_json::json!(["198.51.100.7"]));
    assert_eq!(rest["created_by"], ADMF);

    // An NAI is the probe's username target, given back as NAI; ModifyTask
    // replaces it.
    let nai_xid = Uuid::new_v4();
    let nai = TargetIdentifier::Nai("alice@ISP.example".into());
    admf.ok(
        Kind::ActivateTask,
        Request::ActivateTask(task(nai_xid, vec![nai], vec![d1])),
    )
    .await;
    let rest = by_xid(&rest_intercepts(&setup).await, nai_xid);
    assert_eq!(
        rest["targets"],
        serde_json::json!(["username:alice@isp.example"])
    );
    let got = admf.send(Kind::GetTaskDetails, Request::Xid(nai_xid)).await;
    assert_eq!(
        got.tasks[0].0.targets,
        [TargetIdentifier::Nai("alice@isp.example".into())]
    );
    let bob = vec![TargetIdentifier::Nai("bob".into())];
    admf.ok(
        Kind::ModifyTask,
        Request::ModifyTask(task(nai_xid, bob.clone(), vec![d1])),
    )
    .await;
    let got = admf.send(Kind::GetTaskDetails, Request::Xid(nai_xid)).await;
    assert_eq!(got.tasks[0].0.targets, bob);
    admf.ok(Kind::DeactivateTask, Request::Xid(nai_xid)).await;

    // Voice targets: a SIP URI and an E.164 number are the probe's sip:/tel:
    // identities in canonical form, given back as sipUri/telUri.
    let voice_xid = Uuid::new_v4();
    let voice = vec![
        TargetIdentifier::SipUri("sip:alice@Example.COM;transport=udp".into()),
        TargetIdentifier::E164("15551234567".into()),
    ];
    admf.ok(
        Kind::ActivateTask,
        Request::ActivateTask(task(voice_xid, voice, vec![d1])),
    )
    .await;
    let rest = by_xid(&rest_intercepts(&setup).await, voice_xid);
    let mut targets: Vec<String> = serde_json::from_value(rest["targets"].clone()).unwrap();
    targets.sort();
    assert_eq!(targets, ["sip:alice@example.com", "tel:+15551234567"]);
    let got = admf
        .send(Kind::GetTaskDetails, Request::Xid(voice_xid))
        .await;
    let mut shown = got.tasks[0].0.targets.clone();
    shown.sort_by_key(|t| format!("{t:?}"));
    assert_eq!(
        shown,
        [
            TargetIdentifier::SipUri("sip:alice@example.com".into()),
            TargetIdentifier::TelUri("tel:+15551234567".into()),
        ]
    );
    let bad_sip = vec![TargetIdentifier::SipUri("sip:example.com".into())];
    admf.refused(
        Kind::ModifyTask,
        Request::ModifyTask(task(voice_xid, bad_sip, vec![d1])),
        3001,
    )
    .await;
    admf.ok(Kind::DeactivateTask, Request::Xid(voice_xid)).await;
    let count = rest_intercepts(&setup).await.len();

    // Errors on ActivateTask: nothing stored.
    admf.refused(
        Kind::ActivateTask,
        Request::ActivateTask(task(xid, vec![v4.clone()], vec![d1])),
        2010,
    )
    .await;
    let other = Uuid::new_v4();
    admf.refused(
        Kind::ActivateTask,
        Request::ActivateTask(task(other, vec![v4.clone()], vec![d2])),
        2040,
    )
    .await;
    let mut with_imsi = write_request(
        "admfID",
        NE,
        &[(
            Uuid::new_v4(),
            Kind::ActivateTask,
            Request::ActivateTask(task(other, vec![v4.clone()], vec![d1])),
        )],
    );
    with_imsi = with_imsi.replace(
        "<x1:ipv4Address>198.51.100.7</x1:ipv4Address>",
        "<x1:imsi>001010123456789</x1:imsi>",
    );
    let (_, body) = admf.raw(with_imsi, true).await;
    assert!(body.contains("<x1:errorCode>3010</x1:errorCode>"), "{body}");
    let schema_bad = write_request(
        "admfID",
        NE,
        &[(
            Uuid::new_v4(),
            Kind::ActivateTask,
            Request::ActivateTask(task(other, vec![v4.clone()], vec![d1])),
        )],
    )
    .replace(
        "<x1:ipv4Address>198.51.100.7</x1:ipv4Address>",
        "<x1:ipv6Address>2001:db8::1</x1:ipv6Address>",
    );
    let (status, body) = admf.raw(schema_bad, false).await;
    assert_eq!(status, 200);
    assert!(body.contains("<x1:errorCode>1010</x1:errorCode>"), "{body}");
    let bad_delivery = write_request(
        "admfID",
        NE,
        &[(
            Uuid::new_v4(),
            Kind::ActivateTask,
            Request::ActivateTask(task(other, vec![v4.clone()], vec![d1])),
        )],
    )
    .replace(">X2andX3<", ">X2AndX3<");
    let (_, body) = admf.raw(bad_delivery, false).await;
    assert!(body.contains("<x1:errorCode>1010</x1:errorCode>"), "{body}");
    // Two messages, the second invalid: neither is acted on.
    let pair = write_request(
        "admfID",
        NE,
        &[
            (
                Uuid::new_v4(),
                Kind::ActivateTask,
                Request::ActivateTask(task(other, vec![v4.clone()], vec![d1])),
            ),
            (Uuid::new_v4(), Kind::DeactivateTask, Request::Xid(xid)),
        ],
    )
    .replace(
        &format!("<x1:xId>{xid}</x1:xId>"),
        "<x1:xId>not-a-uuid</x1:xId>",
    );
    let (_, body) = admf.raw(pair, false).await;
    assert!(
        body.contains("<x1:errorCode>1000</x1:errorCode>")
            && body.contains("<x1:errorCode>1010</x1:errorCode>"),
        "{body}"
    );
    assert_eq!(
        rest_intercepts(&setup).await.len(),
        count,
        "a refused ActivateTask stored something"
    );

    // Wrong neIdentifier.
    let wrong_ne = write_request(
        "admfID",
        "someone-else",
        &[(Uuid::new_v4(), Kind::Ping, Request::Empty)],
    );
    let (_, body) = admf.raw(wrong_ne, true).await;
    assert!(body.contains("<x1:errorCode>1060</x1:errorCode>"), "{body}");

    // GetTaskDetails and ModifyTask.
    let got = admf.send(Kind::GetTaskDetails, Request::Xid(xid)).await;
    let (details, status) = &got.tasks[0];
    assert_eq!(
        (
            details.xid,
            details.targets.clone(),
            details.dids.clone(),
            status.as_str()
        ),
        (xid, vec![v4.clone()], vec![d1], "complete")
    );
    let v6 = TargetIdentifier::Ipv6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7));
    let mac = TargetIdentifier::Mac([2, 0, 0x5e, 0, 0x53, 1]);
    let cidr = TargetIdentifier::Cidr(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 0)), 24);
    let modified = vec![v6.clone(), mac.clone(), cidr.clone()];
    admf.ok(
        Kind::ModifyTask,
        Request::ModifyTask(task(xid, modified.clone(), vec![d1])),
    )
    .await;
    let rest = by_xid(&rest_intercepts(&setup).await, xid);
    assert_eq!(
        rest["targets"],
        serde_json::json!(["2001:db8::7", "02:00:5e:00:53:01", "203.0.113.0/24"])
    );
    let got = admf.send(Kind::GetTaskDetails, Request::Xid(xid)).await;
    assert_eq!(got.tasks[0].0.targets, modified);
    admf.refused(
        Kind::ModifyTask,
        Request::ModifyTask(task(other, modified.clone(), vec![d1])),
        2020,
    )
    .await;
    let mut headers = task(xid, modified.clone(), vec![d1]);
    headers.delivery = DeliveryType::X2Only;
    admf.refused(Kind::ModifyTask, Request::ModifyTask(headers), 3001)
        .await;

    // A REST intercept is a task over X1 too.
    let rest_req = serde_json::json!({
        "liid": "REST-1", "warrant_ref": "W-1", "issuing_authority": "Court",
        "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z",
        "mode": "headers", "targets": ["192.0.2.44"], "destinations": [d1.to_string()],
    });
    let created = setup
        .client("prov")
        .create_intercept(&rest_req)
        .await
        .unwrap();
    assert_eq!(created["origin"], "rest");
    let rest_xid: Uuid = created["xid"].as_str().unwrap().parse().unwrap();
    let list = admf.send(Kind::ListAllDetails, Request::Empty).await;
    assert_eq!(
        (list.xids.clone(), list.dids.clone()),
        (vec![xid, rest_xid], vec![d1])
    );
    let got = admf
        .send(Kind::GetTaskDetails, Request::Xid(rest_xid))
        .await;
    assert_eq!(got.tasks[0].0.delivery, DeliveryType::X2Only);

    // Status and bulk reads.
    let st = admf.send(Kind::GetNeStatus, Request::Empty).await;
    assert_eq!(st.ne_status.as_deref(), Some("OK"));
    let all = admf.send(Kind::GetAllDetails, Request::Empty).await;
    assert_eq!((all.tasks.len(), all.destinations.len()), (2, 1));
    assert_eq!(
        admf.send(Kind::GetAllTaskDetails, Request::Empty)
            .await
            .tasks
            .len(),
        2
    );
    assert_eq!(
        admf.send(Kind::GetAllDestinationDetails, Request::Empty)
            .await
            .destinations
            .len(),
        1
    );

    // Removing a destination in use, unknown XIDs.
    admf.refused(Kind::RemoveDestination, Request::Did(d1), 7010)
        .await;
    admf.refused(Kind::RemoveAllDestinations, Request::Empty, 8010)
        .await;
    admf.refused(Kind::DeactivateTask, Request::Xid(other), 2020)
        .await;
    admf.refused(Kind::GetTaskDetails, Request::Xid(other), 2020)
        .await;

    // Hostile documents: a top-level error, nothing acted on.
    let bomb = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>{}",
        write_request("admfID", NE, &[(Uuid::new_v4(), Kind::DeactivateTask, Request::Xid(xid))])
            .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .replace(&format!(">{xid}<"), ">&lol2;<")
    );
    let (status, body) = admf.raw(bomb, false).await;
    assert!(
        status == 400 && body.contains("X1TopLevelErrorResponse"),
        "{status} {body}"
    );
    let external = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY ext SYSTEM \"file:///etc/passwd\">]><x>&ext;</x>";
    let (status, body) = admf.raw(external.into(), false).await;
    assert!(status == 400 && !body.contains("root:"), "{status} {body}");
    let (status, _) = admf.raw("<not-x1".into(), false).await;
    assert_eq!(status, 400);
    let huge = format!(
        "<x1:X1Request xmlns:x1=\"http://uri.etsi.org/03221/X1/2017/10\">{}</x1:X1Request>",
        " ".repeat(10 << 20)
    );
    match admf.client.post_raw(huge.into_bytes()).await {
        Ok((status, body)) => {
            assert!(
                status == 413 && body.contains("X1TopLevelErrorResponse"),
                "{status} {body}"
            );
            admf.log.push((body, true));
        }
        // The NE may answer and close before the client finished sending.
        Err(e) => eprintln!("10 MB body: connection closed early ({e})"),
    }
    assert_eq!(
        by_xid(&rest_intercepts(&setup).await, xid)["state"],
        "active"
    );

    // Identities: a certificate of our CA that is not an ADMF gets an X1
    // error; one of another CA does not get past TLS. Both are audited.
    let mut stranger = Admf::new(&setup, x1_port, "stranger");
    stranger
        .refused(Kind::DeactivateTask, Request::Xid(xid), 1030)
        .await;
    admf.log.append(&mut stranger.log);
    let other_pki = tempfile::tempdir().unwrap();
    let evil = control::pki::generate_bundle(other_pki.path(), &["evil"]).unwrap();
    let (cert, key) = evil.client("evil").unwrap();
    let outsider = X1Client::new(
        &format!("https://127.0.0.1:{x1_port}"),
        &setup.certs.ca,
        cert,
        key,
        "evil",
        NE,
    )
    .unwrap();
    assert!(outsider.post_raw(b"<x/>".to_vec()).await.is_err());
    assert_eq!(
        by_xid(&rest_intercepts(&setup).await, xid)["state"],
        "active"
    );

    // The CLI is an ADMF client of the same NE.
    let (cert, key) = setup.certs.client(ADMF).unwrap();
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_calea-probe"))
            .arg("x1")
            .args(args)
            .env("CALEA_X1", format!("https://127.0.0.1:{x1_port}"))
            .env("CALEA_X1_NE", NE)
            .env("CALEA_CA", &setup.certs.ca)
            .env("CALEA_CERT", cert)
            .env("CALEA_KEY", key)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(
        cli(&["ping"]),
        (true, "PingResponse AcknowledgedAndCompleted\n".into())
    );
    let (ok, listed) = cli(&["list"]);
    assert!(ok && listed.contains(&format!("xId {xid}")), "{listed}");
    let (ok, shown) = cli(&["show", &other.to_string()]);
    assert!(!ok && shown.contains("error 2020"), "{shown}");

    // Voice and session identities from the CLI go out as sipUri, telUri,
    // e164Number and nai (the document it writes is schema-checked below).
    let typed = [
        "sip:Carol@Example.COM",
        "tel:+1-555-123-0002",
        "e164:15551230003",
        "username:carol@ISP.example",
    ];
    let written: Vec<TargetIdentifier> = typed
        .iter()
        .map(|t| TargetIdentifier::parse("--target", t).unwrap())
        .collect();
    assert_eq!(
        written,
        [
            // The user part is case-sensitive (RFC 3261 §19.1.4), the host is not.
            TargetIdentifier::SipUri("sip:Carol@example.com".into()),
            TargetIdentifier::TelUri("tel:+15551230002".into()),
            TargetIdentifier::E164("15551230003".into()),
            TargetIdentifier::Nai("carol@isp.example".into()),
        ]
    );
    let cli_xid = Uuid::new_v4();
    let request = Request::ActivateTask(task(cli_xid, written, vec![d1]));
    let items = [(Uuid::new_v4(), Kind::ActivateTask, request)];
    admf.log.push((write_request(ADMF, NE, &items), true));
    let (xid_arg, did_arg) = (cli_xid.to_string(), d1.to_string());
    let mut args = vec!["activate", "--xid", &xid_arg, "--did", &did_arg];
    for t in typed {
        args.extend(["--target", t]);
    }
    let (ok, out) = cli(&args);
    assert_eq!(
        (ok, out.as_str()),
        (true, "ActivateTaskResponse AcknowledgedAndCompleted\n")
    );
    let rest = by_xid(&rest_intercepts(&setup).await, cli_xid);
    let mut targets: Vec<String> = serde_json::from_value(rest["targets"].clone()).unwrap();
    targets.sort();
    assert_eq!(
        targets,
        [
            "sip:Carol@example.com",
            "tel:+15551230002",
            "tel:+15551230003",
            "username:carol@isp.example"
        ]
    );
    // An address with ports: the CLI sends the address and the ports as
    // separate identifiers, and the task intercepts the address on each port.
    let ports_xid = Uuid::new_v4().to_string();
    let mut args = vec!["activate", "--xid", &ports_xid, "--did", &did_arg];
    for t in ["198.51.100.77", "udpPort:5060", "tcpPortRange:8000-8001"] {
        args.extend(["--target", t]);
    }
    let (ok, out) = cli(&args);
    assert!(ok, "{out}");
    let rest = by_xid(&rest_intercepts(&setup).await, ports_xid.parse().unwrap());
    let mut targets: Vec<String> = serde_json::from_value(rest["targets"].clone()).unwrap();
    targets.sort();
    assert_eq!(
        targets,
        [
            "tcp:198.51.100.77:8000",
            "tcp:198.51.100.77:8001",
            "udp:198.51.100.77:5060"
        ]
    );
    let (ok, out) = cli(&["deactivate", &ports_xid]);
    assert!(ok, "{out}");
    // An identity X1 has no identifier for is refused before anything is sent.
    let mac = Uuid::new_v4().to_string();
    let (ok, _) = cli(&[
        "activate",
        "--xid",
        &mac,
        "--target",
        "dhcp-client-mac:00:11:22:33:44:55",
    ]);
    assert!(!ok);
    assert!(rest_intercepts(&setup)
        .await
        .iter()
        .all(|i| i["xid"] != mac.as_str()));

    // DeactivateTask, DeactivateAllTasks (the REST intercept too), RemoveAllDestinations.
    admf.ok(Kind::DeactivateTask, Request::Xid(xid)).await;
    assert_eq!(
        by_xid(&rest_intercepts(&setup).await, xid)["state"],
        "deactivated"
    );
    admf.refused(Kind::DeactivateTask, Request::Xid(xid), 2020)
        .await;
    admf.refused(
        Kind::ActivateTask,
        Request::ActivateTask(task(xid, vec![v4.clone()], vec![d1])),
        2010,
    )
    .await;
    admf.ok(Kind::DeactivateAllTasks, Request::Empty).await;
    assert_eq!(
        by_xid(&rest_intercepts(&setup).await, rest_xid)["state"],
        "deactivated"
    );
    admf.ok(Kind::RemoveAllDestinations, Request::Empty).await;
    let list = admf.send(Kind::ListAllDetails, Request::Empty).await;
    assert!(list.xids.is_empty() && list.dids.is_empty(), "{list:?}");

    // The audit chain: changes with the ADMF as actor, every refusal.
    let records = audit(&setup).await;
    let created = records
        .iter()
        .find(|r| r["action"] == "intercept_create" && r["details"]["xid"] == xid.to_string())
        .unwrap();
    assert_eq!(
        (
            created["actor"].as_str(),
            created["details"]["origin"].as_str()
        ),
        (Some(ADMF), Some("x1"))
    );
    for code in [
        2010, 2020, 2030, 2040, 3010, 1010, 1000, 1060, 7010, 8010, 3001, 6020,
    ] {
        assert!(
            !refusals(&records, code).is_empty(),
            "no audited refusal with code {code}"
        );
    }
    let stranger_refusal = &refusals(&records, 1030)[0];
    assert_eq!(stranger_refusal["actor"], "stranger");
    assert!(records
        .iter()
        .any(|r| r["action"] == "request_unauthenticated" && r["details"]["interface"] == "x1"));
    assert!(
        refusals(&records, 1010).len() >= 5,
        "DTD, external entity, malformed and schema errors are audited"
    );

    probe.stop();
    if let Some(shared) = shared {
        validate_all(setup.dir.path(), &shared, &admf.log);
    }
}

/// Address + port targets: a task's addresses with its ports become the
/// probe's `tcp:`/`udp:` endpoint targets (each address with each port),
/// answered back as the same addresses and ports; a port without an address,
/// or next to a prefix, is refused with 3010, too many endpoints with 3000
/// (3001 on ModifyTask), nothing stored and every refusal audited.
#[tokio::test(flavor = "multi_thread")]
async fn x1_address_and_port_targets() {
    let setup = Setup::new();
    let (probe, mut admf, _) = start_ne(&setup);
    let did = Uuid::new_v4();
    admf.ok(
        Kind::CreateDestination,
        Request::Destination(destination(did, 40_011)),
    )
    .await;
    let v4 = TargetIdentifier::Ipv4(Ipv4Addr::new(198, 51, 100, 7));
    let v6 = TargetIdentifier::Ipv6("2001:db8::7".parse().unwrap());
    let ports = |tcp, ports| TargetIdentifier::Ports { tcp, ports };
    let sorted = |mut v: Vec<TargetIdentifier>| {
        v.sort_by_key(|t| format!("{t:?}"));
        v
    };
    let stored = |all: &[Value], xid| {
        let mut t: Vec<String> = by_xid(all, xid)["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };

    // An address and a TCP port: that endpoint only, not the address.
    let web = Uuid::new_v4();
    let web_task = vec![v4.clone(), ports(true, Ports::One(443))];
    admf.ok(
        Kind::ActivateTask,
        Request::ActivateTask(task(web, web_task.clone(), vec![did])),
    )
    .await;
    assert_eq!(
        stored(&rest_intercepts(&setup).await, web),
        ["tcp:198.51.100.7:443"]
    );
    let got = admf.send(Kind::GetTaskDetails, Request::Xid(web)).await;
    assert_eq!(sorted(got.tasks[0].0.targets.clone()), sorted(web_task));

    // Two addresses (both families) and a UDP port range: 2 × 4 endpoints.
    let media = Uuid::new_v4();
    let media_task = vec![
        v4.clone(),
        v6.clone(),
        ports(false, Ports::Range(5000, 5003)),
    ];
    admf.ok(
        Kind::ActivateTask,
        Request::ActivateTask(task(media, media_task.clone(), vec![did])),
    )
    .await;
    let mut want: Vec<String> = (5000..=5003)
        .flat_map(|p| {
            [
                format!("udp:198.51.100.7:{p}"),
                format!("udp:[2001:db8::7]:{p}"),
            ]
        })
        .collect();
    want.sort();
    assert_eq!(stored(&rest_intercepts(&setup).await, media), want);
    let got = admf.send(Kind::GetTaskDetails, Request::Xid(media)).await;
    assert_eq!(sorted(got.tasks[0].0.targets.clone()), sorted(media_task));

    // ModifyTask to a TCP port list and a UDP port: the endpoints follow.
    let modified = vec![
        v4.clone(),
        ports(true, Ports::List(vec![443, 8443])),
        ports(false, Ports::One(53)),
    ];
    admf.ok(
        Kind::ModifyTask,
        Request::ModifyTask(task(web, modified.clone(), vec![did])),
    )
    .await;
    assert_eq!(
        stored(&rest_intercepts(&setup).await, web),
        [
            "tcp:198.51.100.7:443",
            "tcp:198.51.100.7:8443",
            "udp:198.51.100.7:53"
        ]
    );
    let got = admf.send(Kind::GetTaskDetails, Request::Xid(web)).await;
    assert_eq!(sorted(got.tasks[0].0.targets.clone()), sorted(modified));

    // Refused, nothing stored: a port alone, a port with a prefix, and
    // more endpoints than a task may have (65 536 ports on one address).
    let before = rest_intercepts(&setup).await.len();
    let cidr = TargetIdentifier::Cidr(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 0)), 24);
    for (targets, code) in [
        (vec![ports(true, Ports::One(443))], 3010),
        (vec![cidr, ports(false, Ports::List(vec![53, 123]))], 3010),
        (vec![v6.clone(), ports(false, Ports::Range(0, 65535))], 3000),
    ] {
        admf.refused(
            Kind::ActivateTask,
            Request::ActivateTask(task(Uuid::new_v4(), targets, vec![did])),
            code,
        )
        .await;
    }
    admf.refused(
        Kind::ModifyTask,
        Request::ModifyTask(task(
            web,
            vec![v4.clone(), v6.clone(), ports(true, Ports::Range(2, 4000))],
            vec![did],
        )),
        3001,
    )
    .await;
    assert_eq!(rest_intercepts(&setup).await.len(), before);
    let got = admf.send(Kind::GetTaskDetails, Request::Xid(web)).await;
    assert_eq!(
        got.tasks[0].0.targets.len(),
        3,
        "ModifyTask left it as it was"
    );
    let records = audit(&setup).await;
    assert!(refusals(&records, 3010).len() >= 2, "port refusals audited");
    assert!(!refusals(&records, 3000).is_empty(), "too many audited");
    assert!(!refusals(&records, 3001).is_empty(), "too many audited");

    probe.stop();
    if let Some(shared) = shared_dir() {
        validate_all(setup.dir.path(), &shared, &admf.log);
    }
}

/// The tag (last byte) of every packet the collector wrote for `xid`, in order.
fn delivered_tags(out: &std::path::Path, xid: Uuid) -> Vec<u8> {
    let path = control::collector::liid_dir(out, &xid.to_string()).join("content.pcap");
    dataplane::synth::read_pcap(&path)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(_, p)| p.last().copied())
        .collect()
}

/// Packet by packet through the daemon: an X1 task of an address and a TCP
/// port gets that address's segments on that port (either side) only, not
/// its UDP on the same port nor its TCP on another; a task of an address and
/// a UDP port range likewise for UDP. The last frame of each task's traffic
/// is one of its own: anything wrongly delivered arrives before it.
#[tokio::test(flavor = "multi_thread")]
async fn x1_port_targets_deliver_only_their_ports() {
    let setup = Setup::new();
    let x1_port = free_port();
    let collector_port = free_port();
    let _collector = setup.collector(collector_port, "out");
    mkfifo(&setup.path("feed.pcap"));
    let opening = Feed::open(&setup.path("feed.pcap"));
    let config = setup.write_net_pcap_config("feed.pcap", &x1_block(&setup, x1_port, "probe"));
    let probe = Probe::start(&config);
    let mut feed = opening.join().unwrap();
    let mut admf = Admf::new(&setup, x1_port, ADMF);
    let did = Uuid::new_v4();
    admf.ok(
        Kind::CreateDestination,
        Request::Destination(destination(did, collector_port)),
    )
    .await;
    let (web, media) = (Uuid::new_v4(), Uuid::new_v4());
    let (a, b, far) = (
        Ipv4Addr::new(198, 51, 100, 7),
        Ipv4Addr::new(198, 51, 100, 8),
        Ipv4Addr::new(192, 0, 2, 1),
    );
    let port_task = |xid, addr, tcp, ports| {
        Request::ActivateTask(task(
            xid,
            vec![
                TargetIdentifier::Ipv4(addr),
                TargetIdentifier::Ports { tcp, ports },
            ],
            vec![did],
        ))
    };
    admf.ok(Kind::ActivateTask, port_task(web, a, true, Ports::One(443)))
        .await;
    admf.ok(
        Kind::ActivateTask,
        port_task(media, b, false, Ports::Range(5000, 5001)),
    )
    .await;
    let eth = || Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let frames: Vec<(Frame, u8)> = vec![
        (eth().ipv4(a, far).tcp(443, 40_000), 1),
        (eth().ipv4(a, far).udp(443, 40_000), 2),
        (eth().ipv4(a, far).tcp(444, 40_000), 3),
        (eth().ipv4(far, a).tcp(40_000, 443), 4),
        (eth().ipv4(b, far).udp(5001, 40_000), 5),
        (eth().ipv4(b, far).tcp(5001, 40_000), 6),
        (eth().ipv4(far, b).udp(40_000, 5002), 7),
        (eth().ipv4(far, b).udp(40_000, 5000), 8),
        (eth().ipv4(a, far).tcp(443, 40_001), 9),
    ];
    for (f, tag) in frames {
        feed.write(&f.payload(&[tag]).build());
    }
    let out = setup.path("out");
    for (xid, want) in [(web, vec![1u8, 4, 9]), (media, vec![5, 8])] {
        let got = eventually(Duration::from_secs(30), || {
            let got = delivered_tags(&out, xid);
            (got.len() >= want.len()).then_some(got)
        });
        assert_eq!(got, Some(want), "{xid}");
    }
    drop(feed);
    probe.stop();
    if let Some(shared) = shared_dir() {
        validate_all(setup.dir.path(), &shared, &admf.log);
    }
}
