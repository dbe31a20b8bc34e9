//! End-to-end tests of the provisioning API against the real `calea-probe run`
//! (child process, pcap-file source, real TLS certificates, real SQLite).
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod daemon_harness;

use std::path::Path;
use std::process::Command;

use control::client::{ApiClient, ClientError};
use control::pki::Ca;
use daemon_harness::{free_port, Probe, Setup};
use reqwest::Method;
use serde_json::{json, Value};

/// Starts a probe on an empty capture with one (unreachable, spooling) destination.
fn start() -> (Setup, Probe) {
    let setup = Setup::new();
    dataplane::synth::write_pcap(setup.path("in.pcap"), &[]).unwrap();
    let dest = setup.tls_destination("lab", free_port());
    let probe = Probe::start(&setup.write_config("in.pcap", &dest));
    (setup, probe)
}

fn request(liid: &str) -> Value {
    json!({
        "liid": liid,
        "warrant_ref": "W-2026-001",
        "issuing_authority": "District Court",
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2099-01-01T00:00:00Z",
        "mode": "content",
        "targets": ["198.51.100.7", "2001:db8::7"],
        "destinations": ["lab"],
    })
}

fn api_code(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Api { status, code, .. } => (status, code),
        other => panic!("expected an API error, got {other}"),
    }
}

fn audit_actions(db: &Path) -> Vec<(String, String)> {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg("SELECT actor, action FROM audit ORDER BY seq")
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.split_once('|'))
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect(),
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_validation_and_refusal_auditing() {
    let (setup, probe) = start();
    let admin = setup.client("admin");
    let prov = setup.client("prov");
    let viewer = setup.client("viewer");
    let auditor = setup.client("auditor");

    // Every documented route is served by the router (none falls to "no_route").
    for (method, path) in control::api::ROUTES {
        let path = path.replace("{liid}", "NOPE").replace("{name}", "nope");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = (m == Method::POST || m == Method::PATCH).then(|| b"{}".to_vec());
        let (status, v) = admin.send_raw(m, &path, body).await.unwrap();
        assert_ne!(
            v.pointer("/error/message").and_then(Value::as_str),
            Some("no such route"),
            "{method} {path}"
        );
        assert_ne!(status, 405, "{method} {path}");
    }

    // A provisioner creates; the answer comes only once every worker applied it.
    let created = prov.create_intercept(&request("LIID-1")).await.unwrap();
    assert_eq!(created["active"], json!(true), "{created}");
    assert_eq!(created["state"], json!("active"));

    // Wrong role → 403, audited.
    let (status, code) = api_code(
        viewer
            .create_intercept(&request("LIID-2"))
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    let (status, _) = api_code(prov.audit(0, 10).await.unwrap_err());
    assert_eq!(status, 403);
    let (status, code) = api_code(
        setup
            .client("stranger")
            .list_intercepts()
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (403, "unknown_identity"));

    // The viewer sees LIID/state/window only — never targets or warrant details.
    let seen = viewer.list_intercepts().await.unwrap();
    assert_eq!(seen[0]["liid"], json!("LIID-1"));
    let text = seen.to_string();
    for secret in ["198.51.100.7", "W-2026-001", "District Court", "targets"] {
        assert!(!text.contains(secret), "viewer saw {secret}: {text}");
    }
    assert!(auditor
        .get_intercept("LIID-1")
        .await
        .unwrap()
        .to_string()
        .contains("198.51.100.7"));

    // Bad input → 4xx with a clear message, nothing stored.
    let raw = |body: &str| {
        prov.send_raw(
            Method::POST,
            "/v1/intercepts",
            Some(body.as_bytes().to_vec()),
        )
    };
    let (s, v) = raw("{\"liid\": ").await.unwrap();
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("malformed_json")),
        "{v}"
    );
    let mut extra = request("LIID-3");
    extra["colour"] = json!("red");
    let (s, v) = raw(&extra.to_string()).await.unwrap();
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("unknown_field")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("colour"),
        "{v}"
    );
    let mut bad_addr = request("LIID-4");
    bad_addr["targets"] = json!(["198.51.100.300"]);
    let (s, v) = raw(&bad_addr.to_string()).await.unwrap();
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("198.51.100.300"),
        "{v}"
    );
    let mut inverted = request("LIID-5");
    inverted["valid_until"] = json!("2025-01-01T00:00:00Z");
    let (s, v) = raw(&inverted.to_string()).await.unwrap();
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_window")),
        "{v}"
    );
    let (status, code) = api_code(prov.create_intercept(&request("LIID-1")).await.unwrap_err());
    assert_eq!((status, code.as_str()), (409, "duplicate_liid"));
    let all = admin.list_intercepts().await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");

    // No client certificate, or one from another CA: refused at the handshake, audited.
    let other = tempfile::tempdir().unwrap();
    let rogue = Ca::generate("rogue")
        .unwrap()
        .issue_client("admin")
        .unwrap();
    let (rc, rk) = rogue.write(other.path(), "rogue").unwrap();
    let untrusted = ApiClient::new(&setup.api_url(), &setup.certs.ca, &rc, &rk).unwrap();
    assert!(matches!(
        untrusted.list_intercepts().await,
        Err(ClientError::Http { .. })
    ));
    // With a timeout, as ApiClient has: without one, a request whose
    // connection the server refused once never completed (no socket, no
    // timer left to wake it) and hung the test.
    let no_cert = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&setup.certs.ca).unwrap()).unwrap(),
        )
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap();
    assert!(no_cert
        .get(format!("{}/v1/health", setup.api_url()))
        .send()
        .await
        .is_err());

    // The CLI client, configured from the environment.
    let (cert, key) = setup.certs.client("viewer").unwrap();
    let cli = Command::new(env!("CARGO_BIN_EXE_calea-probe"))
        .args(["intercept", "list", "--output", "json"])
        .env("CALEA_API", setup.api_url())
        .env("CALEA_CA", &setup.certs.ca)
        .env("CALEA_CERT", cert)
        .env("CALEA_KEY", key)
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let listed: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(listed[0]["liid"], json!("LIID-1"));
    let (cert, key) = setup.certs.client("viewer").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_calea-probe"))
        .args(["intercept", "remove", "LIID-1", "--api", &setup.api_url()])
        .arg("--ca")
        .arg(&setup.certs.ca)
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Deactivate.
    let removed = prov.remove_intercept("LIID-1").await.unwrap();
    assert_eq!(removed["active"], json!(false));
    assert_eq!(removed["state"], json!("deactivated"));

    let audit = auditor.audit(0, 1000).await.unwrap();
    let actions: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let count = |actor: &str, action: &str| {
        actions
            .iter()
            .filter(|(a, b)| a == actor && b == action)
            .count()
    };
    assert!(count("viewer", "request_refused") >= 1, "{actions:?}");
    assert!(count("stranger", "request_refused") >= 1, "{actions:?}");
    assert!(count("prov", "request_refused") >= 6, "{actions:?}");
    assert!(
        count("unauthenticated", "request_unauthenticated") >= 2,
        "{actions:?}"
    );
    assert_eq!(count("prov", "intercept_create"), 1, "{actions:?}");
    assert_eq!(count("system", "intercept_activate"), 1, "{actions:?}");

    let db = setup.path("probe.db");
    let mirror = setup.path("audit.jsonl");
    probe.stop();
    let verify = |db: &Path| {
        Command::new(env!("CARGO_BIN_EXE_calea-probe"))
            .args(["audit", "verify", "--database"])
            .arg(db)
            .arg("--mirror")
            .arg(&mirror)
            .output()
            .unwrap()
    };
    let ok = verify(&db);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(audit_actions(&db).iter().any(|(_, a)| a == "probe_stop"));
    // Tamper with one record: verify fails and names it.
    let status = Command::new("sqlite3")
        .arg(&db)
        .arg("DROP TRIGGER IF EXISTS audit_no_update; UPDATE audit SET actor = 'mallory' WHERE seq = 2;")
        .status();
    if status.is_ok_and(|s| s.success()) {
        let bad = verify(&db);
        assert!(!bad.status.success());
        assert!(
            String::from_utf8_lossy(&bad.stdout).contains("seq 2"),
            "{}",
            String::from_utf8_lossy(&bad.stdout)
        );
    } else {
        eprintln!("sqlite3 CLI not available: tamper check skipped");
    }
}

