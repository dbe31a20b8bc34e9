//! Shared by the X1 tests: the ADMF side (the CLI's X1 client, every document
//! kept) and the independent schema check of every document exchanged.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use control::x1::client::X1Client;
use control::x1::message::{
    Answer, DeliveryAddress, DeliveryType, DestinationDetails, Kind, Request, TargetIdentifier,
    TaskDetails,
};
use uuid::Uuid;

use super::daemon_harness::Setup;

pub const NE: &str = "neID";
pub const ADMF: &str = "prov";

/// The ADMF side of the test: every document sent and received is kept for
/// the independent schema check.
pub struct Admf {
    pub client: X1Client,
    /// (document, whether the schema must accept it).
    pub log: Vec<(String, bool)>,
}

impl Admf {
    pub fn new(setup: &Setup, port: u16, cn: &str) -> Admf {
        let (cert, key) = setup.certs.client(cn).unwrap();
        let url = format!("https://127.0.0.1:{port}");
        Admf {
            client: X1Client::new(&url, &setup.certs.ca, cert, key, "admfID", NE).unwrap(),
            log: Vec::new(),
        }
    }

    pub async fn send(&mut self, kind: Kind, request: Request) -> Answer {
        let (ex, answer) = self.client.send(kind, request).await.unwrap();
        assert_eq!(ex.status, 200, "{}", ex.response);
        self.log.push((ex.request, true));
        self.log.push((ex.response, true));
        answer
    }

    /// Posts `body` as-is; `valid`: whether the schema accepts it.
    pub async fn raw(&mut self, body: String, valid: bool) -> (u16, String) {
        let (status, response) = self
            .client
            .post_raw(body.clone().into_bytes())
            .await
            .unwrap();
        self.log.push((body, valid));
        self.log.push((response.clone(), true));
        (status, response)
    }

    pub async fn ok(&mut self, kind: Kind, request: Request) -> Answer {
        let a = self.send(kind, request).await;
        assert_eq!(
            (a.error.clone(), a.ok.as_deref()),
            (None, Some("AcknowledgedAndCompleted")),
            "{kind:?}"
        );
        a
    }

    pub async fn refused(&mut self, kind: Kind, request: Request, code: u32) -> Answer {
        let a = self.send(kind, request).await;
        assert_eq!(a.type_name, "ErrorResponse", "{kind:?}: {a:?}");
        assert_eq!(a.error.as_ref().map(|e| e.0), Some(code), "{kind:?}: {a:?}");
        a
    }
}

/// The `[x1]` section: listening on `port`, delivering as client `cn`.
pub fn x1_block(setup: &Setup, port: u16, cn: &str) -> String {
    let (cert, key) = setup.certs.client(cn).unwrap();
    format!(
        r#"
[x1]
listen = "127.0.0.1:{port}"
admf_identities = ["{ADMF}"]
ne_identifier = "{NE}"
[x1.delivery]
ca = "{ca}"
cert = "{cert}"
key = "{key}"
spool_dir = "spool-x1"
"#,
        ca = setup.certs.ca.display(),
        cert = cert.display(),
        key = key.display(),
    )
}

pub fn task(xid: Uuid, targets: Vec<TargetIdentifier>, dids: Vec<Uuid>) -> TaskDetails {
    TaskDetails {
        xid,
        targets,
        delivery: DeliveryType::X2AndX3,
        dids,
        mediation: None,
    }
}

pub fn destination(did: Uuid, port: u16) -> DestinationDetails {
    DestinationDetails {
        did,
        friendly_name: None,
        delivery: DeliveryType::X2AndX3,
        address: DeliveryAddress::Tcp(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
    }
}

/// The shared samples, or None (said on stderr) without CALEA_SHARED_DIR.
pub fn shared_dir() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("CALEA_SHARED_DIR") else {
        eprintln!(
            "CALEA_SHARED_DIR is not set: the shared X1 samples and the xmlschema check against \
             the shared XSD are SKIPPED (scripts/test.sh sets it to ../shared)"
        );
        return None;
    };
    Some(PathBuf::from(dir))
}

/// Every document through xmlschema against $CALEA_SHARED_DIR/specs/xsd.
pub fn validate_all(dir: &Path, shared: &Path, log: &[(String, bool)]) {
    let xsd = shared.join("specs/xsd");
    assert!(
        xsd.join("TS_103_221_01.xsd").is_file(),
        "no X1 schema in {}",
        xsd.display()
    );
    let has_xmlschema = Command::new("python3")
        .args(["-c", "import xmlschema"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_xmlschema,
        "python3 with xmlschema is required (scripts/install-deps.sh installs it)"
    );
    let out = dir.join("x1-docs");
    std::fs::create_dir_all(&out).unwrap();
    let files: Vec<PathBuf> = log
        .iter()
        .enumerate()
        .map(|(i, (doc, valid))| {
            let name = if *valid {
                format!("{i:03}.xml")
            } else {
                format!("{i:03}.invalid.xml")
            };
            let p = out.join(name);
            std::fs::write(&p, doc).unwrap();
            p
        })
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/x1/validate_x1.py");
    let result = Command::new("python3")
        .arg(script)
        .arg(&xsd)
        .args(&files)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "xmlschema:\n{report}\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_eq!(
        report.lines().filter(|l| l.starts_with("ok ")).count(),
        log.len()
    );
}
