#!/usr/bin/env bash
# End-to-end: the statically linked binary (scripts/build-static.sh) runs with nothing around it.
#
# Copies only the binary and a one-file account repository into an empty directory and runs
# `chroot DIR /channelguard check /repo --as-of 2024-06-30` as nobody (65534), the user and file
# system of the FROM scratch Containerfile, whose lines are checked here too. Asserts exit 1 and
# the F02 finding at partners/litware.yaml:5:13, then exit 0 after the fix. Where a container
# engine answers (docker or podman), also builds the image and runs it on the same repository.
#
# Needs root for chroot (else `unshare -r`, else it is skipped with a message). Uses
# $CHANNELGUARD_STATIC_BIN if set, otherwise builds with scripts/build-static.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${CHANNELGUARD_STATIC_BIN:-}" ]; then
  printf '==> building the static binary (scripts/build-static.sh)\n'
  CHANNELGUARD_STATIC_BIN="$(cd "$here/../.." && pwd)/$(bash "$here/../../scripts/build-static.sh" | tail -n 1)"
fi
export CHANNELGUARD_BIN=$CHANNELGUARD_STATIC_BIN
E2E_NAME=static-binary
# shellcheck source=tests/e2e/common.sh
source "$here/common.sh"

# --- the binary is static: no program interpreter, no shared libraries -----------------------
if readelf -l "$bin" | grep -q 'INTERP'; then
  fail "$bin has a program interpreter (dynamically linked)"
fi
if readelf -d "$bin" 2>/dev/null | grep -q 'NEEDED'; then
  fail "$bin needs shared libraries: $(readelf -d "$bin" | grep NEEDED)"
fi
if readelf -S "$bin" | grep -q '\.debug_\|\.symtab'; then
  fail "$bin is not stripped"
fi
step "static and stripped: $(stat -c %s "$bin") bytes"

# --- the Containerfile is what the chroot below reproduces ------------------------------------
containerfile="$checkout/Containerfile"
for line in 'FROM scratch' \
            'COPY target/x86_64-unknown-linux-gnu/dist/channelguard /channelguard' \
            'USER 65534:65534' \
            'ENTRYPOINT ["/channelguard"]'; do
  grep -qxF "$line" "$containerfile" || fail "Containerfile lacks \`$line\`"
done
[ "$(grep -c '^FROM ' "$containerfile")" = 1 ] || fail "Containerfile has more than one stage"
grep -qxF '!target/x86_64-unknown-linux-gnu/dist/channelguard' "$checkout/.dockerignore" \
  || fail ".dockerignore does not let the binary into the build context"
step "Containerfile: FROM scratch, the static binary at /channelguard, user 65534"

# --- an empty root with the binary and a tiny repository --------------------------------------
root="$work/root"
mkdir -p "$root/repo/partners"
cp "$bin" "$root/channelguard"
litware() {
  cat > "$root/repo/partners/litware.yaml" <<YAML
kind: Partner
id: litware
name: Litware, Inc.
tenant_id: 25498161-9bfb-4075-826b-aca14433782f
partner_id: $1
csp_role: advisor
cloud: commercial
country: "US"
YAML
}
litware 2957364
chmod -R a+rX "$root"
[ "$(find "$root" | wc -l)" = 5 ] || fail "the chroot holds more than the binary and the repository"

if [ "$(id -u)" = 0 ]; then
  in_root() { chroot --userspec=65534:65534 "$root" /channelguard "$@"; }
elif unshare -r true 2>/dev/null; then
  in_root() { unshare -r chroot "$root" /channelguard "$@"; }
else
  printf 'SKIP: static binary in a chroot (needs root or unprivileged user namespaces)\n'
  exit 0
fi

run_in_root() {
  set +e
  output=$(in_root "$@" 2>&1)
  status=$?
  set -e
  printf '%s\n' "$output" | sed 's/^/    | /'
}

run_in_root check /repo --as-of 2024-06-30 --color never
[ "$status" = 1 ] || fail "expected exit 1 in the chroot, got $status"
for expected in F02 'partners/litware.yaml:5:13' 'found integer `2957364`' \
                'checked 1 file (1 document)'; do
  grep -qF -- "$expected" <<<"$output" || fail "the chroot run did not show \`$expected\`"
