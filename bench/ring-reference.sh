#!/usr/bin/env bash
# ring-reference.sh: measure a reference Babel implementation (babeld or BIRD), or meshd itself, on
# a real ring of Linux network namespaces, printing the same figures meshsim prints, so that
# simulator figures can be given as ratios against real daemons. See bench/README.md for what each
# figure means.
#
# Run as root. Everything happens inside network namespaces this script creates (named
# mshb-<pid>-<i>) and joins with veth pairs; addresses are IPv6 link-local plus one ULA /128 per
# node (babeld, BIRD) or ULA underlay /64s on the veths and meshd's own ULA mesh addresses (meshd).
# Every exit path kills the daemons it started (by PID, checked to live in our namespaces) and
# deletes the namespaces.
set -euo pipefail

readonly ULA_PREFIX="fd00:6d65:7368::"   # "mesh" in ASCII after fd00; node i announces ::<i+1>/128
readonly UNDERLAY_PREFIX="fd00:6d65:7368" # meshd: ring link i (node i - node i+1) is <this>:<i+1>::/64
readonly POLL_US=200000                  # route-table poll period (0.2 s)
readonly PING_POLL_US=500000             # meshd: ping-round poll period (0.5 s; a failing round takes ~1 s)
readonly MESHD_PORT=51820                # meshd's UDP port (its default; written into the config)
readonly FULL_BOUND_S=180                # bound on full_connectivity_s, from daemon start
readonly OPTIMAL_BOUND_S=300             # bound on optimal_s, from daemon start
readonly REPAIR_BOUND_S=120              # bound on repair_s, from the cut

IMPL=""
NODES=8
MEASURE_S=60
CUT_LINK=0
CUT_MODE="ingress"
TSHARK_CHECK=0
KEEP_DIR=0
DAEMON_ARGS=()
MESHD_BIN="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/release/meshd"

usage() {
    cat <<'EOF'
Usage: bench/ring-reference.sh --impl babeld|bird|meshd [options]

Builds an N-node ring of network namespaces (node i has a veth to node (i+1) mod N), runs one
Babel daemon per node with its default timers, and prints key: value figures:
  full_connectivity_s, optimal_s, control_bytes_per_node_s, repair_s (and a few more).

Options:
  --impl babeld|bird|meshd
                          implementation to measure (required); meshd runs WireGuard tunnels over
                          ULA underlay addresses on the veths, each node with its two ring
                          neighbours as static peers, and is judged by pings, not route tables
  --nodes N               ring size, 3..64 (default 8)
  --measure-seconds S     steady-state window for control_bytes_per_node_s (default 60)
  --cut-link K            link to cut silently: the one between node K and node K+1 (default 0)
  --cut-mode ingress|inet how to cut it (default ingress):
                            ingress: netdev ingress hook with policy drop on the veth in both
                                     endpoint namespaces; senders see nothing (truly silent)
                            inet:    inet input/forward/output rules iifname/oifname drop in both
                                     endpoints; local sends over the link fail with EPERM
  --tshark-check          also capture node 0's sent Babel packets with tshark during the window
                          and print their IPv6 byte total next to nftables' count for node 0
  --keep-dir              keep the work directory (configs, daemon logs) instead of deleting it
  --meshd PATH            the meshd binary (default: target/release/meshd of this checkout)
  --daemon-arg ARG        pass ARG to every daemon's command line (repeatable), e.g. babeld's
                          "-M" "0"; this leaves the defaults, so say so next to any figure it gives
  -h, --help              this text

Needs root, iproute2, nftables, ping, and babeld or bird/birdc, or meshd, wg and /dev/net/tun
(tshark for --tshark-check).
EOF
}

die() {
    echo "error: $*" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --impl) IMPL="${2:-}"; shift 2 ;;
        --nodes) NODES="${2:-}"; shift 2 ;;
        --measure-seconds) MEASURE_S="${2:-}"; shift 2 ;;
        --cut-link) CUT_LINK="${2:-}"; shift 2 ;;
        --cut-mode) CUT_MODE="${2:-}"; shift 2 ;;
        --tshark-check) TSHARK_CHECK=1; shift ;;
        --keep-dir) KEEP_DIR=1; shift ;;
        --daemon-arg) DAEMON_ARGS+=("${2:-}"); shift 2 ;;
        --meshd) MESHD_BIN="${2:-}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

case "$IMPL" in babeld|bird|meshd) ;; *) usage >&2; die "--impl must be babeld, bird or meshd" ;; esac
if ! [[ "$NODES" =~ ^[0-9]+$ ]] || [ "$NODES" -lt 3 ] || [ "$NODES" -gt 64 ]; then
    die "--nodes must be 3..64"
