//! Crash safety: a writer process is SIGKILLed mid-stream; every intercept it
//! was told was stored (the call returned Ok) must be there after reopening,
//! and the audit chain (database and mirror) must verify.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod store_support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use control::audit::{verify, AuditAction};
use control::model::{InterceptState, Liid};
use control::store::Store;
use serde_json::json;
use store_support::{destination, now, validated};

const DIR_ENV: &str = "CALEA_STORE_KILL_DIR";
const ROUND_ENV: &str = "CALEA_STORE_KILL_ROUND";

/// The child: writes intercepts (and audit records from a second thread) as
/// fast as it can, printing `ACK <liid>` after each `Ok`. Run only as a child
/// process of `acknowledged_writes_survive_sigkill`.
#[test]
#[ignore = "child process of acknowledged_writes_survive_sigkill"]
fn kill_child_writer() {
    let dir = std::env::var(DIR_ENV).expect("run by the parent test");
    let round = std::env::var(ROUND_ENV).unwrap();
    let dir = Path::new(&dir);
    let store = Store::open(&dir.join("probe.db"), &dir.join("audit.jsonl")).unwrap();
    if store.get_destination("lea").is_err() {
        store
            .create_destination(&destination("lea", dir), "admin")
            .unwrap();
    }
    let audit = store.audit().clone();
    std::thread::spawn(move || loop {
        audit
            .append("system", AuditAction::DeliveryConnect, "lea", json!({}))
            .unwrap();
    });
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let liid = format!("R{round}-{i}");
        let it = store
            .create_intercept(
                &validated(&liid, &["10.0.0.1", "2001:db8::/32"]),
                "desk",
                now(),
            )
            .unwrap();
        if i % 3 == 0 {
            store
                .set_state(&it.liid, InterceptState::Active, "system")
                .unwrap();
            writeln!(out, "ACTIVE {liid}").unwrap();
        }
        writeln!(out, "ACK {liid}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: Vec<String> = Vec::new();
    let mut active: Vec<String> = Vec::new();
    // Kill after different amounts of work, reopening the same database each time.
    for (round, kill_after) in [3usize, 17, 40].into_iter().enumerate() {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "kill_child_writer",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_ENV, dir.path())
            .env(ROUND_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut this_round = 0;
        while this_round < kill_after {
            assert!(Instant::now() < deadline, "child too slow");
            let line = lines.next().expect("child exited early").unwrap();
            if let Some(l) = line.strip_prefix("ACK ") {
                acked.push(l.to_owned());
                this_round += 1;
            } else if let Some(l) = line.strip_prefix("ACTIVE ") {
                active.push(l.to_owned());
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Acknowledgements already in the pipe count too.
        for line in lines {
            let line = line.unwrap();
            if let Some(l) = line.strip_prefix("ACK ") {
                acked.push(l.to_owned());
            } else if let Some(l) = line.strip_prefix("ACTIVE ") {
                active.push(l.to_owned());
            }
        }

        let store = Store::open(
            &dir.path().join("probe.db"),
            &dir.path().join("audit.jsonl"),
        )
        .unwrap();
        for liid in &acked {
            let it = store.get(&Liid::try_from(liid.as_str()).unwrap()).unwrap();
            assert_eq!(it.targets.len(), 2, "{liid}");
        }
        for liid in &active {
            let it = store.get(&Liid::try_from(liid.as_str()).unwrap()).unwrap();
            assert_eq!(it.state, InterceptState::Active, "{liid}");
        }
        drop(store);
        let report = verify(
            &dir.path().join("probe.db"),
            &dir.path().join("audit.jsonl"),
        )
        .unwrap();
        assert!(report.is_ok(), "round {round}: {report:?}");
        println!(
            "round {round}: {} acknowledged intercepts, {} audit records",
            acked.len(),
            report.db_records
        );
    }
}
