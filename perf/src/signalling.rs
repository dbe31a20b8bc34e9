//! Signalling messages as a carrier's BNG, DHCP servers and relays send them:
//! the signalling benchmarks' inputs and `gen_traffic --signalling-fraction`'s
//! frames. The addresses are the ones the probe's `[sessions]` would list.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::Result;
use control::sessions::wire::sign_radius;
use dataplane::synth::voice::{self, Dialog, MediaDir, Wrap};
use dhcproto::{v4, v6, Encodable};

/// The RADIUS shared secret of [`NAS`].
pub const SECRET: &[u8] = b"bench-secret-of-a-bng";
const NAS_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The BNG sending RADIUS accounting (a `[sessions]` NAS).
pub const NAS: IpAddr = IpAddr::V4(NAS_V4);
/// The RADIUS accounting server the BNG sends to.
pub const RADIUS_SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The DHCPv4 server (a `[sessions]` DHCP server).
pub const DHCP4_SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 67);
/// [`DHCP4_SERVER`] as an address.
pub const DHCP4: IpAddr = IpAddr::V4(DHCP4_SERVER);
/// The DHCPv4 relay (giaddr) the server answers.
pub const DHCP4_RELAY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The DHCPv6 relay (a `[sessions]` DHCP relay).
pub const DHCP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));

/// An Accounting-Request Start of subscriber `i`, as a BNG sends it.
pub fn accounting(i: u32) -> Vec<u8> {
    let user = format!("user{i}@isp.example");
    let session = format!("{i:016x}");
    let port = format!("ge-0/0/{}.{}", i % 48, i % 4000);
    let attrs: [(u8, &[u8]); 8] = [
        (40, &[0, 0, 0, 1]),
        (1, user.as_bytes()),
        (44, session.as_bytes()),
        (4, &NAS_V4.octets()),
        (32, b"bng1.pop3"),
        (87, port.as_bytes()),
        (8, &(0x6440_0000 + i).to_be_bytes()),
        (31, b"02:00:5e:00:53:01"),
    ];
    let mut p = vec![4, (i % 256) as u8, 0, 0];
    p.extend_from_slice(&[0; 16]);
    for (t, v) in attrs {
        p.extend_from_slice(&[t, v.len() as u8 + 2]);
        p.extend_from_slice(v);
    }
    let len = (p.len() as u16).to_be_bytes();
    p[2..4].copy_from_slice(&len);
    sign_radius(&mut p, SECRET, &[0; 16]);
    p
}

/// A DHCPACK for client `i`, relayed (option 82).
pub fn dhcp4_ack(i: u32) -> Result<Vec<u8>> {
    let mac = [
        2,
        0,
        (i >> 24) as u8,
        (i >> 16) as u8,
        (i >> 8) as u8,
        i as u8,
    ];
    let zero = Ipv4Addr::UNSPECIFIED;
    let mut m = v4::Message::new(zero, (0x6440_0000 + i).into(), zero, DHCP4_RELAY, &mac);
    m.set_opcode(v4::Opcode::BootReply);
    m.opts_mut()
        .insert(v4::DhcpOption::MessageType(v4::MessageType::Ack));
    m.opts_mut().insert(v4::DhcpOption::AddressLeaseTime(3600));
    let mut info = v4::relay::RelayAgentInformation::default();
    info.insert(v4::relay::RelayInfo::AgentCircuitId(
        format!("olt1/1/{i}").into_bytes(),
    ));
    m.opts_mut()
        .insert(v4::DhcpOption::RelayAgentInformation(info));
    Ok(m.to_vec()?)
}

