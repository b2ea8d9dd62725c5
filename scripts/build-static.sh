#!/usr/bin/env bash
# Builds the statically linked, stripped Linux binary that releases ship:
#   target/x86_64-unknown-linux-gnu/dist/channelguard
# glibc's static C runtime (`crt-static` on the gnu target) needs only libc.a (Debian/Ubuntu:
# libc6-dev), no musl toolchain and no network beyond the crates Cargo.lock names. The `dist`
# profile is the release profile without debug information and symbols (Cargo.toml).
# channelguard resolves no user or host names, so glibc's static-linking caveats (NSS, iconv
# modules loaded at run time) do not apply; tests/e2e/static-binary.sh runs the result in an
# empty chroot to prove it needs nothing from the system.
#
# Usage: scripts/build-static.sh [extra cargo arguments, e.g. --locked]
# Prints the path of the binary on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
# --target keeps these flags away from build scripts and proc macros (they run on the host).
# getrandom (hash seeds of ahash, under jsonschema and rhai) finds glibc's getrandom() with dlsym,
# which a static binary cannot do, and falls back to /dev/urandom: in an empty chroot that panics
# (`getrandom::fill() failed`, ENOENT; found by tests/e2e/static-binary.sh). The
# `linux_getrandom` backend links getrandom() directly.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\"" \
  cargo build --profile dist --target "$target" --bin channelguard "$@" >&2
bin="target/$target/dist/channelguard"
if ldd "$bin" 2>&1 | grep -q '=>'; then
  echo "error: $bin is dynamically linked:" >&2
  ldd "$bin" >&2
  exit 1
fi
echo "$bin"
