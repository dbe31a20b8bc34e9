//! Resource limits of the process (read from procfs, as the probe would see
//! them when started the same way): open files, and locked memory for vfio.

use super::devices::needs_vfio;
use super::plan::Plan;
use super::{Finding, Host};

/// Open files the probe may need: hugepage segments, spool files, sockets.
const MIN_NOFILE: u64 = 65_536;
/// CAP_IPC_LOCK's bit in the capability sets.
const CAP_IPC_LOCK: u32 = 14;

/// A soft limit: `None` is unlimited.
fn soft_limit(limits: &str, name: &str) -> Option<Option<u64>> {
    let rest = limits.lines().find_map(|l| l.strip_prefix(name))?;
    let soft = rest.split_whitespace().next()?;
    if soft == "unlimited" {
        Some(None)
    } else {
        soft.parse().ok().map(Some)
    }
}

fn has_ipc_lock(host: &Host) -> bool {
    host.read("/proc/self/status")
        .and_then(|s| {
            let hex = s
                .lines()
                .find_map(|l| l.strip_prefix("CapEff:"))?
                .trim()
                .to_owned();
            u64::from_str_radix(&hex, 16).ok()
        })
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}

/// RLIMIT_NOFILE and RLIMIT_MEMLOCK.
pub(super) fn rlimits(host: &Host, plan: &Plan) -> Vec<Finding> {
    let Some(limits) = host.read("/proc/self/limits") else {
        return vec![Finding::info("rlimits", "/proc/self/limits unreadable")];
    };
    let mut out = Vec::new();
    out.push(match soft_limit(&limits, "Max open files") {
        Some(Some(n)) if n < MIN_NOFILE => Finding::warn(
            "nofile",
            format!("RLIMIT_NOFILE {n}, below {MIN_NOFILE} (hugepage segments, spool files and sockets)"),
            format!("LimitNOFILE={MIN_NOFILE} in the unit (packaging/calea-probe.service sets it), or ulimit -n {MIN_NOFILE}"),
        ),
        Some(n) => Finding::ok(
            "nofile",
            format!("RLIMIT_NOFILE {}", n.map_or("unlimited".to_owned(), |n| n.to_string())),
        ),
        None => Finding::info("nofile", "RLIMIT_NOFILE not in /proc/self/limits"),
    });
    let memlock = soft_limit(&limits, "Max locked memory");
    let shown = match memlock {
        Some(Some(n)) => format!("{} KiB", n / 1024),
        Some(None) => "unlimited".to_owned(),
        None => "unknown".to_owned(),
    };
    let capped = !matches!(memlock, Some(None));
    out.push(if !capped || has_ipc_lock(host) {
        Finding::ok(
            "memlock",
            format!(
                "RLIMIT_MEMLOCK {shown}{}",
                if capped {
                    " (CAP_IPC_LOCK lifts it)"
                } else {
                    ""
                }
            ),
        )
    } else if needs_vfio(host, plan) {
        Finding::fatal(
            "memlock",
            format!(
                "RLIMIT_MEMLOCK {shown} without CAP_IPC_LOCK: vfio cannot pin DPDK's memory for DMA"
            ),
            "LimitMEMLOCK=infinity in the unit (packaging/calea-probe.service sets it), or \
             grant CAP_IPC_LOCK",
        )
    } else {
        Finding::ok(
            "memlock",
            format!("RLIMIT_MEMLOCK {shown} (enough: no port uses vfio-pci)"),
        )
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        let t = "Limit                     Soft Limit           Hard Limit           Units\n\
                 Max open files            1024                 524288               files\n\
                 Max locked memory         unlimited            unlimited            bytes\n";
        assert_eq!(soft_limit(t, "Max open files"), Some(Some(1024)));
        assert_eq!(soft_limit(t, "Max locked memory"), Some(None));
        assert_eq!(soft_limit(t, "Max processes"), None);
    }
}
