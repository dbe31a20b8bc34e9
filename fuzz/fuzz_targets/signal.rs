//! Fuzz `sessions::wire::Verifier::parse` on RADIUS, DHCPv4 and DHCPv6: no
//! input may panic it or make it allocate without bound. The first byte picks
//! the protocol; RADIUS accounting input is signed with the NAS's secret
//! first, so the fuzzer reaches the attribute parser behind the authenticator.
//!
//! Run from fuzz/: `cargo +nightly fuzz run signal`.
#![forbid(unsafe_code)]
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::PermissionsExt;
use std::sync::OnceLock;

use control::sessions::wire::{sign_radius, Verifier};
use control::sessions::{NasConfig, SessionsConfig, SignalPacket, Transport};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-secret";
const NAS: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
const DHCP4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 67));
const DHCP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x547));

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("calea-fuzz-signal-{}", std::process::id()));
        std::fs::write(&path, SECRET).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut cfg: SessionsConfig = toml::from_str("").unwrap();
        cfg.nas.push(NasConfig {
            address: NAS,
            secret_file: path.clone(),
            name: Some("fuzz".into()),
        });
        cfg.dhcp_servers = vec![DHCP4, DHCP6];
        let v = Verifier::from_config(&cfg).unwrap();
        let _ = std::fs::remove_file(path);
        v
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let mut msg = body.to_vec();
    let (src, dst, src_port, dst_port) = match pick % 5 {
        0 => {
            sign_radius(&mut msg, SECRET, &[0; 16]);
            (NAS, SERVER, 4000, 1813)
        }
        1 => (NAS, SERVER, 4000, 1812),
        2 => (SERVER, NAS, 1812, 4000),
        3 => (DHCP4, SERVER, 67, 68),
        _ => (DHCP6, NAS, 547, 546),
    };
    let p = SignalPacket {
        ts_ns: 1,
        src,
        dst,
        src_port,
        dst_port,
        transport: Transport::Udp,
        payload: &msg,
    };
    if let Ok(s) = verifier().parse(&p) {
        assert_eq!(s.message, msg);
        assert!(s.assigned.len() + s.identities.len() <= msg.len());
    }
});
