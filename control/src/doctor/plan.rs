//! What a configuration asks of the host: EAL or not, hugepages or not, which
//! devices back the ports, and which worker runs where.

use crate::config::{DataplaneConfig, PortRef};

/// The device behind a configured port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Device {
    /// A PCI function, `dddd:bb:dd.f` (lower case, with domain).
    Pci(String),
    /// A virtual device (`net_pcap0`, `net_null0`, …): nothing to bind.
    Vdev(String),
    /// A port the EAL names otherwise (or an id doctor cannot map to a device).
    Unknown(String),
}

/// One configured port.
#[derive(Clone, Debug)]
pub struct PortPlan {
    /// As written in `[dataplane] ports`.
    pub name: String,
    /// Its device.
    pub device: Device,
}

/// One worker: worker `index` polls a queue of `ports[port]` on `core`.
#[derive(Clone, Copy, Debug)]
pub struct WorkerPlan {
    /// Worker index (as in the metrics).
    pub index: usize,
    /// Pinned core, if configured.
    pub core: Option<usize>,
    /// Index into [`Plan::ports`].
    pub port: usize,
}

/// What the dataplane configuration needs from the host.
#[derive(Clone, Debug)]
pub struct Plan {
    /// DPDK's EAL starts (no `pcap_file`).
    pub eal: bool,
    /// The EAL maps hugepages (no `--no-huge`).
    pub hugepages: bool,
    /// Configured ports, in order.
    pub ports: Vec<PortPlan>,
    /// Workers, in order: `workers_per_port` per port.
    pub workers: Vec<WorkerPlan>,
    /// Mbufs in the pool (hugepage sizing).
    pub mbufs: u32,
}

impl Plan {
    /// Reads the plan out of `[dataplane]`.
    #[must_use]
    pub fn new(cfg: &DataplaneConfig) -> Self {
        let eal = cfg.pcap_file.is_none();
        let args = EalArgs::parse(&cfg.eal_args);
        let ports: Vec<PortPlan> = if eal {
            cfg.ports
                .iter()
                .map(|p| PortPlan {
                    name: match p {
                        PortRef::Id(id) => format!("port {id}"),
                        PortRef::Name(n) => n.clone(),
                    },
                    device: args.device(p),
                })
                .collect()
        } else {
            Vec::new()
        };
        let per_port = usize::from(cfg.workers_per_port);
        let workers = (0..ports.len() * per_port)
            .map(|index| WorkerPlan {
                index,
                core: cfg.cores.get(index).copied(),
                port: index / per_port,
            })
            .collect();
        Self {
            eal,
            hugepages: eal && !args.no_huge,
            ports,
            workers,
            mbufs: cfg.mbufs,
        }
    }

    /// The PCI addresses among the ports.
    pub fn pci(&self) -> impl Iterator<Item = (&PortPlan, &str)> {
        self.ports.iter().filter_map(|p| match &p.device {
            Device::Pci(a) => Some((p, a.as_str())),
            _ => None,
        })
    }
}

/// The EAL arguments doctor understands.
#[derive(Default)]
struct EalArgs {
    no_huge: bool,
    /// `-a` / `--allow` devices (PCI), in order.
    allow: Vec<String>,
    /// `--vdev` names, in order.
    vdevs: Vec<String>,
}

impl EalArgs {
    fn parse(args: &[String]) -> Self {
        let mut out = Self::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
                _ => (a.as_str(), None),
            };
            // Short options may carry their value attached: `-a0000:03:00.0`.
            let (flag, inline) = match (flag.strip_prefix("-a"), flag.strip_prefix("-w")) {
                (Some(v), _) | (_, Some(v)) if !v.is_empty() && !flag.starts_with("--") => {
                    ("-a", Some(v.to_owned()))
                }
                _ => (flag, inline),
            };
            let mut value = || inline.clone().or_else(|| it.next().cloned());
            match flag {
                "--no-huge" => out.no_huge = true,
                "-a" | "-w" | "--allow" | "--pci-whitelist" => {
                    if let Some(v) = value() {
                        let dev = v.split(',').next().unwrap_or_default();
                        out.allow
                            .push(pci_address(dev).unwrap_or_else(|| dev.to_owned()));
                    }
                }
                "--vdev" => {
                    if let Some(v) = value() {
                        out.vdevs
                            .push(v.split(',').next().unwrap_or_default().to_owned());
                    }
                }
                _ => {}
            }
        }
        out
    }

    fn device(&self, port: &PortRef) -> Device {
        match port {
            PortRef::Name(n) => {
                if let Some(a) = pci_address(n) {
                    Device::Pci(a)
                } else if self.vdevs.contains(n) || n.starts_with("net_") {
                    Device::Vdev(n.clone())
                } else {
                    Device::Unknown(n.clone())
                }
            }
            // The EAL numbers allowed PCI devices first, then vdevs.
            PortRef::Id(id) => {
                let pci = self.allow.iter().map(|a| match pci_address(a) {
                    Some(a) => Device::Pci(a),
                    None => Device::Unknown(a.clone()),
                });
                let vdevs = self.vdevs.iter().map(|v| Device::Vdev(v.clone()));
                pci.chain(vdevs)
                    .nth(usize::from(*id))
                    .unwrap_or_else(|| Device::Unknown(format!("port {id}")))
            }
        }
    }
}

/// `dddd:bb:dd.f` or `bb:dd.f` as sysfs spells it (lower case, with domain).
#[must_use]
pub fn pci_address(s: &str) -> Option<String> {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    let parts: Vec<&str> = s.split(':').collect();
    let (domain, bus, devfn) = match parts.as_slice() {
        [d, b, df] => ((*d).to_owned(), *b, *df),
        [b, df] => ("0000".to_owned(), *b, *df),
        _ => return None,
    };
    let (dev, func) = devfn.split_once('.')?;
    let ok = hex(&domain, 4)
        && hex(bus, 2)
        && hex(dev, 2)
        && func.len() == 1
        && func.bytes().all(|b| (b'0'..=b'7').contains(&b));
    ok.then(|| format!("{domain}:{bus}:{dev}.{func}").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> EalArgs {
        EalArgs::parse(&a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn pci_addresses_are_normalised() {
        assert_eq!(pci_address("03:00.0").as_deref(), Some("0000:03:00.0"));
        assert_eq!(pci_address("0000:AF:00.1").as_deref(), Some("0000:af:00.1"));
        for bad in ["net_pcap0", "0000:03:00", "03:00.8", "0:03:00.0", ""] {
            assert_eq!(pci_address(bad), None, "{bad}");
        }
    }

    #[test]
    fn eal_arguments_name_devices() {
        let a = args(&[
            "-l",
            "0-3",
            "-a",
            "0000:03:00.0,rxq_cqe_comp_en=0",
            "--allow=04:00.1",
            "-a05:00.0",
            "--vdev",
            "net_pcap0,rx_pcap=x.pcap",
            "--no-huge",
        ]);
        assert!(a.no_huge);
        assert_eq!(a.allow, ["0000:03:00.0", "0000:04:00.1", "0000:05:00.0"]);
        assert_eq!(a.vdevs, ["net_pcap0"]);
        assert_eq!(
            a.device(&PortRef::Id(1)),
            Device::Pci("0000:04:00.1".into())
        );
        assert_eq!(a.device(&PortRef::Id(3)), Device::Vdev("net_pcap0".into()));
        assert_eq!(a.device(&PortRef::Id(4)), Device::Unknown("port 4".into()));
        assert_eq!(
            a.device(&PortRef::Name("net_null1".into())),
            Device::Vdev("net_null1".into())
        );
    }
}
