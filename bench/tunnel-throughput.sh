#!/usr/bin/env bash
# tunnel-throughput.sh: TCP throughput and tunnel CPU cost of meshd against plain veth,
# wireguard-go and boringtun-cli, between two network namespaces. See bench/TUNNELS.md.
#
# Run as root. Everything happens inside two network namespaces this script creates
# (mshtp-<pid>-a, mshtp-<pid>-b) joined by one veth pair; the only addresses used are
# fd00:74::/64 (underlay), fd00:77::/64 (wireguard-go), fd00:78::/64 (boringtun-cli) and whatever
# meshd derives inside fd6d:6573:6800::/48. Every exit path kills the processes this script
# started (by PID) and deletes the namespaces.
set -euo pipefail

SECONDS_PER_RUN=10
ROUNDS=3
KEEP_DIR=0
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MESHD="${MESHD:-$REPO/target/release/meshd}"
BTCLI_ROOT="$REPO/target/boringtun-cli"
BTCLI="$BTCLI_ROOT/bin/boringtun-cli"

readonly NS_A="mshtp-$$-a"
readonly NS_B="mshtp-$$-b"
readonly UL_A="fd00:74::1" UL_B="fd00:74::2"
readonly WG_A="fd00:77::1" WG_B="fd00:77::2"
readonly BT_A="fd00:78::1" BT_B="fd00:78::2"
readonly MESHD_PORT=51820 WG_PORT=51821 BT_PORT=51822
readonly READY_TIMEOUT_S=30      # bound on waiting for a tunnel to pass a ping
readonly STOP_TIMEOUT_S=5        # SIGTERM grace before SIGKILL

usage() {
    cat <<'EOF'
Usage: bench/tunnel-throughput.sh [options]

Two network namespaces joined by one veth (fd00:74::1/64 and ::2/64, MTU 1500). For each tunnel
setup -- veth (no tunnel), meshd, wireguard-go, boringtun-cli -- runs iperf3 (TCP, one stream,
server in namespace B bound to the tunnel address, client in namespace A) for S seconds, in R
interleaved rounds (veth, meshd, wireguard-go, boringtun-cli, veth, ...), and prints key: value
lines with the medians:
  <name>_gbit_s       receiver throughput, Gbit/s
  <name>_cpu_s        CPU seconds used by both ends' tunnel processes per measured second
                      (utime+stime from /proc/<pid>/stat; 1.0 = one core busy)
  meshd_vs_wireguard_go_throughput, meshd_vs_wireguard_go_cpu   ratios of the medians
Names: veth, meshd, wireguard_go, boringtun_cli. A setup that cannot run prints "skipped".

Options:
  --seconds S   iperf3 -t per measurement, 1..600 (default 10)
  --rounds R    rounds, 1..20 (default 3)
  --keep-dir    keep the work directory (configs, keys, daemon logs, iperf3 JSON)
  -h, --help    this text

Needs root, iproute2, iperf3, python3, wg (wireguard-tools), wireguard-go, and meshd built with
`cargo build --release -p meshd` (or MESHD=/path). boringtun-cli is installed with
`cargo install boringtun-cli --locked --root target/boringtun-cli` if missing; if that fails the
setup is skipped.
EOF
}

# die, log, run_fg
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_PER_RUN="${2:-}"; shift 2 ;;
        --rounds) ROUNDS="${2:-}"; shift 2 ;;
        --keep-dir) KEEP_DIR=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