done
step "in an empty chroot: exit 1 with F02 at partners/litware.yaml:5:13"

run_in_root check /repo --as-of 2024-06-30 --color never --exit-zero --format json
[ "$status" = 0 ] || fail "expected exit 0 with --exit-zero, got $status"
grep -qF '"code": "F02"' <<<"$output" || fail "--exit-zero hid the finding"
step "--exit-zero: exit 0, finding still reported"

litware '"2957364"'
run_in_root check /repo --as-of 2024-06-30 --color never
[ "$status" = 0 ] || fail "expected exit 0 after the fix, got $status"
step "fixed data: exit 0"

# --- the image itself, where a container engine runs -------------------------------------------
engine=
for candidate in podman docker; do
  if command -v "$candidate" >/dev/null && timeout 20 "$candidate" info >/dev/null 2>&1; then
    engine=$candidate
    break
  fi
done
if [ -n "$engine" ]; then
  litware 2957364
  built=$(dirname "$(dirname "$(dirname "$bin")")")
  [ "$bin" -ef "$checkout/target/x86_64-unknown-linux-gnu/dist/channelguard" ] \
    || fail "the image copies target/x86_64-unknown-linux-gnu/dist/channelguard, not $bin ($built)"
  storage=()
  # Without a daemon's overlay support (rootless, nested), podman still builds with vfs storage.
  [ "$engine" = podman ] && storage=(--storage-driver vfs)
  "$engine" "${storage[@]}" build --quiet -f "$containerfile" -t channelguard-e2e "$checkout" >/dev/null
  step "$engine built the image from the Containerfile"
  set +e
  output=$("$engine" "${storage[@]}" run --rm --network none -v "$root/repo:/repo:ro" channelguard-e2e \
    check . --as-of 2024-06-30 --color never 2>&1)
  status=$?
  set -e
  if [ "$status" -ge 125 ]; then
    # The engine cannot start containers here (e.g. crun without cgroup controllers in a nested
    # sandbox): run exactly what the image holds instead, its exported file system in a chroot
    # as the image's user, on the same repository.
    printf '%s\n' "$output" | sed 's/^/    | engine: /'
    image_root="$work/image-root"
    mkdir -p "$image_root"
    container=$("$engine" "${storage[@]}" create channelguard-e2e)
    "$engine" "${storage[@]}" export "$container" | tar -x -C "$image_root"
    "$engine" "${storage[@]}" rm "$container" >/dev/null
    user=$("$engine" "${storage[@]}" image inspect --format '{{.Config.User}}' channelguard-e2e)
    [ "$user" = 65534:65534 ] || fail "the image runs as \`$user\`, not 65534:65534"
    [ -x "$image_root/channelguard" ] || fail "the image has no /channelguard"
    extra=$(cd "$image_root" && find . -mindepth 1 -not -path './channelguard' \
      -not -path './repo' -not -path './dev*' -not -path './proc*' -not -path './sys*' \
      -not -path './etc' -not -path './etc/hosts' -not -path './etc/resolv.conf' -not -path './run*')
    [ -z "$extra" ] || fail "the image holds more than the binary: $extra"
    mkdir -p "$image_root/repo" && cp -r "$root/repo/." "$image_root/repo/" && chmod -R a+rX "$image_root"
    root=$image_root
    run_in_root check /repo --as-of 2024-06-30 --color never
  else
    printf '%s\n' "$output" | sed 's/^/    | /'
  fi
  [ "$status" = 1 ] || fail "expected exit 1 from the image, got $status"
  grep -qF 'partners/litware.yaml:5:13' <<<"$output" || fail "the image run did not show F02"
  step "$engine image FROM scratch: exit 1 with F02"
else
  step "container image not built: no docker or podman daemon answers here (the chroot above is the same file system)"
fi

printf 'PASS: static binary (no interpreter, no shared libraries, stripped) in an empty chroot\n'