fi
if ! [[ "$MEASURE_S" =~ ^[0-9]+$ ]] || [ "$MEASURE_S" -lt 1 ] || [ "$MEASURE_S" -gt 3600 ]; then
    die "--measure-seconds must be 1..3600"
fi
if ! [[ "$CUT_LINK" =~ ^[0-9]+$ ]] || [ "$CUT_LINK" -ge "$NODES" ]; then
    die "--cut-link must be 0..N-1"
fi
case "$CUT_MODE" in ingress|inet) ;; *) die "--cut-mode must be ingress or inet" ;; esac
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces)"

need=(ip nft ping awk)
case "$IMPL" in
    babeld) need+=(babeld) ;;
    bird) need+=(bird birdc) ;;
    meshd)
        need+=(wg)
        [ -x "$MESHD_BIN" ] || die "meshd binary $MESHD_BIN not found (cargo build --release -p meshd, or --meshd PATH)"
        [ -e /dev/net/tun ] || die "/dev/net/tun does not exist (meshd needs a TUN device)"
        ;;
esac
[ "$TSHARK_CHECK" -eq 1 ] && need+=(tshark)
for c in "${need[@]}"; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found (apt-get install -y babeld bird2 nftables iputils-ping tshark)"
done

NS_PREFIX="mshb-$$"
WORK=$(mktemp -d "/tmp/mshb-$$.XXXXXX")
CREATED_NS=()       # namespaces we created, in order
DAEMON_PIDS=()      # PIDs of daemons we started (index = node)
EXTRA_PIDS=()       # other background processes we started inside our namespaces (tshark, ping)
MESH_ADDR=()        # meshd: node i's mesh address, read from its log

ns() { echo "${NS_PREFIX}-$1"; }
addr() { printf '%s%x' "$ULA_PREFIX" $(($1 + 1)); }
# The address other nodes ping node $1 at: its /128 on lo, or (meshd) its mesh address on mesh0.
target() { if [ "$IMPL" = meshd ]; then echo "${MESH_ADDR[$1]}"; else addr "$1"; fi; }
# meshd underlay: node i's vethR is <UNDERLAY_PREFIX>:<i+1>::1, node i+1's vethL is ...::2.
underlay() { printf '%s:%x::%d' "$UNDERLAY_PREFIX" $(($1 + 1)) "$2"; }

# Kill one PID, but only if it still lives in one of our namespaces (guards against PID reuse).
kill_ours() {
    local pid=$1 sig=$2 where n
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    where=$(ip netns identify "$pid" 2>/dev/null || true)
    for n in "${CREATED_NS[@]}"; do
        if [ "$where" = "$n" ]; then
            kill "-$sig" "$pid" 2>/dev/null || true
            return 0
        fi
    done
}

cleanup() {
    local rc=$? pid n i left
    trap - EXIT INT TERM
    set +e
    # Daemons first (SIGTERM lets them remove their kernel routes and sockets), then anything else
    # still inside our namespaces (pings, tshark), then SIGKILL for stragglers, bounded at ~5 s.
    for pid in "${DAEMON_PIDS[@]}" "${EXTRA_PIDS[@]}"; do kill_ours "$pid" TERM; done
    for n in "${CREATED_NS[@]}"; do
        for pid in $(ip netns pids "$n" 2>/dev/null); do kill_ours "$pid" TERM; done
    done
    for i in $(seq 1 25); do
        left=0
        for n in "${CREATED_NS[@]}"; do
            [ -n "$(ip netns pids "$n" 2>/dev/null)" ] && left=1
        done
        [ "$left" -eq 0 ] && break
        sleep 0.2
    done
    for n in "${CREATED_NS[@]}"; do
        for pid in $(ip netns pids "$n" 2>/dev/null); do kill_ours "$pid" KILL; done
    done
    for n in "${CREATED_NS[@]}"; do ip netns del "$n" 2>/dev/null; done
    if [ "$KEEP_DIR" -eq 1 ]; then
        echo "# work directory kept: $WORK" >&2
    else
        rm -rf -- "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
secs() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1e6 }'; }

