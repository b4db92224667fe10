#!/bin/sh
# Checks the OpenWrt feed without OpenWrt: shell syntax (sh -n, and busybox ash when present),
# the ShellCheck lints, the shipped /etc/config/meshd against the built meshd, the init script's decisions
# with procd's functions stubbed, and the firewall commands the uci-defaults script generates.
#
#   cargo build --release -p meshd && sh openwrt/test.sh
#
# MESHD=path picks another meshd binary (default: target/release/meshd).
set -eu

cd "$(dirname "$0")/.."
root=$(pwd)
files=openwrt/net/meshd/files
meshd=${MESHD:-$root/target/release/meshd}
scripts="$files/meshd.init $files/meshd.uci-defaults openwrt/test.sh"

failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}
pass() {
	echo "ok: $*"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- Syntax ---------------------------------------------------------------------------------
for script in $scripts; do
	if sh -n "$script"; then pass "sh -n $script"; else fail "sh -n $script"; fi
	if command -v busybox >/dev/null 2>&1; then
		if busybox ash -n "$script"; then pass "ash -n $script"; else fail "ash -n $script"; fi
	fi
done

# OpenWrt's shell is busybox ash: POSIX sh plus `local` (SC3043).
if command -v shellcheck >/dev/null 2>&1; then
	# shellcheck disable=SC2086
	if shellcheck -s sh -e SC3043 $scripts; then pass "shellcheck"; else fail "shellcheck"; fi
elif [ -n "${CI:-}" ]; then
	fail "shellcheck is missing (apt-get install shellcheck)"
else
	echo "WARNING: shellcheck not installed, skipped"
fi

# --- The shipped UCI file ---------------------------------------------------------------------
if [ ! -x "$meshd" ]; then
	echo "error: $meshd is missing: cargo build --release -p meshd" >&2
	exit 1
fi
if "$meshd" --check-uci "$files/meshd.config" >/dev/null; then
	pass "shipped meshd.config is valid"
else
	fail "shipped meshd.config is refused"
fi

# --- The init script, with procd stubbed ------------------------------------------------------
# Runs one rc.common action of meshd.init in a subshell; everything procd, logger and uci would
# have been asked is written to $work/calls.
init() { # config-file enabled-value action
	: >"$work/calls"
	# The stubs are called by the sourced script; PROG and CONFIG are its variables.
	# shellcheck disable=SC2317,SC2034
	(
		procd_open_instance() { echo "open_instance" >>"$work/calls"; }
		procd_set_param() { echo "set_param $*" >>"$work/calls"; }
		procd_close_instance() { echo "close_instance" >>"$work/calls"; }
		procd_running() { return 0; }
		procd_send_signal() { echo "send_signal $*" >>"$work/calls"; }
		procd_add_reload_trigger() { echo "reload_trigger $*" >>"$work/calls"; }
		start() { echo "start" >>"$work/calls"; }
		stop() { echo "stop" >>"$work/calls"; }
		logger() { echo "logger $*" >>"$work/calls"; }
		uci() { [ -n "$fake_enabled" ] && echo "$fake_enabled"; }
		fake_enabled=$2
		# shellcheck source=/dev/null
		. "$root/$files/meshd.init"
		PROG=$meshd
		CONFIG=$1
		"$3"
	)
}

bad="$work/bad.conf"
printf "config meshd 'main'\n\toption listen_port '70000'\n" >"$bad"

if init "$files/meshd.config" "" start_service &&
	grep -qx "set_param command $meshd --uci $files/meshd.config" "$work/calls" &&
	grep -qx "set_param respawn 3600 5 5" "$work/calls" &&
	grep -qx "set_param stdout 1" "$work/calls" &&
	grep -qx "set_param stderr 1" "$work/calls" &&
	grep -qx "set_param env MESHD_LOG_TIME=0" "$work/calls" &&
	grep -qx "close_instance" "$work/calls" &&
	! grep -q "^logger" "$work/calls"; then
	pass "init: start runs meshd --uci under procd with respawn and logging"
else
	fail "init: start with the shipped config: $(cat "$work/calls")"
fi

if ! init "$bad" "" start_service &&
	[ "$(grep -c "^logger" "$work/calls")" = 1 ] &&
	grep -q "^logger -t meshd -p daemon.err not started: .*option listen_port in config meshd 'main' (line 2): must be 0..=65535, not 70000" "$work/calls" &&
	! grep -q "open_instance" "$work/calls"; then
	pass "init: a bad value gives one log line naming the option and no instance"
else
	fail "init: start with a bad config: $(cat "$work/calls")"
fi

if init "$files/meshd.config" 0 start_service &&
	! grep -q "open_instance" "$work/calls" &&
	grep -q "^logger .*option enabled is '0'" "$work/calls"; then
	pass "init: enabled '0' starts nothing"
else
	fail "init: start when disabled: $(cat "$work/calls")"
fi

if init "$files/meshd.config" "" reload_service && grep -qx "send_signal meshd" "$work/calls"; then
	pass "init: reload sends SIGHUP"
else
	fail "init: reload: $(cat "$work/calls")"
fi

if ! init "$bad" "" reload_service &&
	! grep -q "send_signal" "$work/calls" &&
	grep -q "^logger .*not reloaded.*option listen_port" "$work/calls"; then
	pass "init: a bad reload keeps the running meshd and says why"
else
	fail "init: reload with a bad config: $(cat "$work/calls")"
fi

if init "$files/meshd.config" 0 reload_service && grep -qx "stop" "$work/calls"; then
	pass "init: reload after enabled '0' stops meshd"
else
	fail "init: reload when disabled: $(cat "$work/calls")"
fi

if init "$files/meshd.config" "" service_triggers && grep -qx "reload_trigger meshd" "$work/calls"; then
	pass "init: reload trigger on the meshd config"
else
	fail "init: service_triggers: $(cat "$work/calls")"
fi

# --- The firewall defaults, with uci stubbed --------------------------------------------------
mkdir -p "$work/bin" "$work/root/etc/config"
: >"$work/root/etc/config/firewall"
cat >"$work/bin/uci" <<'STUB'
#!/bin/sh
# Fake uci: answers `get` from $FAKE_UCI_<name> variables, records `batch` input.
[ "$1" = -q ] && shift
case "$1" in
get)
	case "$2" in
	firewall.meshd_zone) [ -n "${FAKE_UCI_ZONE:-}" ] && echo zone ;;
	meshd.@meshd\[0\].interface) [ -n "${FAKE_UCI_IFACE:-}" ] && echo "$FAKE_UCI_IFACE" ;;
	meshd.@meshd\[0\].listen_port) [ -n "${FAKE_UCI_PORT:-}" ] && echo "$FAKE_UCI_PORT" ;;
	*) exit 1 ;;
	esac
	;;
