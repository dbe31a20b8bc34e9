//! Writes a seed corpus for the `dissect` fuzz target: one frame per
//! encapsulation the parser knows (built with `dataplane::synth`), so fuzzing
//! starts from deep, valid frames instead of finding each header by chance.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --bin dissect_seeds [DIR]`
//! (default DIR: fuzz/corpus/dissect, the corpus `cargo fuzz run dissect` reads
//! and grows). Every seed must dissect cleanly: a seed list that drifts from the
//! parser fails here, not silently in the fuzzer.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use dataplane::parse::{dissect, Dissection};
use dataplane::synth::Frame;

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/dissect"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir)?;
    let (a4, b4) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(192, 0, 2, 7));
    let a6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    let b6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
    let eth = || Frame::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let inner4 = |f: Frame| f.ipv4(b4, a4).tcp(443, 50000).payload(b"inner");
    let seeds: Vec<(&str, Frame)> = vec![
        ("ipv4-udp", eth().ipv4(a4, b4).udp(53, 40000).payload(b"q")),
        (
            "ipv4-tcp-options",
            eth().ipv4(a4, b4).options(8).tcp(80, 1234),
        ),
        ("ipv4-icmp", eth().ipv4(a4, b4).icmp()),
        (
            "ipv4-first-fragment",
            eth().ipv4(a4, b4).fragment(0, true).udp(1, 2),
        ),
        (
            "ipv4-later-fragment",
            eth().ipv4(a4, b4).fragment(185, false).payload(&[0; 16]),
        ),
        ("ipv6-tcp", eth().ipv6(a6, b6).tcp(443, 50000)),
        (
            "ipv6-ext-headers",
            eth()
                .ipv6(a6, b6)
                .hop_by_hop()
                .routing()
                .dest_opts()
                .udp(1, 2),
        ),
        ("ipv6-fragment", eth().ipv6(a6, b6).fragment(0, true).icmp()),
        ("ipv6-ah-esp", eth().ipv6(a6, b6).ah().esp(7)),
        ("vlan", eth().vlan(100).ipv4(a4, b4).udp(1, 2)),
        ("qinq", eth().qinq(200).vlan(100).ipv6(a6, b6).tcp(1, 2)),
        (
            "vlan-custom-tpid",
            eth().vlan_tpid(0x9100, 5).ipv4(a4, b4).tcp(1, 2),
        ),
        ("mpls", eth().mpls(&[16, 17, 18]).ipv4(a4, b4).udp(1, 2)),
        (
            "mpls-pseudowire",
            inner4(
                eth()
                    .mpls(&[20])
                    .pw_control_word()
                    .inner_ethernet([4; 6], [5; 6]),
            ),
        ),
        (
            "mpls-pseudowire-ipv6",
            eth()
                .mpls(&[21])
                .pw_control_word()
                .inner_ethernet([4; 6], [5; 6])
                .ipv6(a6, b6)
                .tcp(1, 2),
        ),
        (
            "mpls-pseudowire-no-control-word",
            inner4(eth().mpls(&[22]).inner_ethernet([4; 6], [0x45; 6])),
        ),
        (
            // An HSRP MAC (16 zero bits, as a control word) and a tag.
            "mpls-pseudowire-no-control-word-hsrp-vlan",
            inner4(
                eth()
                    .mpls(&[23])
                    .inner_ethernet([4; 6], [0, 0, 0x0c, 7, 0xac, 1])
                    .vlan(9),
            ),
        ),
        ("ipip", inner4(eth().ipv4(a4, b4))),
        ("6in4", eth().ipv4(a4, b4).ipv6(a6, b6).icmp()),
        ("4in6", inner4(eth().ipv6(a6, b6))),
        ("gtpu-over-ipv6", inner4(eth().ipv6(a6, b6).gtpu(0x4321))),
        (
            "vxlan-over-ipv6",
            eth()
                .ipv6(a6, b6)
                .vxlan(43)
                .inner_ethernet([4; 6], [5; 6])
                .ipv6(a6, b6)
                .udp(1, 2),
        ),
        ("pppoe-ipv4", eth().pppoe(9).ipv4(a4, b4).tcp(1, 2)),
        ("pppoe-ipv6", eth().pppoe(9).ipv6(a6, b6).udp(1, 2)),
        ("gre-ipv4", inner4(eth().ipv4(a4, b4).gre())),
        (
            "gre-key-seq-csum",
            inner4(eth().ipv4(a4, b4).gre_with(true, Some(1), Some(2))),
        ),
        (
            "gre-ethernet",
            inner4(eth().ipv4(a4, b4).gre().inner_ethernet([4; 6], [5; 6])),
        ),
        (
            "erspan1",
            inner4(eth().ipv4(a4, b4).erspan1().inner_ethernet([4; 6], [5; 6])),
        ),
        (
            "erspan2",
            inner4(eth().ipv4(a4, b4).erspan2(3).inner_ethernet([4; 6], [5; 6])),
        ),
        (
            "erspan3",
            inner4(
                eth()
                    .ipv6(a6, b6)
                    .erspan3(3, true)
                    .inner_ethernet([4; 6], [5; 6]),
            ),
        ),
        (
            "vxlan",
            inner4(
                eth()
                    .ipv4(a4, b4)
                    .udp(5555, 4789)
                    .vxlan(42)
                    .inner_ethernet([4; 6], [5; 6]),
            ),
        ),
        ("gtpu", inner4(eth().ipv4(a4, b4).gtpu(0x1234))),
        (
            "gtpu-ext",
            eth()
                .ipv6(a6, b6)
                .gtpu_with(7, Some(1), 2)
                .ipv6(b6, a6)
                .udp(1, 2),
        ),
    ];
    for (name, frame) in &seeds {
        let bytes = frame.build();
        if let Err(e) = dissect(&bytes, &mut Dissection::default()) {
            panic!("seed {name} does not dissect: {e:?}");
        }
        std::fs::write(dir.join(name), bytes)?;
    }
    println!("{} seeds in {}", seeds.len(), dir.display());
    Ok(())
}