if ! [[ "$SECONDS_PER_RUN" =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_RUN" -lt 1 ] || [ "$SECONDS_PER_RUN" -gt 600 ]; then
    die "--seconds must be 1..600"
fi
if ! [[ "$ROUNDS" =~ ^[0-9]+$ ]] || [ "$ROUNDS" -lt 1 ] || [ "$ROUNDS" -gt 20 ]; then
    die "--rounds must be 1..20"
fi
[ "$(id -u)" = 0 ] || die "must run as root"
[ -e /dev/net/tun ] || die "/dev/net/tun is missing"
for tool in ip iperf3 python3 wg wireguard-go timeout getconf; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
[ -x "$MESHD" ] || die "$MESHD is missing: cargo build --release -p meshd"
CLK_TCK="$(getconf CLK_TCK)"

WORK="$(mktemp -d /tmp/mshtp-$$.XXXXXX)"
PIDS=()          # every background process we started, killed by PID on exit
CLEANED=0

cleanup() {
    [ "$CLEANED" = 1 ] && return 0
    CLEANED=1
    set +e
    if [ -n "$FG_PID" ]; then kill -TERM "$FG_PID" 2>/dev/null; wait "$FG_PID" 2>/dev/null; fi
    local pid i
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for ((i = 0; i < STOP_TIMEOUT_S * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    ip netns del "$NS_A" 2>/dev/null
    ip netns del "$NS_B" 2>/dev/null
    # Sockets our (now dead) userspace daemons may have left; the names carry our PID.
    for i in wgo btc; do rm -f "/var/run/wireguard/$i$$"{a,b}.sock; done
    if [ "$KEEP_DIR" = 1 ]; then
        log "work directory kept: $WORK"
    else
        rm -rf -- "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_ns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

# Starts "$@" in the background inside namespace $1, output to log file $2; sets LAST_PID.
# `ip netns exec` execs the program, so the PID is the program's own.
spawn() {
    local ns="$1" logfile="$2"; shift 2
    ip netns exec "$ns" "$@" >"$logfile" 2>&1 </dev/null &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# utime+stime of a process in clock ticks (fields 14 and 15, counted after the ")" of comm).
cpu_ticks() {
    local stat rest
    stat="$(cat "/proc/$1/stat")" || return 1
    rest="${stat##*) }"
    # shellcheck disable=SC2086
    set -- $rest
    echo $(( ${12} + ${13} ))
}

# Polls a ping from A to $1 until it answers, at most READY_TIMEOUT_S seconds.
wait_ping() {
    local addr="$1" i
    for ((i = 0; i < READY_TIMEOUT_S * 2; i++)); do
        if in_ns "$NS_A" ping -6 -c1 -W1 -q "$addr" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    return 1
}

# Waits until a TCP listener on port $2 exists in namespace $1 (bounded).
wait_listen() {
    local i
    for ((i = 0; i < 50; i++)); do
        if in_ns "$1" ss -Hltn "sport = :$2" | grep -q .; then return 0; fi
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------------------------------------
# Underlay
# ---------------------------------------------------------------------------------------------
log "namespaces $NS_A, $NS_B; work dir $WORK"
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add ul0 netns "$NS_A" mtu 1500 type veth peer name ul0 netns "$NS_B" mtu 1500
for ns in "$NS_A" "$NS_B"; do
    in_ns "$ns" ip link set lo up
    in_ns "$ns" ip link set ul0 up
done
in_ns "$NS_A" ip addr add "$UL_A/64" dev ul0 nodad
in_ns "$NS_B" ip addr add "$UL_B/64" dev ul0 nodad

declare -A SERVER_ADDR=() TUN_PIDS=() IPERF_PORT=() SKIP=()
SETUPS=(veth meshd wireguard_go boringtun_cli)
SERVER_ADDR[veth]="$UL_B"
TUN_PIDS[veth]=""
IPERF_PORT=([veth]=5201 [meshd]=5202 [wireguard_go]=5203 [boringtun_cli]=5204)

# ---------------------------------------------------------------------------------------------
# meshd: two nodes, each the other's static peer
# ---------------------------------------------------------------------------------------------
setup_meshd() {
    local side ns dir peer_pub peer_ul
    for side in a b; do
        mkdir -m 700 "$WORK/meshd-$side"
        (umask 077; wg genkey >"$WORK/meshd-$side/private.key")
        wg pubkey <"$WORK/meshd-$side/private.key" >"$WORK/meshd-$side/public.key"
    done
    for side in a b; do
        dir="$WORK/meshd-$side"
        if [ "$side" = a ]; then peer_pub="$(cat "$WORK/meshd-b/public.key")"; peer_ul="$UL_B"
        else peer_pub="$(cat "$WORK/meshd-a/public.key")"; peer_ul="$UL_A"; fi
        cat >"$dir/meshd.toml" <<EOF
[node]
interface = "mesh0"
listen_port = $MESHD_PORT
state_dir = "$dir"
control_socket = "$dir/meshd.sock"
mesh_prefix = "fd6d:6573:6800::/48"
log_level = "info"
underlay_mtu = 1500

[[peer]]
public_key = "$peer_pub"
endpoint = "[$peer_ul]:$MESHD_PORT"
EOF
    done
    local pa pb
    spawn "$NS_A" "$WORK/meshd-a/log" "$MESHD" --config "$WORK/meshd-a/meshd.toml"; pa=$LAST_PID
    spawn "$NS_B" "$WORK/meshd-b/log" "$MESHD" --config "$WORK/meshd-b/meshd.toml"; pb=$LAST_PID
    TUN_PIDS[meshd]="$pa $pb"
    local addr="" i
    for ((i = 0; i < READY_TIMEOUT_S * 10; i++)); do
        addr="$(grep -so 'mesh address [0-9a-f:]*' "$WORK/meshd-b/log" | head -n1 | awk '{print $3}')" || true
        [ -n "$addr" ] && break
        kill -0 "$pb" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$addr" ] || { log "meshd B printed no mesh address:"; tail -n 20 "$WORK/meshd-b/log" >&2; return 1; }
    SERVER_ADDR[meshd]="$addr"
    wait_ping "$addr" || { log "meshd tunnel did not pass a ping in ${READY_TIMEOUT_S}s"; tail -n 20 "$WORK/meshd-a/log" >&2; return 1; }
    log "meshd up: pids $pa $pb ($(cat "/proc/$pa/comm") $(cat "/proc/$pb/comm")), B is $addr, mesh0 MTU $(in_ns "$NS_A" cat /sys/class/net/mesh0/mtu)"
}

# ---------------------------------------------------------------------------------------------
# wireguard-go / boringtun-cli: a userspace WireGuard daemon per side, configured with wg
# ---------------------------------------------------------------------------------------------
# $1 setup name, $2 interface, $3 UDP port, $4 address A, $5 address B, rest: daemon command
# (the interface name is appended).
setup_wg_like() {
    local name="$1" ifname="$2" port="$3" addr_a="$4" addr_b="$5"; shift 5
    local side ns pid pids="" i key peer_pub peer_ul my_addr peer_addr
    for side in a b; do
        (umask 077; wg genkey >"$WORK/$name-$side.key")
    done
    for side in a b; do
        if [ "$side" = a ]; then ns="$NS_A"; else ns="$NS_B"; fi
        spawn "$ns" "$WORK/$name-$side.log" env WG_PROCESS_FOREGROUND=1 "$@" "$ifname$side"
        pids="$pids $LAST_PID"
    done
    TUN_PIDS[$name]="${pids# }"
    for side in a b; do
        if [ "$side" = a ]; then ns="$NS_A"; else ns="$NS_B"; fi
        for ((i = 0; i < 100; i++)); do
            [ -S "/var/run/wireguard/$ifname$side.sock" ] && in_ns "$ns" wg show "$ifname$side" >/dev/null 2>&1 && break
            sleep 0.1
        done
        in_ns "$ns" wg show "$ifname$side" >/dev/null 2>&1 || { log "$name: $ifname$side did not appear in $ns"; cat "$WORK/$name-$side.log" >&2; return 1; }
    done
    for side in a b; do
        if [ "$side" = a ]; then ns="$NS_A"; key="$WORK/$name-a.key"; peer_pub="$(wg pubkey <"$WORK/$name-b.key")"
            peer_ul="$UL_B"; my_addr="$addr_a"; peer_addr="$addr_b"
        else ns="$NS_B"; key="$WORK/$name-b.key"; peer_pub="$(wg pubkey <"$WORK/$name-a.key")"
            peer_ul="$UL_A"; my_addr="$addr_b"; peer_addr="$addr_a"; fi
        in_ns "$ns" wg set "$ifname$side" private-key "$key" listen-port "$port" \
            peer "$peer_pub" allowed-ips "$peer_addr/128" endpoint "[$peer_ul]:$port"
        in_ns "$ns" ip addr add "$my_addr/64" dev "$ifname$side" nodad
        in_ns "$ns" ip link set "$ifname$side" mtu 1420 up
    done
    SERVER_ADDR[$name]="$addr_b"
    wait_ping "$addr_b" || { log "$name tunnel did not pass a ping in ${READY_TIMEOUT_S}s"; return 1; }
    log "$name up: pids ${TUN_PIDS[$name]} ($(for p in ${TUN_PIDS[$name]}; do cat "/proc/$p/comm"; done | tr '\n' ' '))"
}

# The UAPI socket /var/run/wireguard/<ifname>.sock is not per namespace: interface names must
# not clash between our two sides or with anything else on the host, so they carry our PID and
# the side (a or b) is appended: wgo<pid>a, wgo<pid>b, btc<pid>a, btc<pid>b.
WG_IF="wgo$$"
BT_IF="btc$$"
for f in "$WG_IF"a "$WG_IF"b "$BT_IF"a "$BT_IF"b; do
    [ -e "/var/run/wireguard/$f.sock" ] && die "/var/run/wireguard/$f.sock already exists"
done

setup_meshd || { SKIP[meshd]="meshd did not come up"; }
setup_wg_like wireguard_go "$WG_IF" "$WG_PORT" "$WG_A" "$WG_B" wireguard-go \
    || { SKIP[wireguard_go]="wireguard-go did not come up"; }

if [ ! -x "$BTCLI" ]; then
    log "installing boringtun-cli into $BTCLI_ROOT (cargo install, bounded to 900 s)"
    if ! run_fg timeout 900 cargo install boringtun-cli --locked --root "$BTCLI_ROOT" >"$WORK/btcli-install.log" 2>&1; then
        SKIP[boringtun_cli]="cargo install boringtun-cli failed: $(tail -n 3 "$WORK/btcli-install.log" | tr '\n' ' ')"
    fi
fi
if [ -z "${SKIP[boringtun_cli]:-}" ]; then
    # --disable-drop-privileges: as root without sudo there is no user to drop to, and the
    # daemon must keep its UAPI socket; --log keeps its log out of /tmp/boringtun.out.
    setup_wg_like boringtun_cli "$BT_IF" "$BT_PORT" "$BT_A" "$BT_B" \
        "$BTCLI" --foreground --disable-drop-privileges --log "$WORK/boringtun.out" \
        || SKIP[boringtun_cli]="boringtun-cli did not come up"
fi
for s in "${SETUPS[@]}"; do
    [ -n "${SKIP[$s]:-}" ] && log "SKIP $s: ${SKIP[$s]}"
done

# One iperf3 server per setup, in B, bound to that setup's address, for the whole run.
for s in "${SETUPS[@]}"; do
    [ -n "${SKIP[$s]:-}" ] && continue
    spawn "$NS_B" "$WORK/iperf3-server-$s.log" iperf3 -s -B "${SERVER_ADDR[$s]}" -p "${IPERF_PORT[$s]}"
    wait_listen "$NS_B" "${IPERF_PORT[$s]}" || { SKIP[$s]="iperf3 server did not listen"; log "SKIP $s: ${SKIP[$s]}"; }
done

# ---------------------------------------------------------------------------------------------
# Measurements: rounds of veth, meshd, wireguard_go, boringtun_cli
# ---------------------------------------------------------------------------------------------
LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"   # others' load on a shared machine shows here
RESULTS="$WORK/results.tsv"   # setup  round  bits/s  cpu_seconds  wall_seconds
: >"$RESULTS"
for ((round = 1; round <= ROUNDS; round++)); do
    for s in "${SETUPS[@]}"; do
        [ -n "${SKIP[$s]:-}" ] && continue
        declare -a before=()
        for pid in ${TUN_PIDS[$s]}; do before+=("$(cpu_ticks "$pid" || echo 0)"); done
        t0="$(date +%s%N)"
        json="$WORK/iperf3-$s-$round.json"
        run_fg ip netns exec "$NS_A" timeout $((SECONDS_PER_RUN + 30)) \
            iperf3 -c "${SERVER_ADDR[$s]}" -p "${IPERF_PORT[$s]}" -t "$SECONDS_PER_RUN" -J >"$json" 2>&1 || true
        t1="$(date +%s%N)"
        ticks=0; k=0
        for pid in ${TUN_PIDS[$s]}; do
            after="$(cpu_ticks "$pid")" || { log "$s: process $pid is gone"; after="${before[$k]}"; }
            ticks=$((ticks + after - before[k])); k=$((k + 1))
        done
        bps="$(python3 -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    print(d["end"]["sum_received"]["bits_per_second"])
except Exception as e:
    print("nan")
' "$json")"
        wall="$(python3 -c 'import sys; print((int(sys.argv[2]) - int(sys.argv[1])) / 1e9)' "$t0" "$t1")"
        cpu="$(python3 -c 'import sys; print(int(sys.argv[1]) / int(sys.argv[2]))' "$ticks" "$CLK_TCK")"
        printf '%s\t%s\t%s\t%s\t%s\n' "$s" "$round" "$bps" "$cpu" "$wall" >>"$RESULTS"
        log "round $round $s: $(python3 -c 'import sys; print("%.3f" % (float(sys.argv[1]) / 1e9))' "$bps") Gbit/s," \
            "tunnel CPU ${cpu}s over ${wall}s"
    done
done

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
SKIPS=""
for s in "${SETUPS[@]}"; do [ -n "${SKIP[$s]:-}" ] && SKIPS="$SKIPS$s=${SKIP[$s]//$'\n'/ }"$'\n'; done
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) vCPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "loadavg_at_start: $LOADAVG_START"
echo "seconds: $SECONDS_PER_RUN"
echo "rounds: $ROUNDS"
python3 - "$RESULTS" "$SKIPS" <<'EOF'
import math, statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines() if l]
skips = dict(l.split("=", 1) for l in sys.argv[2].splitlines() if l)
setups = ["veth", "meshd", "wireguard_go", "boringtun_cli"]
med = {}
for s in setups:
    if s in skips:
        print(f"{s}_gbit_s: skipped ({skips[s]})")
        print(f"{s}_cpu_s: skipped")
        continue
    good = [r for r in rows if r[0] == s and not math.isnan(float(r[2]))]
    fails = sum(1 for r in rows if r[0] == s) - len(good)
    if not good:
        print(f"{s}_gbit_s: failed")
        print(f"{s}_cpu_s: failed")
        continue
    g = statistics.median(float(r[2]) / 1e9 for r in good)
    c = statistics.median(float(r[3]) / float(r[4]) for r in good)
    med[s] = (g, c)
    note = f"  # {fails} failed runs left out" if fails else ""
    print(f"{s}_gbit_s: {g:.3f}{note}")
    print(f"{s}_cpu_s: {c:.3f}" if s != "veth" else f"{s}_cpu_s: 0 (no tunnel process)")
    print(f"{s}_gbit_s_runs: " + " ".join(f"{float(r[2]) / 1e9:.3f}" for r in good))
    if s != "veth":
        print(f"{s}_cpu_s_runs: " + " ".join(f"{float(r[3]) / float(r[4]):.3f}" for r in good))
        print(f"{s}_cpu_s_per_gbit: {c / g:.3f}" if g > 0 else f"{s}_cpu_s_per_gbit: n/a")
if "meshd" in med and "wireguard_go" in med:
    (mg, mc), (wg, wc) = med["meshd"], med["wireguard_go"]
    print(f"meshd_vs_wireguard_go_throughput: {mg / wg:.3f}" if wg > 0 else "meshd_vs_wireguard_go_throughput: n/a")
    print(f"meshd_vs_wireguard_go_cpu: {mc / wc:.3f}" if wc > 0 else "meshd_vs_wireguard_go_cpu: n/a")
else:
    print("meshd_vs_wireguard_go_throughput: n/a")
    print("meshd_vs_wireguard_go_cpu: n/a")
EOF
