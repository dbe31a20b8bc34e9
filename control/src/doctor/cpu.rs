//! Worker cores: online, isolated from the scheduler, timer ticks and RCU
//! callbacks, and on the NUMA node of the port they poll.

use std::collections::BTreeSet;

use super::devices::port_node;
use super::plan::Plan;
use super::{Finding, Host};

/// Parses a kernel CPU list (`0-3,8,10-11`); `None` on anything else.
#[must_use]
pub fn cpu_list(s: &str) -> Option<BTreeSet<usize>> {
    let mut out = BTreeSet::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<usize>().ok()?..=b.parse::<usize>().ok()?),
            None => {
                out.insert(part.parse::<usize>().ok()?);
            }
        }
    }
    Some(out)
}

fn list_text(cpus: &BTreeSet<usize>) -> String {
    if cpus.is_empty() {
        return "none".to_owned();
    }
    cpus.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// NUMA node numbers present on the host (empty on kernels without NUMA).
pub(super) fn numa_nodes(host: &Host) -> Vec<u32> {
    let mut nodes: Vec<u32> = host
        .list("/sys/devices/system/node")
        .iter()
        .filter_map(|n| n.strip_prefix("node")?.parse().ok())
        .collect();
    nodes.sort_unstable();
    nodes
}

fn node_cpus(host: &Host, node: u32) -> BTreeSet<usize> {
    host.read(&format!("/sys/devices/system/node/node{node}/cpulist"))
        .and_then(|s| cpu_list(&s))
        .unwrap_or_default()
}

/// The NUMA node of a CPU, from sysfs below `host`'s root.
#[must_use]
pub fn node_of_cpu(host: &Host, cpu: usize) -> Option<u32> {
    numa_nodes(host)
        .into_iter()
        .find(|&n| node_cpus(host, n).contains(&cpu))
}

/// Worker cores online and isolated (isolcpus, nohz_full, rcu_nocbs).
pub(super) fn isolation(host: &Host, plan: &Plan) -> Vec<Finding> {
    if plan.workers.is_empty() {
        return vec![Finding::info(
            "cores",
            "no DPDK workers ([dataplane] pcap_file): nothing to pin",
        )];
    }
    let cores: BTreeSet<usize> = plan.workers.iter().filter_map(|w| w.core).collect();
    if cores.is_empty() {
        return vec![Finding::warn(
            "cores",
            "workers are not pinned: the scheduler moves them and they share cores",
            "set [dataplane] cores to one core per worker, isolated and on the NIC's NUMA node",
        )];
    }
    let mut out = Vec::new();
    let online = host
        .read("/sys/devices/system/cpu/online")
        .and_then(|s| cpu_list(&s));
    if let Some(online) = &online {
        let missing: BTreeSet<usize> = cores.difference(online).copied().collect();
        out.push(if missing.is_empty() {
            Finding::ok(
                "cores",
                format!("worker cores {} online", list_text(&cores)),
            )
        } else {
            Finding::fatal(
                "cores",
                format!(
                    "worker cores {} are not online (online: {})",
                    list_text(&missing),
                    list_text(online)
                ),
                "choose [dataplane] cores among the online cores",
            )
        });
    }
    let fix = format!(
        "add `isolcpus={0} nohz_full={0} rcu_nocbs={0}` to GRUB_CMDLINE_LINUX in \
         /etc/default/grub, run update-grub and reboot",
        list_text(&cores)
    );
    let isolated = host
        .read("/sys/devices/system/cpu/isolated")
        .and_then(|s| cpu_list(&s));
    let from_cmdline = |key: &str| host.cmdline(key).and_then(|v| cpu_list(&v));
    for (check, set, what) in [
        ("isolcpus", isolated, "isolated from the scheduler"),
        (
            "nohz_full",
            from_cmdline("nohz_full"),
            "free of the timer tick",
        ),
        (
            "rcu_nocbs",
            from_cmdline("rcu_nocbs"),
            "free of RCU callbacks",
        ),
    ] {
        let set = set.unwrap_or_default();
        let missing: BTreeSet<usize> = cores.difference(&set).copied().collect();
        out.push(if missing.is_empty() {
            Finding::ok(check, format!("worker cores {} {what}", list_text(&cores)))
        } else {
            Finding::warn(
                check,
                format!(
                    "worker cores {} not {what} ({check}: {}): other tasks steal cycles \
                     and packets are dropped in bursts",
                    list_text(&missing),
                    list_text(&set)
                ),
                fix.clone(),
            )
        });
    }
    out
}

/// Each pinned worker on the NUMA node of the port it polls.
pub(super) fn numa(host: &Host, plan: &Plan) -> Vec<Finding> {
    const CHECK: &str = "numa";
    if plan.pci().next().is_none() {
        return vec![Finding::info(
            CHECK,
            "no PCI port: nothing to place on a NUMA node",
        )];
    }
    let mut out = Vec::new();
    for w in &plan.workers {
        let (Some(core), Some(port)) = (w.core, plan.ports.get(w.port)) else {
            continue;
        };
        let super::plan::Device::Pci(addr) = &port.device else {
            continue;
        };
        let (Some(want), Some(have)) = (port_node(host, addr), node_of_cpu(host, core)) else {
            out.push(Finding::info(
                CHECK,
                format!(
                    "worker {}: NUMA node of {addr} or core {core} unknown (single-node host)",
                    w.index
                ),
            ));
            continue;
        };
        out.push(if want == have {
            Finding::ok(
                CHECK,
                format!("worker {} on core {core}, node{have}, as {addr}", w.index),
            )
        } else {
            Finding::warn(
                CHECK,
                format!(
                    "worker {} on core {core} (node{have}) polls {addr} on node{want}: every \
                     packet crosses the interconnect",
                    w.index
                ),
                format!(
                    "set [dataplane] cores to cores of node{want}: {}",
                    list_text(&node_cpus(host, want))
                ),
            )
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        let l = |s| cpu_list(s).map(|c| c.into_iter().collect::<Vec<_>>());
        assert_eq!(l("0-3,8,10-11"), Some(vec![0, 1, 2, 3, 8, 10, 11]));
        assert_eq!(l(""), Some(vec![]));
        assert_eq!(l("a"), None);
        assert_eq!(l("3-x"), None);
    }
}
