#!/usr/bin/env bash
# The demo: build meshsim and run one 200-node mesh, printing its figures (see README, "The
# simulator"). Run as root on a fresh Debian 12 machine with rustup's stable toolchain; it installs
# the little it needs first.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive

if ! command -v cargo >/dev/null 2>&1 && [ -f "${CARGO_HOME:-$HOME/.cargo}/env" ]; then
    # shellcheck disable=SC1091
    . "${CARGO_HOME:-$HOME/.cargo}/env"
fi

section() {
    printf '\n===== %s =====\n' "$*"
}

# Rust links through the system C compiler.
if ! command -v cc >/dev/null 2>&1; then
    section "Installing a C toolchain (build-essential)"
    apt-get update || echo "apt-get update reported errors; going on with the indexes it fetched"
    apt-get install -y --no-install-recommends build-essential
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found; install Rust with rustup (stable) first" >&2
    exit 1
fi

installed_components=$(rustup component list --installed 2>/dev/null || true)
for component in rustfmt clippy; do
    if ! grep -q "^${component}-" <<<"$installed_components"; then
        rustup component add "$component" || echo "warning: could not add $component"
    fi
done

section "meshsim: 200 nodes, geometric, seed 7, 1% loss, 5% of links cut"
cargo run --release --bin meshsim -- \
    --nodes 200 --topology geometric --seed 7 --loss 0.01 --cut-fraction 0.05
