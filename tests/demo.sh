#!/usr/bin/env bash
# A live mesh on this machine: builds meshd, starts N routers (default 4) in network namespaces
# joined in a line by veth pairs, each with its neighbours as WireGuard peers, waits until every
# router has routes to every other (both families), then shows router 0's neighbours and routes
# and pings across every hop. It keeps running until Ctrl-C (or --minutes), and removes every
# namespace and process it created on any exit.
#
#   bash tests/demo.sh [--nodes N] [--minutes M] [--discovery] [--sim]
#
# --discovery gives the routers no peers at all: they find each other by discovery beacons on
# their veths (interfaces = ["to*"]). --sim runs the many-node simulator instead (no root).
# Run as root on Debian 12 with rustup's Rust; missing Debian packages are installed (also on a
# minimal system, such as a debian:12 image: C compiler, iproute2, wireguard-tools, ping, procps).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never

nodes=4
minutes=60
sim=false
discovery=false
while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) nodes=${2:?--nodes needs a number}; shift 2 ;;
        --minutes) minutes=${2:?--minutes needs a number}; shift 2 ;;
        --sim) sim=true; shift ;;
        --discovery) discovery=true; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "demo: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
case "$nodes" in
    ''|*[!0-9]*) echo "demo: --nodes must be a number" >&2; exit 2 ;;
esac
if [ "$nodes" -lt 2 ] || [ "$nodes" -gt 16 ]; then
    echo "demo: --nodes must be between 2 and 16" >&2
    exit 2
fi

if ! command -v cargo >/dev/null 2>&1 && [ -f "${CARGO_HOME:-$HOME/.cargo}/env" ]; then
    # shellcheck disable=SC1091
    . "${CARGO_HOME:-$HOME/.cargo}/env"
fi

need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
if [ "$sim" = false ]; then
    command -v ip >/dev/null 2>&1 || need+=(iproute2)
    command -v wg >/dev/null 2>&1 || need+=(wireguard-tools)
    command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
    command -v sysctl >/dev/null 2>&1 || need+=(procps)
fi
if [ "${#need[@]}" -gt 0 ]; then
    echo "installing: ${need[*]}"
    apt-get update || echo "apt-get update reported errors; going on"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi

if [ "$sim" = true ]; then
    exec cargo run --release --bin meshsim -- --nodes 200 --topology geometric --seed 7 \
        --loss 0.01 --cut-fraction 0.05
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: network namespaces need root; run as root (or use --sim)" >&2
    exit 1
fi
if [ ! -c /dev/net/tun ]; then
    echo "demo: /dev/net/tun is missing; meshd needs a TUN device" >&2
    exit 1
fi

echo "== building meshd and meshctl"
cargo build --release -p meshd -p meshctl
meshd="$PWD/target/release/meshd"
meshctl="$PWD/target/release/meshctl"

prefix="mshd-$$"
work=$(mktemp -d /tmp/meshd-demo.XXXXXX)
pids=()
addresses=()

