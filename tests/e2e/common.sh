# Shared set-up of the end-to-end scripts (sourced, not run): the checkout, a temporary work
# directory removed on exit, `fail`/`step`, and `$bin`, the channelguard binary
# ($CHANNELGUARD_BIN, or a release build of this checkout). Set E2E_NAME before sourcing.
checkout=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/channelguard-e2e-${E2E_NAME:-run}.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
step() { printf '==> %s\n' "$*"; }

if [ -n "${CHANNELGUARD_BIN:-}" ]; then
  bin=$CHANNELGUARD_BIN
else
  step "building channelguard (cargo build --release)"
  (cd "$checkout" && cargo build --release --quiet --bin channelguard)
  bin="$checkout/target/release/channelguard"
fi
[ -x "$bin" ] || fail "no channelguard binary at $bin"
