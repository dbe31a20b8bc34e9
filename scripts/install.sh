#!/usr/bin/env bash
# Installs calea-probe as a systemd service, `make install` style.
#
#   scripts/install.sh [--prefix DIR] [--sysconfdir DIR] [--destdir DIR] [--binary FILE]
#
# Builds the release binary (unless --binary names one), installs it to PREFIX/bin,
# the unit to SYSCONFDIR/systemd/system, the vfio udev rule, the configuration
# template as SYSCONFDIR/calea-probe/probe.toml.example (an existing probe.toml is
# never touched) and docs/bare-metal.md. Installing into the live system (no
# DESTDIR) also creates the calea-probe user and its directories and reloads
# systemd; with DESTDIR (packaging, tests) those steps are printed, not run.
# Defaults: --prefix /usr/local, --sysconfdir /etc; DESTDIR may come from the environment.
set -euo pipefail

prefix=/usr/local
sysconfdir=/etc
destdir="${DESTDIR:-}"
binary=""
while (($#)); do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --sysconfdir) sysconfdir="$2"; shift 2 ;;
        --destdir) destdir="$2"; shift 2 ;;
        --binary) binary="$2"; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

repo="$(cd "$(dirname "$0")/.." && pwd)"
bindir="$prefix/bin"
docdir="$prefix/share/doc/calea-probe"
unitdir="$sysconfdir/systemd/system"
udevdir="$sysconfdir/udev/rules.d"
confdir="$sysconfdir/calea-probe"
user=calea-probe

if [[ -z "$binary" ]]; then
    (cd "$repo" && cargo build --release --locked -p control --bin calea-probe)
    binary="$repo/target/release/calea-probe"
fi
[[ -x "$binary" ]] || { echo "install.sh: $binary is not an executable" >&2; exit 1; }

install -d "$destdir$bindir" "$destdir$docdir" "$destdir$unitdir" "$destdir$udevdir" \
    "$destdir$confdir" "$destdir$confdir/pki"
install -m 0755 "$binary" "$destdir$bindir/calea-probe"
sed -e "s|@BINDIR@|$bindir|g" -e "s|@SYSCONFDIR@|$sysconfdir|g" -e "s|@DOCDIR@|$docdir|g" \
    "$repo/packaging/calea-probe.service" >"$destdir$unitdir/calea-probe.service"
chmod 0644 "$destdir$unitdir/calea-probe.service"
install -m 0644 "$repo/packaging/60-calea-probe-vfio.rules" "$destdir$udevdir/"
install -m 0640 "$repo/packaging/probe.toml" "$destdir$confdir/probe.toml.example"
install -m 0644 "$repo/docs/bare-metal.md" "$destdir$docdir/"

# The user, its directories and systemd: on the live system only.
live=(
    "getent passwd $user >/dev/null || useradd --system --user-group --home-dir /var/lib/$user --no-create-home --shell /usr/sbin/nologin $user"
    "install -d -o $user -g $user -m 0750 /var/lib/$user /var/lib/$user/spool"
    "chgrp -R $user $confdir && chmod 0750 $confdir $confdir/pki"
    "udevadm control --reload && udevadm trigger --subsystem-match=vfio"
    "systemctl daemon-reload"
)
if [[ -n "$destdir" ]]; then
    echo "install.sh: installed into $destdir; on the target system also run:"
    printf '  %s\n' "${live[@]}"
else
    for step in "${live[@]}"; do
        echo "+ $step"
        bash -c "$step"
    done
fi
echo "install.sh: next: cp $confdir/probe.toml.example $confdir/probe.toml, edit it," \
     "run calea-probe doctor --config $confdir/probe.toml, then systemctl enable --now calea-probe"
