#!/usr/bin/env bash
# discovery.sh: discovery figures on real routers in network namespaces (a bridge standing in for
# a Wi-Fi mesh channel): how long a ninth router takes to join eight by discovery alone, beside
# the same join with static peers, and how many bytes per second beacons cost each router on each
# interface when idle. Prints `key: value` lines; the work is done by the ignored test
# tests/netns/tests/discovery_bench.rs, whose harness creates and always removes its own
# namespaces (mshn-<pid>-...) and processes.
#
# Run as root from anywhere: bash bench/discovery.sh   (about 2 minutes)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "$(id -u)" -eq 0 ] || { echo "error: run as root (network namespaces)" >&2; exit 2; }
cargo build --release -q -p meshd -p meshctl
exec cargo test --release -q -p meshd-netns-tests --test discovery_bench -- \
    --ignored --nocapture --test-threads 1
