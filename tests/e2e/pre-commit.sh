#!/usr/bin/env bash
# End-to-end: channelguard as a real git pre-commit hook, run by the real pre-commit tool.
#
# Builds channelguard (or uses $CHANNELGUARD_BIN), installs pre-commit from PyPI into a venv in a
# temporary directory unless it is already on PATH, creates a temporary git repository with clean
# account data and a `.pre-commit-config.yaml` (`repo: local`, `language: system`, the built
# binary), installs the hook, then asserts that a commit introducing a violation is refused with
# the diagnostic on screen, that the fixed commit goes through, and that a staged file named
# `--baseline=.bl.yaml` is passed as a file name after `--only --`, not read as an option.
#
# Set CHANNELGUARD_E2E_RUST_HOOK=1 to also run the `language: rust` hook of this checkout's
# .pre-commit-hooks.yaml (pre-commit builds it with cargo: slow, needs crates.io or a warm cache).
set -euo pipefail

E2E_NAME=pre-commit
# shellcheck source=tests/e2e/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# The hooks use the cache where users have it: .channelguard-cache/ at the repository root.
unset CHANNELGUARD_CACHE_DIR CHANNELGUARD_NO_CACHE

if command -v pre-commit >/dev/null 2>&1; then
  pre_commit=$(command -v pre-commit)
else
  step "installing pre-commit from PyPI into a venv"
  python3 -m venv "$work/venv"
  "$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check pre-commit
  pre_commit="$work/venv/bin/pre-commit"
fi
step "using $("$pre_commit" --version)"
# pre-commit keeps its environments here: nothing outside the temporary directory is touched.
export PRE_COMMIT_HOME="$work/pre-commit-home"

# --- a repository of clean account data ---------------------------------------------------------
# The user's git configuration stays out: a global core.hooksPath makes `pre-commit install`
# refuse, and signing or templates would change what a commit does.
: > "$work/gitconfig"
export GIT_CONFIG_GLOBAL="$work/gitconfig" GIT_CONFIG_NOSYSTEM=1
repo="$work/accounts"
mkdir -p "$repo/partners" "$repo/customers"
cd "$repo"
git init --quiet
git config user.name "channelguard e2e"
git config user.email "e2e@example.invalid"
git config commit.gpgsign false

cat > partners/northwind.yaml <<'YAML'
kind: Partner
id: northwind
name: Northwind Cloud AS
tenant_id: aeaffe01-03dd-4593-ba8a-3f2606253e59
partner_id: "5093271"
csp_role: direct_bill
cloud: commercial
country: "NO"
mpa_signed: true
YAML
cat > customers/fabrikam.yaml <<'YAML'
kind: Customer
id: fabrikam
name: Fabrikam Fiskeri AS
tenant_id: 9b50002f-6f0a-4271-b984-f96edfef6d5f
domain: fabrikamfiskeri.onmicrosoft.com
cloud: commercial
tenant_country: "NO"
---
kind: ResellerRelationship
id: northwind-fabrikam
partner: northwind
customer: fabrikam
status: accepted
requested_on: 2022-06-17
accepted_on: 2022-06-20
accepted_by_role: global_admin
include_delegated_admin: true
mca_accepted_on: 2022-06-20
---
kind: DelegatedAdmin
id: northwind-fabrikam-gdap
type: gdap
partner: northwind
customer: fabrikam
roles:
  - Directory Readers
  - License Administrator
duration: P730D
status: active
created_on: 2024-01-10
activated_on: 2024-01-11
end_on: 2026-01-11
YAML

mkdir -p subscriptions
cat > subscriptions/fabrikam-m365-e3.yaml <<'YAML'
kind: Subscription
id: fabrikam-m365-e3
customer: fabrikam
offer_name: Microsoft 365 E3
product_family: microsoft365
billing_model: license
channel: direct
managed_by: northwind
term_duration: P1Y
start_date: 2023-11-01
end_date: 2024-10-31
auto_renew: true
status: active
quantity: 40
YAML

# The evaluation date is pinned so that the data stays clean whatever day this runs.
cat > .pre-commit-config.yaml <<YAML
repos:
  - repo: local
    hooks:
      - id: channelguard
        name: channelguard
        language: system
        # Options go before `--only --`: pre-commit appends the staged file names (and any
        # `args`) after the entry, and `--only` takes everything after it as a file name.
        entry: $bin check --as-of 2024-06-30 --color never --only --
        pass_filenames: true
        files: \.(ya?ml)$
        require_serial: true
YAML

step "the starting data is clean"
"$bin" check --as-of 2024-06-30 --fail-on warning --quiet . || fail "the e2e account data has findings; fix the script's data"

"$pre_commit" install >/dev/null
[ -x .git/hooks/pre-commit ] || fail "pre-commit install wrote no hook"

git add .
git commit --quiet -m "clean account data" || fail "the clean commit was refused"
step "clean commit accepted"

# --- a violation is refused with the diagnostic on screen ---------------------------------------
commit_must_fail() {
  local what=$1; shift
  local before output status
  before=$(git rev-list --count HEAD)
  set +e
  output=$(git commit -m "$what" 2>&1)
  status=$?
  set -e
  printf '%s\n' "$output" | sed 's/^/    | /'
  [ "$status" -ne 0 ] || fail "the commit ($what) went through"
  [ "$(git rev-list --count HEAD)" = "$before" ] || fail "a commit was recorded although the hook failed"
  for expected in "$@"; do
    grep -qF -- "$expected" <<<"$output" || fail "the refused commit ($what) did not show \`$expected\`"
  done
  step "commit refused ($what), showing: $*"
}