batch) cat >>"$FAKE_UCI_LOG" ;;
*) echo "unexpected uci $*" >&2; exit 2 ;;
esac
STUB
chmod +x "$work/bin/uci"

defaults() {
	: >"$work/batch"
	PATH="$work/bin:$PATH" IPKG_INSTROOT="$work/root" FAKE_UCI_LOG="$work/batch" \
		sh "$files/meshd.uci-defaults"
}

if defaults &&
	grep -qx "set firewall.meshd_zone.name='mesh'" "$work/batch" &&
	grep -qx "add_list firewall.meshd_zone.device='mesh0'" "$work/batch" &&
	grep -qx "set firewall.meshd_zone.input='REJECT'" "$work/batch" &&
	grep -qx "set firewall.meshd_zone.forward='REJECT'" "$work/batch" &&
	grep -qx "set firewall.meshd_zone.masq='0'" "$work/batch" &&
	grep -qx "set firewall.meshd_wireguard.src='wan'" "$work/batch" &&
	grep -qx "set firewall.meshd_wireguard.dest_port='51820'" "$work/batch" &&
	grep -qx "set firewall.meshd_icmpv6.family='ipv6'" "$work/batch" &&
	grep -qx "set firewall.meshd_lan_mesh.dest='mesh'" "$work/batch" &&
	! grep -q "dest='wan'" "$work/batch" &&
	! grep -q "src='mesh'.*forwarding\|meshd_.*forwarding.*src='mesh'" "$work/batch" &&
	[ "$(grep -c "=forwarding" "$work/batch")" = 1 ] &&
	grep -qx "commit firewall" "$work/batch"; then
	pass "uci-defaults: zone mesh, input and forward REJECT, WireGuard open on wan, no way out to wan"
else
	fail "uci-defaults: $(cat "$work/batch")"
fi

if FAKE_UCI_IFACE=mesh7 FAKE_UCI_PORT=4242 defaults &&
	grep -qx "add_list firewall.meshd_zone.device='mesh7'" "$work/batch" &&
	grep -qx "set firewall.meshd_wireguard.dest_port='4242'" "$work/batch"; then
	pass "uci-defaults: follows interface and listen_port from /etc/config/meshd"
else
	fail "uci-defaults with mesh7:4242: $(cat "$work/batch")"
fi

if FAKE_UCI_ZONE=1 defaults && [ ! -s "$work/batch" ]; then
	pass "uci-defaults: leaves an existing zone alone"
else
	fail "uci-defaults rewrote an existing setup: $(cat "$work/batch")"
fi

rm "$work/root/etc/config/firewall"
if defaults && [ ! -s "$work/batch" ]; then
	pass "uci-defaults: does nothing without a firewall"
else
	fail "uci-defaults without a firewall: $(cat "$work/batch")"
fi

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) failed" >&2
	exit 1
fi
echo "openwrt: all checks passed"