/// A DHCPv6 Reply (IA_NA, IA_PD) for client `i` in a Relay-Repl with Interface-Id.
pub fn dhcp6_relayed_reply(i: u32) -> Result<Vec<u8>> {
    let mut m = v6::Message::new_with_id(v6::MessageType::Reply, [1, 2, 3]);
    let mut duid = vec![0, 3, 0, 1, 2, 0];
    duid.extend_from_slice(&i.to_be_bytes());
    m.opts_mut().insert(v6::DhcpOption::ClientId(duid));
    let base = u128::from(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0));
    let mut na = v6::DhcpOptions::new();
    na.insert(v6::DhcpOption::IAAddr(v6::IAAddr {
        addr: (base + u128::from(i)).into(),
        preferred_life: 3600,
        valid_life: 7200,
        opts: v6::DhcpOptions::new(),
    }));
    m.opts_mut().insert(v6::DhcpOption::IANA(v6::IANA {
        id: 1,
        t1: 0,
        t2: 0,
        opts: na,
    }));
    let mut pd = v6::DhcpOptions::new();
    pd.insert(v6::DhcpOption::IAPrefix(v6::IAPrefix {
        preferred_lifetime: 3600,
        valid_lifetime: 7200,
        prefix_len: 56,
        prefix_ip: (base + (u128::from(i) << 72)).into(),
        opts: v6::DhcpOptions::new(),
    }));
    m.opts_mut().insert(v6::DhcpOption::IAPD(v6::IAPD {
        id: 2,
        t1: 0,
        t2: 0,
        opts: pd,
    }));
    let inner = m.to_vec()?;
    let mut r = vec![13, 0];
    r.extend_from_slice(&[0; 32]);
    let circuit = format!("olt1/1/{i}");
    for (code, value) in [(18u16, circuit.as_bytes()), (9, &inner[..])] {
        r.extend_from_slice(&code.to_be_bytes());
        r.extend_from_slice(&(value.len() as u16).to_be_bytes());
        r.extend_from_slice(value);
    }
    Ok(r)
}

/// The addresses the probe's signalling intercept holds for these frames:
/// the NAS, the DHCPv4 server and the SIP server.
pub const ADDRESSES: [IpAddr; 3] = [NAS, DHCP4, IpAddr::V4(voice::SIP_SERVER)];

/// The `k`th signalling frame of a capture (plain Ethernet, IPv4, UDP), in turn a
/// SIP INVITE from `phone` to the SIP server, a RADIUS Accounting-Request
/// from the NAS and a relayed DHCPv4 ACK.
pub fn frame(k: u64, phone: Ipv4Addr) -> Result<Vec<u8>> {
    let at = |ip: Ipv4Addr, port| SocketAddr::new(ip.into(), port);
    // At most 2^32 distinct subscribers: more wrap.
    let i = k as u32;
    Ok(match k % 3 {
        0 => {
            let (phone, server) = (at(phone, 5060), at(voice::SIP_SERVER, 5060));
            voice::udp(Wrap::Plain, phone, server, &invite(k, phone))
        }
        1 => voice::udp(
            Wrap::Plain,
            at(NAS_V4, 40_000 + (k % 1000) as u16),
            at(RADIUS_SERVER, 1813),
            &accounting(i),
        ),
        _ => voice::udp(
            Wrap::Plain,
            at(DHCP4_SERVER, 67),
            at(DHCP4_RELAY, 67),
            &dhcp4_ack(i)?,
        ),
    })
}

/// A SIP INVITE with an SDP offer, call `k`, from `phone`.
fn invite(k: u64, phone: SocketAddr) -> Vec<u8> {
    let d = Dialog {
        call_id: format!("perf-{k}@{}", phone.ip()),
        caller: format!("sip:u{k}@example.com"),
        caller_tag: format!("t{k}"),
        callee: "sip:bob@example.net".into(),
        callee_tag: None,
        transport: "UDP",
    };
    let media = SocketAddr::new(phone.ip(), 40000 + (k % 10000) as u16 * 2);
    d.request(true, "INVITE", "sip:bob@example.net", phone, 1)
        .sdp(voice::sdp(media, 1, MediaDir::SendRecv))
        .build()
}
