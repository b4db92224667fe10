#!/usr/bin/env bash
# meshd's test suite: formatting, lints, every crate's tests, a short simulator run, and the
# router cross builds (armv7, aarch64) with their tests under qemu-user.
# Needs only a Rust toolchain with rustfmt and clippy; `bash .ci/run` sets a fresh machine up first.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TERM_COLOR=never

if ! command -v cargo >/dev/null 2>&1 && [ -f "${CARGO_HOME:-$HOME/.cargo}/env" ]; then
    # shellcheck disable=SC1091
    . "${CARGO_HOME:-$HOME/.cargo}/env"
fi

section() {
    printf '\n===== %s =====\n' "$*"
}

test_log=$(mktemp)
trap 'rm -f "$test_log"' EXIT

section "Formatting (cargo fmt --check)"
cargo fmt --all -- --check --color never
echo "formatting ok"

section "Lints (cargo clippy, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings
# The OpenWrt build: meshd with meshctl inside (multi-call), meshctl without its `docs` feature.
cargo clippy -p meshd -p meshctl --all-targets --no-default-features --features meshd/meshctl -- -D warnings

# The workspace must keep building with Rust 1.85 (its rust-version), which routers are built
# with: Debian's while Debian serves it (.ci/run installs it then), or rustup's 1.85 toolchain if
# one is installed. Once neither exists (Debian moved on), the check is skipped, loudly.
section "Minimum supported Rust (1.85)"
msrv_cargo=()
if /usr/bin/cargo --version 2>/dev/null | grep -q '^cargo 1\.85\.'; then
    msrv_cargo=(env RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc /usr/bin/cargo)
elif rustup run 1.85 cargo --version 2>/dev/null | grep -q '^cargo 1\.85\.'; then
    msrv_cargo=(rustup run 1.85 cargo)
fi
if [ "${#msrv_cargo[@]}" -gt 0 ]; then
    CARGO_TARGET_DIR=target/msrv "${msrv_cargo[@]}" check --workspace --all-targets --locked
    echo "builds with $("${msrv_cargo[@]}" --version)"
else
    echo "WARNING: skipping the Rust 1.85 check: neither Debian's cargo (/usr/bin/cargo is $(/usr/bin/cargo --version 2>/dev/null || echo missing)) nor a rustup toolchain 1.85 is 1.85"
fi

# The namespace tests (tests/netns) run the real daemon binary: build it first.
section "Build meshd and meshctl (release)"
cargo build --release -p meshd -p meshctl

# The OpenWrt feed: shell syntax and shellcheck of the init and uci-defaults scripts, the
# init script against stubbed procd, the firewall commands it generates, and the shipped UCI
# file validated by the meshd just built.
section "OpenWrt feed checks"
sh openwrt/test.sh

# Release mode: the simulator's tests run thousands of virtual seconds over many nodes.
section "Tests (cargo test --workspace --release)"
cargo test --workspace --release 2>&1 | tee "$test_log"

# meshctl as the router package builds it (no `docs` feature: no clap, no completions, no man
# page): its command-line tests, which include the ones only that build has.
section "meshctl's tests without its docs feature (the router build)"
cargo test --release -p meshctl --no-default-features 2>&1 | tee -a "$test_log"

# The fuzz targets (fuzz/, outside the workspace, with its own Cargo.lock) include meshd's source
# files, so a change in meshd can break them: they must still build, on stable, with the
# committed lock file. Fuzzing itself needs nightly and time; docs/architecture.md says how.
section "Fuzz targets build (cargo check --bins --locked in fuzz/)"
(cd fuzz && cargo check --bins --locked)

# The smoke run checks loop-freedom and feasibility at every step and exits non-zero on a breach.
section "Simulator smoke run (50 nodes, geometric, 1% loss, 5% of links cut)"
timeout 600 cargo run --release --bin meshsim -- \
    --nodes 50 --topology geometric --seed 1 --loss 0.01 --cut-fraction 0.05

# The routers' CPUs: build meshd (meshctl inside) for 32-bit ARM (armv7) and 64-bit ARM (aarch64)
# with Debian's Rust 1.85 and its std for each, run the wire, core, config and UCI tests under
# qemu-user, and hold each router binary to its budget. .ci/run installs the cross toolchains
# (tests/cross.sh ARCH --install-only). Under CI, as root, whatever is still missing is installed
# here too (nothing, when .ci/run ran just before): the cross build must run, not fail on a
# package state that differs from the one .ci/run left. Elsewhere nothing is installed here.
for cross in "armv7 qemu-arm arm-linux-gnueabihf-gcc" "aarch64 qemu-aarch64 aarch64-linux-gnu-gcc"; do
    read -r arch qemu gcc <<<"$cross"
    section "$arch: cross build and tests under $qemu (tests/cross.sh $arch)"
    if [ -n "${CI:-}" ] && [ "$(id -u)" -eq 0 ]; then
        bash tests/cross.sh "$arch"
    elif [ -n "${CI:-}" ] || { command -v "$qemu" && command -v "$gcc"; } >/dev/null; then
        bash tests/cross.sh "$arch" --no-install
    else
        echo "WARNING: skipping the $arch build and tests: no $qemu or $gcc (bash .ci/run installs them)"
    fi
done

# Repeat cargo test's result lines last, with their sum, so the end of the log tells the outcome.
section "Test summary"
grep '^test result:' "$test_log" || true
# A namespace test that cannot run here prints a "*** SKIP" line and returns, which cargo counts
# as passed: count those as skipped instead. (Under CI they fail rather than skip.)
awk '
    /^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed;?$/) passed += $i
            if ($(i + 1) ~ /^failed;?$/) failed += $i
            if ($(i + 1) ~ /^ignored;?$/) ignored += $i
        }
    }
    /^\*\*\* SKIP/ { skipped += 1 }
    END {
        printf "tests: %d passed, %d failed, %d skipped (%d ignored, %d not runnable here)\n",
            passed - skipped, failed, ignored + skipped, ignored, skipped
    }
' "$test_log"
