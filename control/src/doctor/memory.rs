//! Hugepages (reserved per NUMA node, hugetlbfs mounted) and transparent hugepages.

use std::collections::BTreeSet;

use super::cpu::numa_nodes;
use super::devices::port_node;
use super::plan::Plan;
use super::{Finding, Host};

/// Bytes an mbuf takes in its pool: 2 KiB data room, headroom, mbuf and pool headers.
const MBUF_FOOTPRINT: u64 = 2560;

/// Hugepages of one size on one node.
struct Pages {
    size_kib: u64,
    total: u64,
    free: u64,
}

fn pages(host: &Host, dir: &str) -> Vec<Pages> {
    host.list(dir)
        .iter()
        .filter_map(|name| {
            let size_kib = name.strip_prefix("hugepages-")?.strip_suffix("kB")?;
            let num = |f: &str| host.read(&format!("{dir}/{name}/{f}"))?.parse().ok();
            Some(Pages {
                size_kib: size_kib.parse().ok()?,
                total: num("nr_hugepages")?,
                free: num("free_hugepages").unwrap_or(0),
            })
        })
        .collect()
}

fn size(kib: u64) -> String {
    match kib {
        k if k >= 1 << 20 && k % (1 << 20) == 0 => format!("{} GiB", k >> 20),
        k if k >= 1 << 10 => format!("{} MiB", k >> 10),
        k => format!("{k} KiB"),
    }
}

/// Hugepages reserved on the nodes the ports sit on, and hugetlbfs mounted.
pub(super) fn hugepages(host: &Host, plan: &Plan) -> Vec<Finding> {
    const CHECK: &str = "hugepages";
    const FIX: &str = "reserve 1 GiB pages at boot: add `default_hugepagesz=1G hugepagesz=1G \
         hugepages=N` to GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub and reboot \
         (at run time, per node: echo N > /sys/devices/system/node/nodeX/hugepages/\
         hugepages-1048576kB/nr_hugepages)";
    let nodes = numa_nodes(host);
    let per_node: Vec<(String, Vec<Pages>)> = if nodes.is_empty() {
        vec![("host".to_owned(), pages(host, "/sys/kernel/mm/hugepages"))]
    } else {
        nodes
            .iter()
            .map(|n| {
                let dir = format!("/sys/devices/system/node/node{n}/hugepages");
                (format!("node{n}"), pages(host, &dir))
            })
            .collect()
    };
    let describe = |p: &[Pages]| {
        let parts: Vec<String> = p
            .iter()
            .filter(|p| p.total > 0)
            .map(|p| format!("{} x {} ({} free)", p.total, size(p.size_kib), p.free))
            .collect();
        if parts.is_empty() {
            "none reserved".to_owned()
        } else {
            parts.join(", ")
        }
    };
    if !plan.hugepages {
        let why = if plan.eal {
            "the EAL runs with --no-huge (fine on vdevs; a NIC needs hugepages)"
        } else {
            "no EAL ([dataplane] pcap_file)"
        };
        let seen: Vec<String> = per_node
            .iter()
            .map(|(n, p)| format!("{n}: {}", describe(p)))
            .collect();
        return vec![Finding::info(
            CHECK,
            format!("not used: {why}; {}", seen.join("; ")),
        )];
    }
    // Nodes holding a port need the pool there; unknown placement: any node will do.
    let wanted: BTreeSet<String> = plan
        .pci()
        .filter_map(|(_, addr)| port_node(host, addr))
        .map(|n| format!("node{n}"))
        .collect();
    let pool_kib = u64::from(plan.mbufs) * MBUF_FOOTPRINT / 1024;
    let mut out = Vec::new();
    for (node, p) in &per_node {
        let total: u64 = p.iter().map(|p| p.total * p.size_kib).sum();
        let free: u64 = p.iter().map(|p| p.free * p.size_kib).sum();
        let needed = wanted.is_empty() || wanted.contains(node);
        let what = format!("{node}: {}", describe(p));
        out.push(match (needed, total, free) {
            (false, 0, _) => Finding::info(CHECK, format!("{what} (no port on this node)")),
            (true, 0, _) => Finding::fatal(CHECK, what, FIX),
            (true, _, f) if f < pool_kib => Finding::warn(
                CHECK,
                format!(
                    "{what}: below the mbuf pool's ~{} ([dataplane] mbufs = {})",
                    size(pool_kib),
                    plan.mbufs
                ),
                "reserve more pages on this node, or stop the process holding them",
            ),
            _ => Finding::ok(CHECK, what),
        });
    }
    if !wanted.is_empty() && per_node.iter().all(|(n, _)| !wanted.contains(n)) {
        out.push(Finding::fatal(
            CHECK,
            format!("no hugepage information for the ports' nodes ({wanted:?})"),
            FIX,
        ));
    }
    let mounts: Vec<String> = host
        .read("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"hugetlbfs")).then(|| {
                let page = f
                    .get(3)
                    .and_then(|o| o.split(',').find(|o| o.starts_with("pagesize=")))
                    .unwrap_or("default page size");
                format!("{} ({page})", f.get(1).unwrap_or(&"?"))
            })
        })
        .collect();
    out.push(if mounts.is_empty() {
        Finding::fatal(
            "hugetlbfs",
            "no hugetlbfs mounted: the EAL cannot map hugepages",
            "mount -t hugetlbfs -o pagesize=1G nodev /dev/hugepages (systemd's \
             dev-hugepages.mount does this at boot)",
        )
    } else {
        Finding::ok("hugetlbfs", format!("mounted on {}", mounts.join(", ")))
    });
    out
}

/// Target tables of 1 MiB or more ask for transparent hugepages (`madvise`):
/// `never` refuses them, and every lookup then misses the TLB more often.
pub(super) fn transparent_hugepages(host: &Host) -> Vec<Finding> {
    const CHECK: &str = "thp";
    let Some(modes) = host.read("/sys/kernel/mm/transparent_hugepage/enabled") else {
        return vec![Finding::info(CHECK, "transparent hugepages not present")];
    };
    let mode = modes
        .split_whitespace()
        .find_map(|m| m.strip_prefix('[')?.strip_suffix(']'))
        .unwrap_or("unknown");
    vec![match mode {
        "never" => Finding::warn(
            CHECK,
            "transparent hugepages: never (the target tables' madvise is refused: more TLB \
             misses on every lookup)",
            "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled; at boot: \
             transparent_hugepage=madvise on the kernel command line",
        ),
        m => Finding::ok(CHECK, format!("transparent hugepages: {m}")),
    }]
}