cleanup() {
    trap - EXIT INT TERM
    echo
    echo "== cleaning up"
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    for i in $(seq 0 $((nodes - 1))); do
        ip netns del "$prefix-$i" 2>/dev/null || true
    done
    rm -rf "$work"
    echo "removed the namespaces and $work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ns() { echo "$prefix-$1"; }

echo "== $nodes routers in a line: namespaces $(ns 0) .. $(ns $((nodes - 1)))"
for i in $(seq 0 $((nodes - 1))); do
    ip netns add "$(ns "$i")"
    ip -n "$(ns "$i")" link set lo up
    ip netns exec "$(ns "$i")" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
        net.ipv6.conf.default.accept_dad=0
    mkdir -p "$work/node$i"
    (umask 077 && wg genkey >"$work/node$i/private.key")
    wg pubkey <"$work/node$i/private.key" >"$work/node$i/public.key"
done
# Underlay: node i and i+1 share fd00:75:<i>::/64 on a veth pair.
for i in $(seq 0 $((nodes - 2))); do
    j=$((i + 1))
    ip link add "to$j" netns "$(ns "$i")" type veth peer name "to$i" netns "$(ns "$j")"
    ip -n "$(ns "$i")" addr add "fd00:75:$i::1/64" dev "to$j" nodad
    ip -n "$(ns "$j")" addr add "fd00:75:$i::2/64" dev "to$i" nodad
    ip -n "$(ns "$i")" link set "to$j" up
    ip -n "$(ns "$j")" link set "to$i" up
done

for i in $(seq 0 $((nodes - 1))); do
    config="$work/node$i/meshd.toml"
    cat >"$config" <<EOF
[node]
state_dir = "$work/node$i"
control_socket = "$work/node$i/meshd.sock"
ipv4_address = "198.51.100.$((i + 1))"

[import]
# The community's IPv4 range: without it the other routers' IPv4 addresses are not imported
# (docs/import-policy.md).
ipv4_range = "198.51.100.0/24"
EOF
    if [ "$discovery" = true ]; then
        # No keys exchanged: each router finds its neighbours on the veths by itself.
        printf '\n[discovery]\ninterfaces = ["to*"]\n' >>"$config"
    fi
    if [ "$discovery" = false ] && [ "$i" -gt 0 ]; then
        cat >>"$config" <<EOF

[[peer]]
public_key = "$(cat "$work/node$((i - 1))/public.key")"
endpoint = "[fd00:75:$((i - 1))::1]:51820"
EOF
    fi
    if [ "$discovery" = false ] && [ "$i" -lt $((nodes - 1)) ]; then
        cat >>"$config" <<EOF

[[peer]]
public_key = "$(cat "$work/node$((i + 1))/public.key")"
endpoint = "[fd00:75:$i::2]:51820"
EOF
    fi
    ip netns exec "$(ns "$i")" "$meshd" --config "$config" >"$work/node$i/log" 2>&1 &
    pids+=("$!")
done

address_of() {
    sed -n 's/.*mesh address \([0-9a-f:]*\).*/\1/p' "$work/node$1/log" | head -n1
}
for i in $(seq 0 $((nodes - 1))); do
    for _ in $(seq 1 50); do
        [ -n "$(address_of "$i")" ] && break
        sleep 0.2
    done
    if [ -z "$(address_of "$i")" ]; then
        echo "demo: router $i did not start; its log:" >&2
        cat "$work/node$i/log" >&2
        exit 1
    fi
    addresses[i]=$(address_of "$i")
    echo "router $i: mesh address ${addresses[i]}, IPv4 198.51.100.$((i + 1))"
done

last=$((nodes - 1))
far=${addresses[last]}

# Every router must have a route to every other router's mesh address and IPv4 address: then
# traffic flows both ways between any two of them, not only from router 0 outwards.
missing_routes() {
    local i j v6 v4
    for i in $(seq 0 "$last"); do
        v6=$(ip -n "$(ns "$i")" -6 route show proto 109) || { echo "router $i: ip route failed"; return; }
        v4=$(ip -n "$(ns "$i")" -4 route show proto 109) || { echo "router $i: ip route failed"; return; }
        for j in $(seq 0 "$last"); do
            [ "$i" = "$j" ] && continue
            grep -q "^${addresses[j]} " <<<"$v6" || echo "router $i has no IPv6 route to router $j"
            grep -q "^198\.51\.100\.$((j + 1)) " <<<"$v4" || echo "router $i has no IPv4 route to router $j"
        done
    done
}
echo "== waiting (up to 60 s) until every router has routes to every other, IPv6 and IPv4"
started=$SECONDS
for _ in $(seq 1 120); do
    [ -z "$(missing_routes)" ] && break
    sleep 0.5
done
gaps=$(missing_routes)
if [ -n "$gaps" ]; then
    echo "demo: after 60 s the mesh is still incomplete:" >&2
    echo "$gaps" >&2
    echo "demo: router logs are in $work/node*/log; router 0's says:" >&2
    tail -n 20 "$work/node0/log" >&2
    exit 1
fi
echo "complete after $((SECONDS - started)) s"

echo
echo "== router 0's neighbours (meshctl neighbours)"
"$meshctl" --socket "$work/node0/meshd.sock" neighbours
echo
echo "== router 0's routes (meshctl routes)"
"$meshctl" --socket "$work/node0/meshd.sock" routes
echo
echo "== the same routes in router 0's kernel (ip route show proto 109 in $(ns 0))"
ip -n "$(ns 0)" -6 route show proto 109
ip -n "$(ns 0)" -4 route show proto 109
echo
echo "== router 0 pings router $last, $last hops away, over IPv6 and IPv4"
ip netns exec "$(ns 0)" ping -c 3 -W 2 "$far"
ip netns exec "$(ns 0)" ping -c 3 -W 2 "198.51.100.$nodes"

echo
echo "The mesh keeps running for $minutes minutes; press Ctrl-C to stop and clean up."
echo "Look around, e.g.: ip netns exec $(ns 0) ping $far"
echo "              or: $meshctl --socket $work/node0/meshd.sock monitor"
echo "Logs: $work/node*/log"
end=$((SECONDS + minutes * 60))
while [ "$SECONDS" -lt "$end" ]; do
    for i in "${!pids[@]}"; do
        if ! kill -0 "${pids[$i]}" 2>/dev/null; then
            echo "demo: router $i stopped; its log:" >&2
            tail -n 20 "$work/node$i/log" >&2
            exit 1
        fi
    done
    sleep 2
done
