//! scripts/install.sh into a DESTDIR lays out the binary, the unit, the udev
//! rule, the configuration template and the guide; the installed unit passes
//! `systemd-analyze verify`.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs install.sh with the test build of the binary into `destdir`.
fn install(destdir: &Path) -> String {
    let out = Command::new(repo().join("scripts/install.sh"))
        .arg("--destdir")
        .arg(destdir)
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_calea-probe"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn install_into_destdir_lays_out_every_file() {
    let dest = tempfile::tempdir().unwrap();
    let said = install(dest.path());
    let d = dest.path();
    let mode = |p: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(d.join(p)).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode("usr/local/bin/calea-probe"), 0o755);
    assert_eq!(mode("etc/calea-probe/probe.toml.example"), 0o640);
    assert_eq!(mode("etc/systemd/system/calea-probe.service"), 0o644);
    assert!(d
        .join("etc/udev/rules.d/60-calea-probe-vfio.rules")
        .is_file());
    assert!(d
        .join("usr/local/share/doc/calea-probe/bare-metal.md")
        .is_file());
    assert!(d.join("etc/calea-probe/pki").is_dir());
    // No live config: the unit's ConditionPathExists keeps it from starting.
    assert!(!d.join("etc/calea-probe/probe.toml").exists());
    let unit = std::fs::read_to_string(d.join("etc/systemd/system/calea-probe.service")).unwrap();
    assert!(!unit.contains('@'), "placeholder left:\n{unit}");
    assert!(unit.contains(
        "\nExecStart=/usr/local/bin/calea-probe run --config /etc/calea-probe/probe.toml\n"
    ));
    // Users and systemd are left to the target system, and said so.
    assert!(said.contains("useradd --system"), "{said}");
    assert!(said.contains("systemctl daemon-reload"), "{said}");
    // The template is a valid configuration for the installed binary.
    let template = d.join("etc/calea-probe/probe.toml.example");
    control::config::Config::from_file(&template).unwrap();
}

#[test]
fn the_installed_unit_passes_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: systemd-analyze cannot run here (apt-get install systemd)");
        return;
    }
    let dest = tempfile::tempdir().unwrap();
    install(dest.path());
    // verify checks that ExecStart's binary exists: point it into the DESTDIR.
    let unit = std::fs::read_to_string(dest.path().join("etc/systemd/system/calea-probe.service"))
        .unwrap()
        .replace(
            "/usr/local/bin/",
            &format!("{}/usr/local/bin/", dest.path().display()),
        );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calea-probe.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Unknown keys are only warnings to systemd; here they fail.
    assert!(stderr.trim().is_empty(), "{stderr}");
}
