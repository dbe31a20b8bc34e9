//! Clock synchronisation: packet timestamps are evidence, so the clock they
//! come from must be disciplined (NTP via chrony, or PTP via linuxptp).

use std::collections::BTreeSet;

use super::{Finding, Host};
use crate::config::Timestamps;

/// Process names (`/proc/PID/comm`) of clock synchronisation daemons.
const SYNC_DAEMONS: [&str; 5] = ["chronyd", "ptp4l", "phc2sys", "ntpd", "systemd-timesyn"];

/// Which synchronisation daemons run, by process name.
fn running(host: &Host) -> BTreeSet<String> {
    host.list("/proc")
        .iter()
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|pid| host.read(&format!("/proc/{pid}/comm")))
        .filter(|comm| SYNC_DAEMONS.contains(&comm.as_str()))
        .collect()
}

/// A clock daemon runs; with NIC timestamps, linuxptp disciplines the NIC clock.
pub(super) fn sync(host: &Host, timestamps: Timestamps) -> Vec<Finding> {
    const CHECK: &str = "clock";
    let found = running(host);
    let names = found.iter().cloned().collect::<Vec<_>>().join(", ");
    let ptp = found.contains("ptp4l") || found.contains("phc2sys");
    vec![match (found.is_empty(), timestamps) {
        (true, _) => Finding::warn(
            CHECK,
            "no clock synchronisation running (chronyd, ptp4l/phc2sys, ntpd, \
             systemd-timesyncd): packet timestamps are evidence",
            "apt-get install chrony (or linuxptp: ptp4l and phc2sys for PTP)",
        ),
        (false, Timestamps::Device) if !ptp => Finding::warn(
            CHECK,
            format!(
                "timestamps = \"device\" but only {names} runs: nothing disciplines the NIC clock"
            ),
            "run ptp4l on the NIC and phc2sys (apt-get install linuxptp), or use \
             timestamps = \"system\"",
        ),
        (false, _) if found.len() == 1 && found.contains("systemd-timesyn") => Finding::warn(
            CHECK,
            "only systemd-timesyncd (SNTP, no frequency discipline) keeps the clock",
            "apt-get install chrony (it replaces systemd-timesyncd)",
        ),
        (false, _) => Finding::ok(CHECK, format!("clock synchronised by {names}")),
    }]
}
