//! Packet sources behind one trait: a DPDK ethdev RX queue, or a pcap file (tests, no EAL).