/// An oversize body answers the documented JSON error (413 `body_too_large`)
/// and is audited; an audit page above the documented maximum is a 400.
#[tokio::test(flavor = "multi_thread")]
async fn oversize_body_and_audit_page_limit_are_refused() {
    let (setup, probe) = start();
    let prov = setup.client("prov");
    let auditor = setup.client("auditor");

    let mut big = request("LIID-BIG");
    big["warrant_ref"] = json!("x".repeat(control::api::MAX_BODY));
    let (s, v) = prov
        .send_raw(
            Method::POST,
            "/v1/intercepts",
            Some(big.to_string().into_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("body_too_large")),
        "{v}"
    );
    assert!(v["error"]["message"].as_str().is_some(), "{v}");

    let max = control::api::MAX_AUDIT_PAGE;
    assert!(auditor.audit(0, max).await.is_ok());
    let (status, code) = api_code(auditor.audit(0, max + 1).await.unwrap_err());
    assert_eq!((status, code.as_str()), (400, "invalid_query"));

    let records = auditor.audit(0, max).await.unwrap();
    let refused: Vec<&Value> = records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "request_refused")
        .collect();
    assert!(
        refused
            .iter()
            .any(|r| r["actor"] == "prov" && r["details"]["status"] == 413),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|r| r["actor"] == "auditor" && r["details"]["code"] == "invalid_query"),
        "{refused:?}"
    );
    let stored = setup.client("admin").list_intercepts().await.unwrap();
    assert_eq!(stored, json!([]));
    probe.stop();
}