# ---------------------------------------------------------------------------------------------
# The ring. Node i: lo carries addr(i)/128; vethR goes to node i+1 (its vethL), vethL to node i-1.
# ---------------------------------------------------------------------------------------------
build_ring() {
    local i n
    for i in $(seq 0 $((NODES - 1))); do
        n=$(ns "$i")
        ip netns add "$n"
        CREATED_NS+=("$n")
        # DAD off before any veth exists, so link-locals are usable at once.
        ip netns exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0
        ip netns exec "$n" sysctl -qw net.ipv6.conf.default.accept_dad=0
        ip netns exec "$n" sysctl -qw net.ipv6.conf.all.forwarding=1
        ip -n "$n" link set lo up
        # meshd needs no address on lo: it gives mesh0 its own, derived from its public key.
        [ "$IMPL" = meshd ] || ip -n "$n" -6 addr add "$(addr "$i")/128" dev lo
    done
    for i in $(seq 0 $((NODES - 1))); do
        local a b
        a=$(ns "$i")
        b=$(ns $(((i + 1) % NODES)))
        ip link add vethR netns "$a" type veth peer name vethL netns "$b"
    done
    for i in $(seq 0 $((NODES - 1))); do
        n=$(ns "$i")
        for d in vethR vethL; do
            ip netns exec "$n" sysctl -qw "net.ipv6.conf.$d.accept_dad=0"
            ip -n "$n" link set "$d" up
        done
        if [ "$IMPL" = meshd ]; then
            ip -n "$n" -6 addr add "$(underlay "$i" 1)/64" dev vethR nodad
            ip -n "$n" -6 addr add "$(underlay $(((i - 1 + NODES) % NODES)) 2)/64" dev vethL nodad
        fi
    done
}

# nftables counter of the control packets each node sends: Babel (UDP to port 6696), or for meshd
# every WireGuard packet its socket sends (UDP from port 51820; Babel travels inside the tunnels,
# so this is Babel plus WireGuard's framing, handshakes and keepalives). At the output hook of an
# inet table the counter adds skb->len, which there is the whole IPv6 packet (IPv6 header + UDP
# header + payload, no link-layer header); --tshark-check cross-checks this on node 0.
setup_counters() {
    local i match="udp dport 6696"
    [ "$IMPL" = meshd ] && match="udp sport $MESHD_PORT"
    for i in $(seq 0 $((NODES - 1))); do
        ip netns exec "$(ns "$i")" nft -f - <<EOF
table inet mshb {
    counter babel_out { }
    chain out {
        type filter hook output priority 0; policy accept;
        meta l4proto udp $match counter name babel_out
    }
}
EOF
    done
}

# Prints "<packets> <bytes>" summed over all nodes, then node 0's "<bytes> <packets>".
read_counters() {
    local i
    for i in $(seq 0 $((NODES - 1))); do
        ip netns exec "$(ns "$i")" nft list counter inet mshb babel_out |
            awk -v node="$i" '$1 == "packets" { print node, $2, $4 }'
    done | awk '{ p += $2; b += $3; if ($1 == 0) { b0 = $3; p0 = $2 } }
                END { printf "%d %d %d %d\n", p, b, b0, p0 }'
}

# ---------------------------------------------------------------------------------------------
# Daemons, default timers. Configs are written here from the babeld(8) man page and the BIRD 2
# user's guide.
# ---------------------------------------------------------------------------------------------
write_babeld_conf() {
    local i=$1 f=$2
    cat >"$f" <<EOF
# node $i: Babel on both ring links with the default (wired) interface settings
interface vethR
interface vethL
# announce only this node's /128 (babeld would otherwise redistribute every local address)
redistribute local ip ${ULA_PREFIX%::}::/48 ge 128 allow
redistribute local deny
EOF
}

write_bird_conf() {
    local i=$1 f=$2
    cat >"$f" <<EOF
# node $i
router id $((i + 1));
log "$WORK/bird-$i.log" all;

protocol device { }

# this node's /128 on lo
protocol direct {
    ipv6;
    interface "lo";
}

# Babel routes into the kernel main table (only Babel's: the direct /128 is already there)
protocol kernel {
    ipv6 { export where source = RTS_BABEL; };
}

protocol babel {
    interface "veth*" { type wired; };
    ipv6 { import all; export all; };
}
EOF
}

# meshd: one WireGuard key pair per node (its state dir holds private.key, mode 0600), made before
# any config is written because each config names both neighbours' public keys.
make_meshd_keys() {
    local i d
    for i in $(seq 0 $((NODES - 1))); do
        d="$WORK/meshd-$i"
        mkdir -m 0700 "$d"
        (umask 077; wg genkey >"$d/private.key")
        wg pubkey <"$d/private.key" >"$d/public.key"
    done
}