cat > partners/litware.yaml <<'YAML'
kind: Partner
id: litware
name: Litware, Inc.
tenant_id: 25498161-9bfb-4075-826b-aca14433782f
partner_id: 2957364
csp_role: advisor
cloud: commercial
country: "US"
YAML
git add partners/litware.yaml
commit_must_fail "add litware with an unquoted PartnerID" "F02" "partners/litware.yaml:5:13" "partner_id"

sed -i.bak 's/partner_id: 2957364/partner_id: "2957364"/' partners/litware.yaml && rm partners/litware.yaml.bak
git add partners/litware.yaml
git commit --quiet -m "add litware" || fail "the fixed commit was refused"
[ "$(git rev-list --count HEAD)" = 2 ] || fail "the fixed commit was not recorded"
step "fixed commit accepted"

# --- a cross-document rule: the staged file breaks a rule reported in another file --------------
# Only customers/fabrikam.yaml is staged; MC002 lands on the subscription file, with the
# relationship in the staged file as its related location, so the hook still refuses it.
sed -i.bak 's/^status: accepted$/status: requested/' customers/fabrikam.yaml && rm customers/fabrikam.yaml.bak
git add customers/fabrikam.yaml
commit_must_fail "relationship back to requested" "MC002" "subscriptions/fabrikam-m365-e3.yaml"
git reset --quiet HEAD -- customers/fabrikam.yaml
git checkout --quiet -- customers/fabrikam.yaml

# --- a staged file named like an option stays a file name ----------------------------------------
# An attacker commits a violation, a baseline that records it, and a clean file named
# `--baseline=.bl.yaml`. Were the file names pre-commit appends read as options, that name would
# load the baseline and silence the finding; after `--only --` it is just a file.
sed -i.bak 's/partner_id: "2957364"/partner_id: 2957364/' partners/litware.yaml && rm partners/litware.yaml.bak
cat > ./--baseline=.bl.yaml <<'YAML'
kind: Partner
id: contoso
name: Contoso Ltd
tenant_id: 3f2b8c1e-6a4d-4e2f-9b7a-1c5d8e9f0a2b
partner_id: "4847383"
csp_role: direct_bill
cloud: commercial
country: "US"
YAML
"$bin" baseline create .bl.yaml --as-of 2024-06-30 . 2>/dev/null || fail "could not record the attacker's baseline"
git add -- partners/litware.yaml .bl.yaml ./--baseline=.bl.yaml
commit_must_fail "a file named --baseline=.bl.yaml" "F02" "partners/litware.yaml:5:13"
git reset --quiet HEAD -- partners/litware.yaml .bl.yaml ./--baseline=.bl.yaml
git checkout --quiet -- partners/litware.yaml
rm -f -- .bl.yaml ./--baseline=.bl.yaml

# --- the incremental cache (issue 16) --------------------------------------------------------------
# Every hook run above used the default cache, .channelguard-cache/ at the root: warm after the
# first. It ignores itself in git, and a run with it reports exactly what a --no-cache run does,
# after an edit too.
[ -f .channelguard-cache/CACHEDIR.TAG ] || fail "the hook runs left no cache folder at the root"
if git status --porcelain --untracked-files=all | grep -q channelguard-cache; then
  fail "git sees the cache folder: $(git status --porcelain --untracked-files=all)"
fi
sed -i.bak 's/^quantity: 40$/quantity: 41/' subscriptions/fabrikam-m365-e3.yaml && rm subscriptions/fabrikam-m365-e3.yaml.bak
sed -i.bak 's/^status: accepted$/status: requested/' customers/fabrikam.yaml && rm customers/fabrikam.yaml.bak
for format in json human; do
  set +e
  "$bin" check --as-of 2024-06-30 --color never --format "$format" . > "$work/cached.$format" 2> "$work/cached.err"
  cached_status=$?
  "$bin" check --as-of 2024-06-30 --color never --format "$format" --no-cache . > "$work/cold.$format"
  cold_status=$?
  set -e
  [ "$cached_status" = "$cold_status" ] || fail "exit code $cached_status with the cache, $cold_status without"
  # The human summary ends with the wall time, the one part that differs between runs.
  sed -i 's/ in [0-9.]*s\b//' "$work/cached.$format" "$work/cold.$format"
  cmp -s "$work/cached.$format" "$work/cold.$format" || fail "the cached $format report differs from --no-cache: $(diff "$work/cached.$format" "$work/cold.$format" | head -20)"
  ! grep -q '^note:' "$work/cached.err" || fail "the cache noted a problem: $(cat "$work/cached.err")"
done
grep -q MC002 "$work/cold.json" || fail "the edit that breaks MC002 was not reported"
git checkout --quiet -- customers/fabrikam.yaml subscriptions/fabrikam-m365-e3.yaml
step "cache: ignored by git; cached and --no-cache reports identical after an edit (json, human)"

# --- optional: the language: rust hook of this checkout ------------------------------------------
if [ "${CHANNELGUARD_E2E_RUST_HOOK:-0}" = 1 ]; then
  step "language: rust hook from $checkout (pre-commit builds it with cargo)"
  rev=$(git -C "$checkout" rev-parse HEAD)
  # `entry` is overridden only to pin the evaluation date; `--only --` stays last, before the files.
  cat > .pre-commit-config.yaml <<YAML
repos:
  - repo: $checkout
    rev: $rev
    hooks:
      - id: channelguard
        entry: channelguard check --as-of 2024-06-30 --only --
YAML
  git add .pre-commit-config.yaml
  "$pre_commit" run channelguard --all-files || fail "the language: rust hook failed on clean data"
  step "language: rust hook passed"
else
  step "language: rust hook skipped (set CHANNELGUARD_E2E_RUST_HOOK=1 to run it)"
fi

printf 'PASS: pre-commit end-to-end (refused a violating commit, accepted the fix, file names stay file names, the cache changes no report)\n'
