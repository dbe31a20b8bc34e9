//! Fuzz `dataplane::parse::dissect`: no input may panic it, what it reports must
//! stay inside the frame, and its fast path must agree with the general walker
//! (`dissect_general`) on every input, malformed ones included, also when the
//! output still holds the layers of an earlier, deeper frame. The worker's screens (`common_ipv4`,
//! `common_ipv6`, `common_tunnel_ipv4`, `common_tunnel_ipv4_ipv6`, `common_tunnel_ipv6`,
//! `common_pseudowire`) must pass only frames the walker dissects to those IP layers
//! and MAC pairs; `common_ipv4_untagged`, `common_ipv6_untagged` and
//! `common_gtpu_untagged` must agree with `common_ipv4`, `common_ipv6` and
//! `common_tunnel_ipv4` wherever they take a frame.
//!
//! Run from fuzz/: `cargo run --bin dissect_seeds` (writes a seed frame per
//! encapsulation into corpus/dissect), then `cargo +nightly fuzz run dissect`.
#![forbid(unsafe_code)]
#![no_main]

use std::sync::OnceLock;

use dataplane::parse::{
    common_gtpu_untagged, common_ipv4, common_ipv4_untagged, common_ipv6, common_ipv6_untagged,
    common_pseudowire, common_tunnel_ipv4, common_tunnel_ipv4_ipv6, common_tunnel_ipv6, dissect,
    dissect_cut, dissect_general, mac_pair, Addrs, Dissection, ParseError,
};
use dataplane::synth::Frame;
use libfuzzer_sys::fuzz_target;

/// A dissection filled by a tunnelled frame: each input is dissected into a copy
/// of it, as a worker reuses its scratch space, so stale layers must not leak.
fn deep() -> &'static Dissection {
    static DEEP: OnceLock<Dissection> = OnceLock::new();
    DEEP.get_or_init(|| {
        let frame = Frame::ethernet([7; 6], [8; 6])
            .vlan(10)
            .ipv4([1, 1, 1, 1].into(), [2, 2, 2, 2].into())
            .gre()
            .ipv4([3, 3, 3, 3].into(), [4, 4, 4, 4].into())
            .tcp(1, 2)
            .build();
        let mut d = Dissection::default();
        assert_eq!(dissect(&frame, &mut d), Ok(()));
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let mut general = Dissection::default();
    let want = dissect_general(data, &mut general);

    let mut d = *deep();
    let got = dissect(data, &mut d);

    assert_eq!(got, want, "dissect and dissect_general disagree");
    // Also on error: the worker classifies a malformed frame by the layers
    // before its fault.
    assert_eq!(d, general, "dissections differ");
    assert!(usize::from(d.header_len) <= data.len());
    if let Some(l3) = d.l3_offset {
        assert!(usize::from(l3) <= usize::from(d.header_len));
    }
    // The same bytes as the start of a longer frame on the wire (the first
    // byte picks how much longer): offsets still inside the bytes at hand.
    let wire_len = data.len() + usize::from(data.first().copied().unwrap_or(0)) * 64;
    let mut cut = Dissection::default();
    let cut_result = dissect_cut(data, wire_len, &mut cut);
    if wire_len == data.len() {
        assert_eq!(cut_result, want, "a whole frame dissects as dissect does");
        assert_eq!(cut, general, "a whole frame dissects as dissect does");
    }
    assert!(usize::from(cut.header_len) <= data.len());
    if let Some(v4) = common_ipv4(data) {
        check_screened(data, None, want, &general);
        assert_eq!(general.single_v4(), Some(v4), "screened addresses differ");
    }
    if let Some(v4) = common_ipv4_untagged(data) {
        assert_eq!(common_ipv4(data), Some(v4), "the untagged screen differs");
    }
    if let Some(layers) = common_gtpu_untagged(data) {
        assert_eq!(
            common_tunnel_ipv4(data).map(|t| t.layers),
            Some(layers),
            "the untagged GTP-U screen differs"
        );
    }
    if let Some(v6) = common_ipv6_untagged(data) {
        assert_eq!(
            common_ipv6(data),
            Some(v6),
            "the untagged IPv6 screen differs"
        );
    }
    if let Some(v6) = common_ipv6(data) {
        check_screened(data, None, want, &general);
        assert_eq!(general.single_v6(), Some(v6), "screened addresses differ");
    }
    if let Some(t) = common_tunnel_ipv4(data) {
        check_screened(data, t.inner_eth, want, &general);
        assert_eq!(
            general.two_v4(),
            Some(t.layers),
            "screened addresses differ"
        );
    }
    if let Some(t) = common_tunnel_ipv4_ipv6(data) {
        check_screened(data, t.inner_eth, want, &general);
        assert_eq!(
            general.ipv4_ipv6(),
            Some((t.outer, t.inner)),
            "screened addresses differ"
        );
    }
    if let Some(t) = common_tunnel_ipv6(data) {
        check_screened(data, t.inner_eth, want, &general);
        let addrs = Some((t.outer, t.inner));
        assert_eq!(general.ipv6_tunnel(), addrs, "screened addresses differ");
    }
    if let Some(p) = common_pseudowire(data) {
        check_screened(data, Some(p.inner_eth), want, &general);
        let single = general.single_v4().map(Addrs::V4);
        let single = single.or(general.single_v6().map(Addrs::V6));
        assert_eq!(single, Some(p.addrs), "screened addresses differ");
    }
});

/// A frame a screen passed: the walker dissects it, to the frame's MAC pair
/// and, for a mirror tunnel or a pseudowire, the pair at `inner_eth`.
fn check_screened(
    data: &[u8],
    inner_eth: Option<usize>,
    walker: Result<(), ParseError>,
    general: &Dissection,
) {
    assert_eq!(walker, Ok(()), "screened a frame the walker rejects");
    let mut macs = vec![mac_pair(data)];
    macs.extend(inner_eth.map(|at| mac_pair(data.get(at..).unwrap_or(&[]))));
    assert_eq!(general.macs(), &macs[..], "screened MACs differ");
}
