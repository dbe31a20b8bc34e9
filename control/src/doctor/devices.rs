//! PCI ports: bound to a driver DPDK can use, and the IOMMU and vfio-pci that
//! vfio needs. Virtual devices need neither.

use super::plan::{Device, Plan};
use super::{Finding, Host};

/// Drivers through which DPDK drives a device: vfio/uio hand it to user space,
/// the mlx drivers are bifurcated (DPDK's PMD runs beside the kernel driver).
const VFIO: &str = "vfio-pci";
const UIO: [&str; 2] = ["uio_pci_generic", "igb_uio"];
const BIFURCATED: [&str; 2] = ["mlx5_core", "mlx4_core"];

fn dev(addr: &str) -> String {
    format!("/sys/bus/pci/devices/{addr}")
}

/// The NUMA node of a PCI device (`None` when the firmware gives none).
pub(super) fn port_node(host: &Host, addr: &str) -> Option<u32> {
    host.read(&format!("{}/numa_node", dev(addr)))?.parse().ok()
}

fn driver(host: &Host, addr: &str) -> Option<String> {
    host.link_name(&format!("{}/driver", dev(addr)))
}

/// Whether some PCI port is (or must be) bound to vfio-pci.
pub(super) fn needs_vfio(host: &Host, plan: &Plan) -> bool {
    plan.pci().any(|(_, addr)| {
        !driver(host, addr)
            .is_some_and(|d| BIFURCATED.contains(&d.as_str()) || UIO.contains(&d.as_str()))
    })
}

/// IOMMU enabled and vfio-pci loaded, where a port needs them.
pub(super) fn iommu_and_vfio(host: &Host, plan: &Plan) -> Vec<Finding> {
    let needed = needs_vfio(host, plan);
    let groups = host.list("/sys/kernel/iommu_groups").len();
    let units = host.list("/sys/class/iommu").len();
    let on = groups > 0 || units > 0;
    let passthrough = host.cmdline("iommu").as_deref() == Some("pt");
    let noiommu = host
        .read("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode")
        .is_some_and(|v| v == "Y");
    let iommu = match (needed, on, noiommu) {
        (false, _, _) => Finding::info(
            "iommu",
            format!(
                "not needed: no port uses vfio-pci (IOMMU {})",
                if on { "on" } else { "off" }
            ),
        ),
        (true, true, _) => Finding::ok(
            "iommu",
            format!(
                "IOMMU on ({groups} groups{})",
                if passthrough { ", iommu=pt" } else { "" }
            ),
        ),
        (true, false, true) => Finding::warn(
            "iommu",
            "no IOMMU: vfio runs in no-IOMMU mode, unprotected (the NIC can DMA anywhere)",
            "enable VT-d / AMD-Vi in the firmware and add `intel_iommu=on iommu=pt` \
             (AMD: `amd_iommu=on iommu=pt`) to the kernel command line",
        ),
        (true, false, false) => Finding::fatal(
            "iommu",
            "no IOMMU: vfio-pci cannot hand the NIC to DPDK",
            "enable VT-d / AMD-Vi in the firmware and add `intel_iommu=on iommu=pt` \
             (AMD: `amd_iommu=on iommu=pt`) to GRUB_CMDLINE_LINUX in /etc/default/grub, \
             run update-grub and reboot",
        ),
    };
    let loaded = host.exists("/sys/module/vfio_pci");
    let vfio = match (needed, loaded) {
        (_, true) => Finding::ok("vfio-pci", "vfio-pci loaded"),
        (false, false) => Finding::info("vfio-pci", "not needed: no port uses vfio-pci"),
        (true, false) => Finding::fatal(
            "vfio-pci",
            "vfio-pci is not loaded",
            "modprobe vfio-pci; load it at boot: echo vfio-pci > /etc/modules-load.d/vfio-pci.conf",
        ),
    };
    vec![iommu, vfio]
}

/// Each configured port backed by a device DPDK can drive.
pub(super) fn ports(host: &Host, plan: &Plan) -> Vec<Finding> {
    const CHECK: &str = "port";
    if !plan.eal {
        return vec![Finding::info(
            CHECK,
            "no DPDK ports ([dataplane] pcap_file)",
        )];
    }
    plan.ports
        .iter()
        .map(|p| match &p.device {
            Device::Vdev(v) => Finding::ok(
                CHECK,
                format!("{}: virtual device {v}, nothing to bind", p.name),
            ),
            Device::Unknown(_) => Finding::info(
                CHECK,
                format!(
                    "{}: cannot tell which device backs it (name ports by PCI address or \
                     list them with -a in eal_args to have them checked)",
                    p.name
                ),
            ),
            Device::Pci(addr) => pci_port(host, &p.name, addr),
        })
        .collect()
}

fn pci_port(host: &Host, name: &str, addr: &str) -> Finding {
    const CHECK: &str = "port";
    let bind = format!("dpdk-devbind.py --bind=vfio-pci {addr}");
    let name = if name == addr {
        addr.to_owned()
    } else {
        format!("{name} ({addr})")
    };
    if !host.exists(&dev(addr)) {
        return Finding::fatal(
            CHECK,
            format!("{name}: no such PCI device on this host"),
            "find the NIC's address with `dpdk-devbind.py --status` (or `lspci -D`)",
        );
    }
    match driver(host, addr) {
        None => Finding::fatal(
            CHECK,
            format!("{name} is bound to no driver"),
            format!("modprobe vfio-pci; {bind}"),
        ),
        Some(d) if d == VFIO || UIO.contains(&d.as_str()) => {
            Finding::ok(CHECK, format!("{name} bound to {d}"))
        }
        Some(d) if BIFURCATED.contains(&d.as_str()) => Finding::ok(
            CHECK,
            format!(
                "{name} on {d}: DPDK's mlx PMD works beside the kernel driver \
                 (no binding; needs rdma-core / libibverbs)"
            ),
        ),
        Some(d) => {
            let ifaces = host.list(&format!("{}/net", dev(addr)));
            let down = ifaces
                .iter()
                .map(|i| format!("ip link set {i} down; "))
                .collect::<String>();
            Finding::fatal(
                CHECK,
                format!(
                    "{name} is bound to the kernel driver {d}{}: DPDK cannot use it",
                    if ifaces.is_empty() {
                        String::new()
                    } else {
                        format!(" (interface {})", ifaces.join(", "))
                    }
                ),
                format!("{down}modprobe vfio-pci; {bind}"),
            )
        }
    }
}
