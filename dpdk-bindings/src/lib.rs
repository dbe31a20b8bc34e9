//! Raw FFI bindings to DPDK.
