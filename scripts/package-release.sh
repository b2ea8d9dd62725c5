#!/usr/bin/env bash
# Packages a built channelguard binary as a release archive, with what is generated from it:
#   DIST/channelguard-x86_64-unknown-linux-gnu.tar.gz   channelguard-x86_64-unknown-linux-gnu/
#     channelguard, README.md, man/channelguard*.1, completions/{channelguard.bash,_channelguard,channelguard.fish,_channelguard.ps1,channelguard.elv}
#   DIST/channelguard-x86_64-unknown-linux-gnu.tar.gz.sha256   (`sha256sum -c` format)
# The archive is reproducible for a given binary (sorted names, fixed owner and mtime).
#
# Usage: scripts/package-release.sh BINARY DIST
set -euo pipefail
[ $# = 2 ] || { echo "usage: $0 BINARY DIST" >&2; exit 2; }
bin=$1 dist=$2
checkout=$(cd "$(dirname "$0")/.." && pwd)
name=channelguard-x86_64-unknown-linux-gnu
mkdir -p "$dist"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg="$stage/$name"
mkdir -p "$pkg/man" "$pkg/completions"
cp "$bin" "$pkg/channelguard"
cp "$checkout/README.md" "$pkg/"
"$bin" manpage > "$pkg/man/channelguard.1"
# Every command listed by --help gets its page (channelguard-check.1, …).
commands=$("$bin" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && /^  [a-z]/ && $1 != "help" { print $1 }')
[ -n "$commands" ] || { echo "no commands found in --help" >&2; exit 1; }
for command in $commands; do
  "$bin" manpage "$command" > "$pkg/man/channelguard-$command.1"
done
"$bin" completions bash > "$pkg/completions/channelguard.bash"
"$bin" completions zsh > "$pkg/completions/_channelguard"
"$bin" completions fish > "$pkg/completions/channelguard.fish"
"$bin" completions powershell > "$pkg/completions/_channelguard.ps1"
"$bin" completions elvish > "$pkg/completions/channelguard.elv"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" -cf - "$name" \
  | gzip -n -9 > "$dist/$name.tar.gz"
(cd "$dist" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
echo "$dist/$name.tar.gz"
