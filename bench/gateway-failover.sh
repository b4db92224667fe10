#!/usr/bin/env bash
# gateway-failover.sh: the ping outage when the gateway a client uses is killed (kill -9), with
# the timers given, and the longest gap between replies with nothing happening (the baseline, in
# the same run). Target: outage under 3 s.
#
# Run as root from the repository's top directory. It runs the ignored namespace test
# tests/netns/tests/gateway_failover_bench.rs, which builds its namespaces with the harness of
# tests/netns (named mshn-<pid>-…, deleted on every exit path) and prints the figures.
#
#   bench/gateway-failover.sh [--hello SECONDS] [--rounds N]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

HELLO=1
ROUNDS=3
while [ $# -gt 0 ]; do
    case "$1" in
        --hello) HELLO="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

cargo build --release -p meshd -p meshctl >&2
MESHD_BENCH_HELLO="$HELLO" MESHD_BENCH_ROUNDS="$ROUNDS" \
    cargo test --release -p meshd-netns-tests --test gateway_failover_bench -- \
    --ignored --nocapture --test-threads 1 2>&1 |
    grep -E '^(timers|round|gateway_failover_outage_s|test result)'