# No [babel] section: default timers (Hello 4 s, Update 16 s). Peers: the two ring neighbours, at
# their underlay address on the veth between us, with no persistent_keepalive (the default).
write_meshd_conf() {
    local i=$1 f=$2 r l
    r=$(((i + 1) % NODES))
    l=$(((i - 1 + NODES) % NODES))
    cat >"$f" <<EOF
# node $i: default Babel timers (no [babel] section); static peers are the two ring neighbours
[node]
interface = "mesh0"
listen_port = $MESHD_PORT
state_dir = "$WORK/meshd-$i"
control_socket = "$WORK/meshd-$i/meshd.sock"

# node $r, over vethR
[[peer]]
public_key = "$(cat "$WORK/meshd-$r/public.key")"
endpoint = "[$(underlay "$i" 2)]:$MESHD_PORT"

# node $l, over vethL
[[peer]]
public_key = "$(cat "$WORK/meshd-$l/public.key")"
endpoint = "[$(underlay "$l" 1)]:$MESHD_PORT"
EOF
}

start_daemons() {
    local i n conf
    [ "$IMPL" = meshd ] && make_meshd_keys
    for i in $(seq 0 $((NODES - 1))); do
        n=$(ns "$i")
        conf="$WORK/$IMPL-$i.conf"
        if [ "$IMPL" = babeld ]; then
            write_babeld_conf "$i" "$conf"
            # Foreground (no -D) so that $! is babeld itself: `ip netns exec` execs its command.
            ip netns exec "$n" babeld -c "$conf" -I "$WORK/babeld-$i.pid" -S "$WORK/babeld-$i.state" \
                "${DAEMON_ARGS[@]}" >"$WORK/babeld-$i.log" 2>&1 &
        elif [ "$IMPL" = meshd ]; then
            write_meshd_conf "$i" "$conf"
            ip netns exec "$n" "$MESHD_BIN" --config "$conf" "${DAEMON_ARGS[@]}" \
                >"$WORK/meshd-$i.log" 2>&1 &
        else
            write_bird_conf "$i" "$conf"
            ip netns exec "$n" bird -f -c "$conf" -s "$WORK/bird-$i.ctl" -P "$WORK/bird-$i.pid" \
                "${DAEMON_ARGS[@]}" >"$WORK/bird-$i.stderr" 2>&1 &
        fi
        DAEMON_PIDS[i]=$!
    done
    # Fail early if a daemon died at once (bad config): give each up to 5 s to write its pidfile
    # (meshd: up to 20 s to log its mesh address, which the pings need).
    for i in $(seq 0 $((NODES - 1))); do
        local k
        for k in $(seq 1 200); do
            if [ "$IMPL" = meshd ]; then
                MESH_ADDR[i]=$(awk '{ for (k = 1; k < NF - 1; k++) if ($k == "mesh" && $(k + 1) == "address") { print $(k + 2); exit } }' \
                    "$WORK/meshd-$i.log" 2>/dev/null || true)
                [ -n "${MESH_ADDR[i]}" ] && break
            else
                [ -s "$WORK/$IMPL-$i.pid" ] && break
                [ "$k" -ge 50 ] && break
            fi
            kill -0 "${DAEMON_PIDS[i]}" 2>/dev/null || break
            sleep 0.1
        done
        if ! kill -0 "${DAEMON_PIDS[i]}" 2>/dev/null; then
            cat "$WORK"/"$IMPL"-"$i".log "$WORK"/"$IMPL"-"$i".stderr 2>/dev/null | tail -20 >&2 || true
            die "$IMPL on node $i exited at start"
        fi
        if [ "$IMPL" = meshd ] && ! [[ "${MESH_ADDR[i]}" =~ ^fd[0-9a-f:]+$ ]]; then
            tail -20 "$WORK/meshd-$i.log" >&2 || true
            die "meshd on node $i logged no ULA mesh address within 20 s"
        fi
    done
}

# ---------------------------------------------------------------------------------------------
# Route checks. One snapshot = every node's main IPv6 table; one awk pass judges it.
# Output: "<present> <reach> <optimal>" as 0/1:
#   present: every node has a forwarding route (via a link-local, dev vethR|vethL) to every other
#            node's /128 (unreachable/blackhole routes do not count)
#   reach:   following those next hops hop by hop from every node reaches every destination within
#            N hops, never crossing the cut link (cut = node index whose vethR is cut, -1 if none)
#   optimal: every route leaves by the shorter side of the ring (either side when opposite)
# ---------------------------------------------------------------------------------------------
snapshot() {
    local i
    for i in $(seq 0 $((NODES - 1))); do
        ip -n "$(ns "$i")" -6 route show table main 2>/dev/null | awk -v node="$i" -v p="$ULA_PREFIX" '
            index($1, p) == 1 {
                dev = ""; via = 0
                for (k = 2; k < NF; k++) { if ($k == "dev") dev = $(k + 1); if ($k == "via") via = 1 }
                if (via && (dev == "vethR" || dev == "vethL") && !seen[$1]++) print node, $1, dev
            }'
    done
}

