#!/usr/bin/env bash
# footprint.sh: meshd's idle resident memory in a 4-node line of network namespaces next to
# babeld's in the same line, and the size of the stripped router-profile binaries.
# See bench/TUNNELS.md.
#
# Run as root. Everything happens inside network namespaces this script creates
# (mshtp-<pid>-<i>, i = 0..N-1) joined by veth pairs (node i's vethR to node i+1's vethL); the
# only addresses are link-locals, fd00:76:<i>::1/64 and ::2/64 on link i, and whatever meshd
# derives inside fd6d:6573:6800::/48. Every exit path kills the daemons this script started (by
# PID) and deletes the namespaces.
set -euo pipefail

NODES=4
IDLE_S=30
BUILD=1
KEEP_DIR=0
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MESHD_RELEASE="$REPO/target/release/meshd"
# MESHD_ROUTER and MESHD_MUSL in the environment measure other builds (with --no-build).
MESHD_ROUTER="${MESHD_ROUTER:-$REPO/target/router/meshd}"
MUSL_TARGET=x86_64-unknown-linux-musl
MESHD_MUSL="${MESHD_MUSL:-$REPO/target/$MUSL_TARGET/router/meshd}"
MUSL=0
readonly LISTEN_PORT=51820
readonly STOP_TIMEOUT_S=5
readonly READY_TIMEOUT_S=60

usage() {
    cat <<'EOF'
Usage: bench/footprint.sh [options]

(a) Resident memory (VmRSS from /proc/<pid>/status) of every daemon in an N-node line of network
    namespaces, read after it has idled S seconds: meshd (release and router builds, each node
    with its line neighbours as static peers), then babeld (`interface vethL/vethR` and
    `redistribute local deny`), one daemon per namespace, one implementation at a time. For node
    0 of each it also splits the figure: anonymous and file-backed (RssAnon, RssFile), and Rss
    per mapping from /proc/<pid>/smaps (the binary, each library, [heap], [stack], anonymous).
(b) Size of the stripped router build as the OpenWrt package ships it: cargo build --profile
    router -p meshd --features meshctl (one multi-call binary, meshctl included).

Prints key: value lines: <impl>_rss_kib_node<i>, <impl>_rss_kib_max, <impl>_rss_anon_kib_node0,
<impl>_rss_file_kib_node0, <impl>_smaps_kib_node0: <mapping> <KiB> (impl: meshd_release,
meshd_router, meshd_router_musl with --musl, babeld), meshd_router_bytes, babeld_binary_bytes.

Options:
  --nodes N          line length, 2..16 (default 4)
  --idle-seconds S   idle time before reading VmRSS, 1..600 (default 30)
  --no-build         do not run cargo build (use the binaries already in target/)
  --musl             also the router build for x86_64-unknown-linux-musl, statically linked
                     with musl's allocator as on OpenWrt (needs: rustup target add
                     x86_64-unknown-linux-musl, and Debian's musl-tools for ring's C code)
  --keep-dir         keep the work directory (configs, keys, logs)
  -h, --help         this text

Needs root, iproute2, ping, wg (for keys), babeld, cargo (unless --no-build) and
target/release/meshd (cargo build --release -p meshd).
EOF
}

# die, log, run_fg
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) NODES="${2:-}"; shift 2 ;;
        --idle-seconds) IDLE_S="${2:-}"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --keep-dir) KEEP_DIR=1; shift ;;
        --musl) MUSL=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
if ! [[ "$NODES" =~ ^[0-9]+$ ]] || [ "$NODES" -lt 2 ] || [ "$NODES" -gt 16 ]; then
    die "--nodes must be 2..16"
fi
if ! [[ "$IDLE_S" =~ ^[0-9]+$ ]] || [ "$IDLE_S" -lt 1 ] || [ "$IDLE_S" -gt 600 ]; then
    die "--idle-seconds must be 1..600"
fi
[ "$(id -u)" = 0 ] || die "must run as root"
[ -e /dev/net/tun ] || die "/dev/net/tun is missing"
for tool in ip ping wg babeld timeout; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done

WORK="$(mktemp -d /tmp/mshtp-$$.XXXXXX)"
PIDS=()     # daemons currently running, killed by PID
CLEANED=0

