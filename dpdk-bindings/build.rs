//! Generates the DPDK bindings with bindgen and compiles the C wrappers for DPDK's
//! static-inline fast-path functions.
//!
//! Flags come from `pkg-config libdpdk` run directly: the pkg-config crate drops
//! `-include rte_config.h` and `-march=...`, which both bindgen and cc need.

use std::env;
use std::path::PathBuf;
use std::process::{exit, Command};

const MISSING: &str = "dpdk-sys: DPDK 22.11 development files not found (pkg-config libdpdk). \
Install them: scripts/install-deps.sh (apt-get install dpdk-dev libdpdk-dev)";

const NO_PKG_CONFIG: &str = "dpdk-sys: the pkg-config program is not installed; it finds \
DPDK's headers. Install it: scripts/install-deps.sh (apt-get install pkg-config)";

const HEADER: &str = "shim/calea_dpdk.h";

/// Functions calea-probe calls (static-inline ones get a C wrapper).
const FUNCTIONS: &[&str] = &[
    "rte_eal_init",
    "rte_eal_cleanup",
    "rte_strerror",
    "calea_rte_errno",
    "rte_lcore_id",
    "rte_socket_id",
    "rte_thread_register",
    "rte_thread_unregister",
    "rte_prefetch0",
    "rte_pktmbuf_pool_create",
    "calea_pktmbuf_pool_create_packed",
    "calea_mbufs_may_span_pages",
    "rte_mempool_free",
    "rte_mempool_avail_count",
    "calea_pktmbuf_free_burst",
    "rte_mbuf_dyn_rx_timestamp_register",
    "rte_eth_dev_count_avail",
    "rte_eth_dev_is_valid_port",
    "rte_eth_dev_get_port_by_name",
    "rte_eth_dev_info_get",
    "rte_eth_dev_socket_id",
    "rte_eth_dev_configure",
    "rte_eth_dev_get_mtu",
    "rte_eth_rx_queue_setup",
    "rte_eth_dev_start",
    "rte_eth_dev_stop",
    "rte_eth_dev_close",
    "rte_eth_promiscuous_enable",
    "rte_eth_stats_get",
    "rte_eth_rx_burst",
];

const TYPES: &[&str] = &[
    "rte_mbuf",
    "rte_mempool",
    "rte_eth_conf",
    "rte_eth_dev_info",
    "rte_eth_stats",
];

const VARS: &[&str] = &[
    "CALEA_.*",
    "RTE_ETH_MQ_RX_.*",
    "RTE_MAX_ETHPORTS",
    "RTE_ETH_NAME_MAX_LEN",
];

fn pkg_config(arg: &str) -> Vec<String> {
    let out = Command::new("pkg-config").args([arg, "libdpdk"]).output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("{NO_PKG_CONFIG}");
            exit(1);
        }
        _ => {
            eprintln!("{MISSING}");
            exit(1);
        }
    }
}

/// `-include rte_config.h` arrives as two tokens; keep them together.
fn cflags() -> Vec<String> {
    let raw = pkg_config("--cflags");
    let mut flags = Vec::with_capacity(raw.len());
    let mut it = raw.into_iter();
    while let Some(f) = it.next() {
        if f == "-include" {
            if let Some(file) = it.next() {
                flags.push(format!("-include{file}"));
            }
        } else {
            flags.push(f);
        }
    }
    flags
}

fn main() {
    println!("cargo:rerun-if-changed={HEADER}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_LIBDIR");

    let version = pkg_config("--modversion").join("");
    if !version.starts_with("22.11") {
        println!("cargo:warning=dpdk-sys: built for DPDK 22.11, found {version}");
    }
    let cflags = cflags();
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let wrappers = out.join("static_fns");

    let mut builder = bindgen::Builder::default()
        .header(HEADER)
        .clang_args(&cflags)
        .generate_comments(false)
        .layout_tests(false)
        .derive_default(true)
        .prepend_enum_name(false)
        .wrap_static_fns(true)
        .wrap_static_fns_path(&wrappers)
        .allowlist_recursively(true)
        .opaque_type("rte_mempool_ops_table")
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for f in FUNCTIONS {
        builder = builder.allowlist_function(f);
    }
    for t in TYPES {
        builder = builder.allowlist_type(t);
    }
    for v in VARS {
        builder = builder.allowlist_var(v);
    }
    let bindings = match builder.generate() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("dpdk-sys: bindgen failed on {HEADER}: {e}");
            exit(1);
        }
    };
    if let Err(e) = bindings.write_to_file(out.join("bindings.rs")) {
        eprintln!("dpdk-sys: cannot write bindings: {e}");
        exit(1);
    }

    // The wrappers include HEADER by relative path: compile from the crate dir.
    let mut cc = cc::Build::new();
    cc.file(wrappers.with_extension("c"))
        .include(env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .warnings(false)
        .opt_level(3);
    for f in &cflags {
        cc.flag(f);
    }
    // Static wrapper library first, then the DPDK shared libraries (GNU ld --as-needed).
    cc.compile("calea_dpdk_static_fns");

    for lib in pkg_config("--libs") {
        if let Some(name) = lib.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={name}");
        } else if let Some(dir) = lib.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        }
        // `-Wl,--as-needed` is the toolchain default on Debian; nothing else is emitted.
    }
}