judge() {
    local cut=$1
    snapshot | awk -v N="$NODES" -v cut="$cut" -v p="$ULA_PREFIX" -v debug="${MSHB_DEBUG:-0}" '
        BEGIN { for (i = 0; i < N; i++) idx[sprintf("%s%x", p, i + 1)] = i }
        ($2 in idx) { nh[$1, idx[$2]] = $3 }
        END {
            present = 1; reach = 1; optimal = 1
            for (s = 0; s < N; s++) for (d = 0; d < N; d++) {
                if (s == d) continue
                if (!((s, d) in nh)) { present = 0; reach = 0; optimal = 0; continue }
                dist = (d - s + N) % N
                if ((2 * dist < N && nh[s, d] != "vethR") || (2 * dist > N && nh[s, d] != "vethL")) {
                    optimal = 0; bad = bad " " s ">" d
                }
                x = s; hops = 0
                while (x != d && hops <= N) {
                    if (!((x, d) in nh)) break
                    if (nh[x, d] == "vethR") { if (x == cut) break; x = (x + 1) % N }
                    else { y = (x - 1 + N) % N; if (y == cut) break; x = y }
                    hops++
                }
                if (x != d) reach = 0
            }
            print present, reach, optimal
            if (debug && bad != "") print "# not optimal (node>dest):" bad > "/dev/stderr"
        }'
}

# Every node pings every other node's /128 (meshd: mesh address) once (1 s timeout), one
# sequential loop per source node in parallel. Prints the number of failures.
ping_sweep() {
    local s d fails=0 pids=() out="$WORK/ping.$RANDOM"
    mkdir -p "$out"
    for s in $(seq 0 $((NODES - 1))); do
        (
            f=0
            for d in $(seq 0 $((NODES - 1))); do
                [ "$s" -eq "$d" ] && continue
                ip netns exec "$(ns "$s")" ping -6 -n -q -c1 -W1 "$(target "$d")" >/dev/null 2>&1 || f=$((f + 1))
            done
            echo "$f" >"$out/$s"
        ) &
        pids+=($!)
    done
    for s in "${pids[@]}"; do wait "$s" || true; done
    for s in $(seq 0 $((NODES - 1))); do fails=$((fails + $(cat "$out/$s" 2>/dev/null || echo $((NODES - 1))))); done
    echo "$fails"
}