stop_all() {
    local pid i
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for ((i = 0; i < STOP_TIMEOUT_S * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

cleanup() {
    [ "$CLEANED" = 1 ] && return 0
    CLEANED=1
    set +e
    if [ -n "$FG_PID" ]; then kill -TERM "$FG_PID" 2>/dev/null; wait "$FG_PID" 2>/dev/null; fi
    stop_all
    local i
    for ((i = 0; i < NODES; i++)); do ip netns del "mshtp-$$-$i" 2>/dev/null; done
    if [ "$KEEP_DIR" = 1 ]; then log "work directory kept: $WORK"; else rm -rf -- "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ns() { echo "mshtp-$$-$1"; }
in_ns() { local n="$1"; shift; ip netns exec "$(ns "$n")" "$@"; }

# Starts "$@" in the background in node $1's namespace, output to $2; sets LAST_PID (`ip netns
# exec` execs the program, so this is the daemon's own PID).
spawn() {
    local node="$1" logfile="$2"; shift 2
    ip netns exec "$(ns "$node")" "$@" >"$logfile" 2>&1 </dev/null &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------------------------------------
# (b) Router-profile binaries (built first: the build would disturb nothing later)
# ---------------------------------------------------------------------------------------------
ROUTER_BUILD=(--manifest-path "$REPO/Cargo.toml" --locked --profile router -p meshd --features meshctl)
if [ "$BUILD" = 1 ]; then
    log "cargo build ${ROUTER_BUILD[*]} (bounded to 1800 s)"
    run_fg timeout 1800 cargo build "${ROUTER_BUILD[@]}" \
        >"$WORK/build.log" 2>&1 || { tail -n 20 "$WORK/build.log" >&2; die "router build failed"; }
    if [ "$MUSL" = 1 ]; then
        log "cargo build --target $MUSL_TARGET ${ROUTER_BUILD[*]} (bounded to 1800 s)"
        run_fg timeout 1800 cargo build --target "$MUSL_TARGET" "${ROUTER_BUILD[@]}" \
            >"$WORK/build-musl.log" 2>&1 ||
            { tail -n 20 "$WORK/build-musl.log" >&2; die "musl router build failed"; }
    fi
fi
[ -x "$MESHD_ROUTER" ] || die "$MESHD_ROUTER is missing"
if [ "$MUSL" = 1 ] && ! [ -x "$MESHD_MUSL" ]; then die "$MESHD_MUSL is missing"; fi
[ -x "$MESHD_RELEASE" ] || die "$MESHD_RELEASE is missing: cargo build --release -p meshd"

# ---------------------------------------------------------------------------------------------
# The line
# ---------------------------------------------------------------------------------------------
log "building a $NODES-node line: $(ns 0) .. $(ns $((NODES - 1))); work dir $WORK"
for ((i = 0; i < NODES; i++)); do
    ip netns add "$(ns "$i")"
    in_ns "$i" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 \
        net.ipv6.conf.all.forwarding=1
    in_ns "$i" ip link set lo up
done
for ((i = 0; i + 1 < NODES; i++)); do
    ip link add vethR netns "$(ns "$i")" type veth peer name vethL netns "$(ns $((i + 1)))"
    in_ns "$i" ip addr add "fd00:76:$i::1/64" dev vethR nodad
    in_ns $((i + 1)) ip addr add "fd00:76:$i::2/64" dev vethL nodad
    in_ns "$i" ip link set vethR up
    in_ns $((i + 1)) ip link set vethL up
done

# Prints node i's figures and the max for one implementation: every PID in PIDS, in node order;
# then where node 0's resident pages are: anonymous or file-backed, and per mapping (Rss summed
# over every mapping of one file, or of [heap], [stack], [anon] for unnamed ones), largest first.
report_rss() {
    local impl="$1" i max=0 r pid0="${PIDS[0]}"
    for ((i = 0; i < NODES; i++)); do
        r="$(rss_kib "${PIDS[$i]}")"
        echo "${impl}_rss_kib_node$i: $r"
        [ "$r" -gt "$max" ] && max="$r"
    done
    echo "${impl}_rss_kib_max: $max"
    echo "${impl}_rss_anon_kib_node0: $(awk '/^RssAnon:/ {print $2}' "/proc/$pid0/status")"
    echo "${impl}_rss_file_kib_node0: $(awk '/^RssFile:/ {print $2}' "/proc/$pid0/status")"
    awk '/^[0-9a-f]+-[0-9a-f]+ / { n = split($0, f, " "); name = (n >= 6 ? f[6] : "[anon]"); sub(/.*\//, "", name) }
         /^Rss:/ { rss[name] += $2 }
         END { for (name in rss) if (rss[name] > 0) print rss[name], name }' "/proc/$pid0/smaps" |
        sort -rn | while read -r kib name; do echo "${impl}_smaps_kib_node0: $name $kib"; done
}

# ---------------------------------------------------------------------------------------------
# (a) meshd
# ---------------------------------------------------------------------------------------------
for ((i = 0; i < NODES; i++)); do
    mkdir -m 700 "$WORK/node$i"
    (umask 077; wg genkey >"$WORK/node$i/private.key")
    wg pubkey <"$WORK/node$i/private.key" >"$WORK/node$i/public.key"
done
for ((i = 0; i < NODES; i++)); do
    {
        printf '[node]\ninterface = "mesh0"\nlisten_port = %d\nstate_dir = "%s"\ncontrol_socket = "%s/meshd.sock"\nlog_level = "info"\n' \
            "$LISTEN_PORT" "$WORK/node$i" "$WORK/node$i"
        if [ "$i" -gt 0 ]; then
            printf '\n[[peer]]\npublic_key = "%s"\nendpoint = "[fd00:76:%d::1]:%d"\n' \
                "$(cat "$WORK/node$((i - 1))/public.key")" $((i - 1)) "$LISTEN_PORT"
        fi
        if [ $((i + 1)) -lt "$NODES" ]; then
            printf '\n[[peer]]\npublic_key = "%s"\nendpoint = "[fd00:76:%d::2]:%d"\n' \
                "$(cat "$WORK/node$((i + 1))/public.key")" "$i" "$LISTEN_PORT"
        fi
    } >"$WORK/node$i/meshd.toml"
done

run_meshd() {
    local impl="$1" bin="$2" i k addr=""
    log "$impl: starting $NODES x $bin"
    for ((i = 0; i < NODES; i++)); do
        spawn "$i" "$WORK/node$i/$impl.log" "$bin" --config "$WORK/node$i/meshd.toml"
    done
    # End-to-end check: node 0 reaches the last node's mesh address.
    local last=$((NODES - 1))
    for ((k = 0; k < READY_TIMEOUT_S * 10; k++)); do
        addr="$(grep -so 'mesh address [0-9a-f:]*' "$WORK/node$last/$impl.log" | head -n1 | awk '{print $3}')" || true
        [ -n "$addr" ] && break
        sleep 0.1
    done
    local connected=no t0 now
    t0="$(date +%s)"
    if [ -n "$addr" ]; then
        for ((k = 0; k < READY_TIMEOUT_S * 2; k++)); do
            if in_ns 0 ping -6 -c1 -W1 -q "$addr" >/dev/null 2>&1; then connected=yes; break; fi
            sleep 0.5
        done
    fi
    now="$(date +%s)"
    echo "${impl}_line_connected: $connected (node 0 -> node $last after $((now - t0)) s)"
    # Idle: S seconds from the moment the line is connected (or gave up).
    log "$impl: idling $IDLE_S s"
    run_fg sleep "$IDLE_S"
    for pid in "${PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || die "$impl: a daemon (pid $pid) exited; logs in $WORK"
    done
    report_rss "$impl"
    echo "${impl}_threads_node0: $(awk '/^Threads:/ {print $2}' "/proc/${PIDS[0]}/status")"
    stop_all
}

run_meshd meshd_release "$MESHD_RELEASE"
run_meshd meshd_router "$MESHD_ROUTER"
if [ "$MUSL" = 1 ]; then run_meshd meshd_router_musl "$MESHD_MUSL"; fi

# ---------------------------------------------------------------------------------------------
# (a) babeld in the same line
# ---------------------------------------------------------------------------------------------
log "babeld: starting $NODES daemons"
for ((i = 0; i < NODES; i++)); do
    {
        [ "$i" -gt 0 ] && echo "interface vethL"
        [ $((i + 1)) -lt "$NODES" ] && echo "interface vethR"
        echo "redistribute local deny"
    } >"$WORK/node$i/babeld.conf"
    spawn "$i" "$WORK/node$i/babeld.log" babeld -c "$WORK/node$i/babeld.conf" \
        -I "$WORK/node$i/babeld.pid" -S "$WORK/node$i/babeld.state"
done
log "babeld: idling $IDLE_S s"
run_fg sleep "$IDLE_S"
for pid in "${PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "babeld (pid $pid) exited; logs in $WORK"
done
report_rss babeld
stop_all

echo "meshd_router_bytes: $(stat -c %s "$MESHD_ROUTER")"
if [ "$MUSL" = 1 ]; then echo "meshd_router_musl_bytes: $(stat -c %s "$MESHD_MUSL")"; fi
echo "babeld_binary_bytes: $(stat -c %s "$(command -v babeld)")"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) vCPUs, $(uname -r)"
