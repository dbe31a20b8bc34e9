# calea-probe on Debian bookworm with Debian's DPDK 22.11.
#   docker build -t calea-probe .
#   docker run --rm -v /etc/calea-probe:/etc/calea-probe:ro calea-probe   (run with your config)
# The demo (`calea-probe demo`, `certs`) is a cargo feature the production image leaves out:
#   docker build --build-arg FEATURES=demo -t calea-probe-demo .
#   docker run --rm calea-probe-demo demo
# For NICs: --privileged (or the vfio devices), and hugepages mounted at /dev/hugepages.

FROM rust:1-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      dpdk-dev libdpdk-dev libpcap-dev pkg-config clang libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only the workspace sources: never a host target/ directory. .cargo/config.toml
# builds for x86-64-v3, as the perf figures were measured.
COPY Cargo.toml Cargo.lock clippy.toml rustfmt.toml ./
COPY .cargo .cargo
COPY li-types li-types
COPY dpdk-bindings dpdk-bindings
COPY dataplane dataplane
COPY control control
COPY perf perf
ARG FEATURES=""
# Only the two binaries: a workspace build would enable `demo` for perf's sake.
RUN cargo build --release --locked -p control --bins --features "$FEATURES" \
 && mkdir -p /out \
 && install -m 0755 target/release/calea-probe target/release/calea-collector /out/

FROM debian:bookworm-slim
# `dpdk` brings the librte-* runtime libraries and the PMDs (net_pcap, NIC drivers)
# that EAL loads from its pmds directory at start-up.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      dpdk libpcap0.8 ca-certificates procps \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/calea-probe /out/calea-collector /usr/local/bin/
# Every key documented; `run` needs a real one (certificates, LEA addresses)
# mounted at /etc/calea-probe/probe.toml.
COPY examples/probe.toml /etc/calea-probe/probe.toml.example
# Root: EAL needs it for hugepages and NIC access.
WORKDIR /var/lib/calea-probe
ENTRYPOINT ["calea-probe"]
CMD ["run", "--config", "/etc/calea-probe/probe.toml"]