# ---------------------------------------------------------------------------------------------
# meshd checks. meshd's kernel routes are all `dev mesh0 proto 109` (no via): which way a packet
# goes is decided inside meshd, so the route table cannot say whether a path is the short one.
# Pings can: meshd decrements the hop limit of every packet it forwards from one tunnel to
# another, and of nothing else (the sender's packet enters via mesh0 undecremented, the
# destination hands it to its kernel as local). So a reply that crossed h tunnels arrives with hop
# limit 64 - (h - 1) = 65 - h (measured on a 3-node line 0-1-2: 0>1 and 1>2 ttl=64, 0>2 ttl=63).
#
# One ping round: every node pings every other node's mesh address once, all N*(N-1) pings in
# parallel (one shell per source namespace, its pings in the background), -W1. Prints one line
# "<src> <dst> <ttl>" per pair, ttl "-" if no reply.
ping_round() {
    local s d out="$WORK/round" pids=()
    rm -rf "$out"; mkdir -p "$out"
    for s in $(seq 0 $((NODES - 1))); do
        local targets=()
        for d in $(seq 0 $((NODES - 1))); do
            [ "$s" -eq "$d" ] || targets+=("$d=${MESH_ADDR[d]}")
        done
        # shellcheck disable=SC2016 # expanded by the inner shell
        ip netns exec "$(ns "$s")" bash -c '
            s=$1; shift
            for t in "$@"; do
                ( r=$(ping -6 -n -c1 -W1 "${t#*=}" 2>/dev/null | sed -n "s/.* ttl=\([0-9]*\) .*/\1/p" | head -1)
                  echo "$s ${t%%=*} ${r:--}" ) &
            done
            wait' _ "$s" "${targets[@]}" >"$out/$s" 2>/dev/null &
        pids+=($!)
    done
    for s in "${pids[@]}"; do wait "$s" || true; done
    cat "$out"/* 2>/dev/null || true
}

# Judges a ping round: "<present> <reach> <optimal>" like `judge`, where present is whether every
# node has a meshd route (proto 109, dev mesh0) to every other node's mesh address, reach whether
# every ping got a reply (an ingress-dropped link cannot be crossed, so a reply proves a path
# around the cut), optimal whether every reply's hop limit is 65 - (shortest ring distance).
# $1: "routes" judges only present (cheap, no pings; reach and optimal print as 0).
judge_meshd() {
    local what=$1 i present=1
    for i in $(seq 0 $((NODES - 1))); do
        ip -n "$(ns "$i")" -6 route show proto 109 dev mesh0 2>/dev/null | awk -v node="$i" '{ print "R", node, $1 }' || true
    done >"$WORK/routes"
    present=$(awk -v N="$NODES" -v addrs="${MESH_ADDR[*]}" '
        BEGIN { split(addrs, a, " "); for (i = 0; i < N; i++) idx[a[i + 1]] = i }
        $1 == "R" && ($3 in idx) { r[$2, idx[$3]] = 1 }
        END { ok = 1; for (s = 0; s < N; s++) for (d = 0; d < N; d++) if (s != d && !((s, d) in r)) ok = 0; print ok }
    ' "$WORK/routes")
    if [ "$what" = routes ]; then echo "$present 0 0"; return 0; fi
    ping_round | awk -v N="$NODES" -v present="$present" -v debug="${MSHB_DEBUG:-0}" '
        { ttl[$1, $2] = $3 }
        END {
            reach = 1; optimal = 1
            for (s = 0; s < N; s++) for (d = 0; d < N; d++) {
                if (s == d) continue
                t = ((s, d) in ttl) ? ttl[s, d] : "-"
                if (t == "-") { reach = 0; optimal = 0; bad = bad " " s ">" d ":lost"; continue }
                dist = (d - s + N) % N; if (N - dist < dist) dist = N - dist
                if (t + 0 != 65 - dist) { optimal = 0; bad = bad " " s ">" d ":ttl" t }
            }
            print present, reach, optimal
            if (debug && bad != "") print "# ping round (src>dst):" bad > "/dev/stderr"
        }'
}

cut_link() {
    local a b
    a=$(ns "$CUT_LINK")
    b=$(ns $(((CUT_LINK + 1) % NODES)))
    if [ "$CUT_MODE" = ingress ]; then
        # Drop everything arriving on the link's veth in both endpoints, before any other
        # processing: each side keeps sending (no local error), nothing gets across.
        ip netns exec "$a" nft -f - <<'EOF'
table netdev mshbcut {
    chain in { type filter hook ingress device "vethR" priority -500; policy drop; }
}
EOF
        ip netns exec "$b" nft -f - <<'EOF'
table netdev mshbcut {
    chain in { type filter hook ingress device "vethL" priority -500; policy drop; }
}
EOF
    else
        local node dev
        for node in "$a" "$b"; do
            if [ "$node" = "$a" ]; then dev=vethR; else dev=vethL; fi
            ip netns exec "$node" nft -f - <<EOF
table inet mshbcut {
    chain cut_input { type filter hook input priority -10; policy accept; iifname "$dev" drop; }
    chain cut_forward { type filter hook forward priority -10; policy accept; iifname "$dev" drop; oifname "$dev" drop; }
    chain cut_output { type filter hook output priority -10; policy accept; oifname "$dev" drop; }
}
EOF
        done
    fi
}

# Poll until `judge` (meshd: `judge_meshd`) reports field $2 (1-based) as 1, or the bound passes.
# Route tables are polled every POLL_US and the time taken after the snapshot (it takes a few ms).
# meshd's ping rounds start every PING_POLL_US, or at once when the previous round took longer (a
# round with a lost ping takes its 1 s timeout), and the time taken is the round's start: the
# pings of the round that passed were sent then.
# Usage: wait_for <start_us> <bound_s> <field> <cut>; prints the elapsed microseconds or "none".
wait_for() {
    local start=$1 bound=$2 field=$3 cut=$4 k t r period=$POLL_US
    # (meshd's route-presence check reads route tables only, so it keeps the 0.2 s period.)
    [ "$IMPL" = meshd ] && [ "$field" != 1 ] && period=$PING_POLL_US
    local max=$((bound * 1000000 / period + 1))
    for k in $(seq 0 "$max"); do
        if [ "$IMPL" = meshd ]; then
            t=$(now_us)
            if [ "$field" = 1 ]; then r=$(judge_meshd routes); else r=$(judge_meshd pings); fi
        else
            r=$(judge "$cut")
            t=$(now_us)
        fi
        echo "$r" >"$WORK/last_judge"
        if [ "$(echo "$r" | awk -v f="$field" '{ print $f }')" = 1 ]; then
            echo $((t - start))
            return 0
        fi
        [ $((t - start)) -ge $((bound * 1000000)) ] && break
        # Sleep to the next poll tick of this loop (meshd: PING_POLL_US after this round began, so
        # that after a run of slow rounds the fast ones do not follow back to back).
        local next=$((start + (k + 1) * period)) now
        [ "$IMPL" = meshd ] && next=$((t + period))
        now=$(now_us)
        if [ "$next" -gt "$now" ]; then sleep "$(awk -v us=$((next - now)) 'BEGIN { printf "%.3f", us / 1e6 }')"; fi
    done
    echo none
}

fmt() { if [ "$1" = none ]; then echo none; else secs "$1"; fi; }

# ---------------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------------
echo "# building a $NODES-node ring (namespaces ${NS_PREFIX}-0..$((NODES - 1)))" >&2
build_ring
setup_counters

echo "# starting $IMPL" >&2
T0=$(now_us)
start_daemons

# Connectivity counts "present and forwarding reaches": the brief's route-presence figure and the
# simulator's (which also follows next hops) are both printed.
PRESENT_US=$(wait_for "$T0" "$FULL_BOUND_S" 1 -1)
FULL_US=$(wait_for "$T0" "$FULL_BOUND_S" 2 -1)
echo "# full connectivity: $(fmt "$FULL_US") s" >&2
# A ping round judges reach and optimality at once: if the round that first reached everything
# was already optimal, that is also the first optimal time (another round would come later).
if [ "$IMPL" = meshd ] && [ "$FULL_US" != none ] && [ "$(awk '{ print $3 }' "$WORK/last_judge")" = 1 ]; then
    OPT_US=$FULL_US
else
    OPT_US=$(wait_for "$T0" "$OPTIMAL_BOUND_S" 3 -1)
fi
echo "# optimal: $(fmt "$OPT_US") s" >&2

PING_BEFORE=$(ping_sweep)
echo "# ping sweep before the window: $PING_BEFORE failures" >&2

# Default timers as the daemon reports them (BIRD only: babeld has no such query).
if [ "$IMPL" = bird ]; then
    birdc -s "$WORK/bird-0.ctl" show babel interfaces 2>/dev/null | sed 's/^/# node0 /' >&2 || true
fi

# Steady-state window.
TSHARK_PID=""
if [ "$TSHARK_CHECK" -eq 1 ]; then
    macs=$(for d in vethR vethL; do ip -n "$(ns 0)" -o link show "$d" | awk '{ for (k = 1; k < NF; k++) if ($k == "link/ether") print $(k + 1) }'; done)
    port="udp dst port 6696"
    [ "$IMPL" = meshd ] && port="udp src port $MESHD_PORT"
    filt="$port and (ether src $(echo "$macs" | head -1) or ether src $(echo "$macs" | tail -1))"
    ip netns exec "$(ns 0)" tshark -q -f "$filt" -i vethR -i vethL -w "$WORK/node0.pcapng" \
        >"$WORK/tshark.log" 2>&1 &
    TSHARK_PID=$!
    EXTRA_PIDS+=("$TSHARK_PID")
    # The window opens once the capture runs (bounded at 10 s) and closes before it is stopped, so
    # the capture holds the window's packets plus those of a few milliseconds either side.
    for k in $(seq 1 100); do grep -q "Capturing on" "$WORK/tshark.log" 2>/dev/null && break; sleep 0.1; done
fi
read -r P1 B1 N01 N0P1 < <(read_counters)
W0=$(now_us)
sleep "$MEASURE_S"
read -r P2 B2 N02 N0P2 < <(read_counters)
W1=$(now_us)
if [ -n "$TSHARK_PID" ]; then
    kill_ours "$TSHARK_PID" INT
    for k in $(seq 1 50); do kill -0 "$TSHARK_PID" 2>/dev/null || break; sleep 0.1; done
fi
WINDOW_US=$((W1 - W0))
CONTROL=$(awk -v b=$((B2 - B1)) -v n="$NODES" -v us="$WINDOW_US" 'BEGIN { printf "%.1f", b / n / (us / 1e6) }')
PKTS=$(awk -v p=$((P2 - P1)) -v n="$NODES" -v us="$WINDOW_US" 'BEGIN { printf "%.2f", p / n / (us / 1e6) }')
AVGPKT=$(awk -v p=$((P2 - P1)) -v b=$((B2 - B1)) 'BEGIN { if (p > 0) printf "%.1f", b / p; else print "none" }')

# Silent cut and repair. Meanwhile one end of the cut link pings the other every 0.2 s (from 2 s
# before the cut until 2 s after the repair); ping_outage_s is the longest gap between replies.
CUT_A=$CUT_LINK
CUT_B=$(((CUT_LINK + 1) % NODES))
ip netns exec "$(ns "$CUT_A")" ping -6 -n -D -i 0.2 -W1 -w $((REPAIR_BOUND_S + 30)) "$(target "$CUT_B")" \
    >"$WORK/outage.ping" 2>&1 &
OUTAGE_PID=$!
EXTRA_PIDS+=("$OUTAGE_PID")
sleep 2
echo "# cutting link $CUT_A-$CUT_B ($CUT_MODE)" >&2
TC=$(now_us)
cut_link
REPAIR_US=$(wait_for "$TC" "$REPAIR_BOUND_S" 2 "$CUT_LINK")
echo "# repair: $(fmt "$REPAIR_US") s" >&2
sleep 2
OUTAGE_END=$(now_us)
kill_ours "$OUTAGE_PID" INT
for k in $(seq 1 50); do kill -0 "$OUTAGE_PID" 2>/dev/null || break; sleep 0.1; done
# Gaps between successive replies' receive times ([epoch] from -D); if the last reply is more than
# 1 s older than the end, the outage had not ended: print ">" and the time since the last reply.
OUTAGE=$(awk -v end="$OUTAGE_END" -v tc="$TC" '
    BEGIN { end /= 1e6; tc /= 1e6 }
    /bytes from/ { t = substr($1, 2, length($1) - 2) + 0
                   if (n++ && t - last > gap) gap = t - last
                   last = t; if (t > tc) after++; else before++ }
    END {
        if (!before) print "none (no reply before the cut)"
        else if (end - last > 1) printf ">%.1f (no reply in the last %.1f s)\n", end - last, end - last
        else printf "%.1f\n", gap
    }' "$WORK/outage.ping")
OUTAGE_LOSS=$(awk '/packets transmitted/ { print $1 - $4 " of " $1 " lost" }' "$WORK/outage.ping")
PING_AFTER=$(ping_sweep)

echo "impl: $IMPL"
echo "nodes: $NODES"
if [ "${#DAEMON_ARGS[@]}" -gt 0 ]; then echo "daemon_args: ${DAEMON_ARGS[*]} (NOT the defaults)"; fi
case "$IMPL" in
    babeld) version=$(babeld -V 2>&1 | head -1) ;;
    bird) version=$(bird --version 2>&1 | head -1) ;;
    meshd) version="$("$MESHD_BIN" --version 2>&1 | head -1) ($MESHD_BIN)" ;;
esac
echo "version: $version"
echo "routes_present_s: $(fmt "$PRESENT_US")"
echo "full_connectivity_s: $(fmt "$FULL_US")"
echo "optimal_s: $(fmt "$OPT_US")"
echo "ping_failures_converged: $PING_BEFORE"
echo "measure_window_s: $(secs "$WINDOW_US")"
if [ "$IMPL" = meshd ]; then
    # Not comparable byte for byte with the Babel figures: this is every WireGuard packet sent
    # (Babel inside, plus WireGuard's framing, handshakes and keepalives), whole IPv6 packets.
    echo "tunnel_bytes_per_node_s: $CONTROL"
    echo "tunnel_packets_per_node_s: $PKTS"
    echo "tunnel_mean_packet_bytes: $AVGPKT"
else
    echo "control_bytes_per_node_s: $CONTROL"
    echo "control_packets_per_node_s: $PKTS"
    echo "control_mean_packet_bytes: $AVGPKT"
fi
if [ "$TSHARK_CHECK" -eq 1 ]; then
    echo "nft_node0: $((N0P2 - N0P1)) packets $((N02 - N01)) bytes"
    if [ -s "$WORK/node0.pcapng" ]; then
        echo "tshark_node0: $(tshark -r "$WORK/node0.pcapng" -T fields -e ipv6.plen 2>/dev/null |
            awk '{ n++; b += $1 + 40 } END { printf "%d packets %d bytes (IPv6 payload length + 40)", n, b }')"
        # The timers the daemon really uses, as it announces them (Babel intervals are in cs;
        # meshd's Babel is encrypted inside WireGuard, so there is nothing to read).
        [ "$IMPL" = meshd ] || echo "tshark_intervals_node0: $(tshark -r "$WORK/node0.pcapng" -V 2>/dev/null | awk '
            /Message Type:/ { t = $3 }
            $1 == "Interval:" { seen[t " " $2 / 100 "s"] = 1 }
            END { for (k in seen) printf "%s; ", k }')"
    else
        echo "tshark_node0: none"
    fi
fi
echo "cut: link $CUT_LINK-$(((CUT_LINK + 1) % NODES)) $CUT_MODE"
echo "repair_s: $(fmt "$REPAIR_US")"
echo "ping_failures_repaired: $PING_AFTER"
echo "ping_outage_s: $OUTAGE"
echo "ping_outage_lost: $OUTAGE_LOSS (node $CUT_A to node $CUT_B every 0.2 s, from 2 s before the cut to 2 s after repair_s)"
