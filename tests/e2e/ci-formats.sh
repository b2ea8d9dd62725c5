#!/usr/bin/env bash
# End-to-end: a CI-style check writing SARIF and JUnit, read back by real consumers.
#
# Builds channelguard (or uses $CHANNELGUARD_BIN), runs it on a copy of tests/data/ci-repo (which
# has known violations) with the built-in policy pack, the way a pipeline does:
#   channelguard check --format sarif --output channelguard.sarif \
#                      --format junit --output junit.xml --format github
# then validates the SARIF against the official OASIS SARIF 2.1.0 schema (python `jsonschema`)
# and parses the JUnit XML with `junitparser`. Both are installed from PyPI into a venv in a
# temporary directory. Exit 0 and a PASS line on success.
set -euo pipefail

E2E_NAME=ci
# shellcheck source=tests/e2e/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

step "installing jsonschema and junitparser from PyPI into a venv"
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check jsonschema junitparser
python="$work/venv/bin/python"

repo="$work/accounts"
cp -R "$checkout/tests/data/ci-repo" "$repo"
mkdir -p "$work/reports"
cd "$repo"

step "channelguard check (SARIF and JUnit to files, annotations to stdout)"
set +e
"$bin" check --as-of 2024-06-30 --color never \
  --format sarif --output "$work/reports/channelguard.sarif" \
  --format junit --output "$work/reports/junit.xml" \
  --format github > "$work/annotations.txt" 2> "$work/terminal.txt"
status=$?
set -e
sed 's/^/    | /' "$work/annotations.txt" "$work/terminal.txt"
[ "$status" -eq 1 ] || fail "expected exit code 1 (findings), got $status"
grep -q '^::error file=partners/litware.yaml,line=5,col=13,' "$work/annotations.txt" \
  || fail "no GitHub annotation for the F02 finding"
grep -q '^checked 4 files' "$work/terminal.txt" || fail "the summary line did not reach the terminal (stderr)"

step "validating the SARIF log against the OASIS SARIF 2.1.0 schema"
"$python" - "$checkout/tests/data/sarif-schema-2.1.0.json" "$work/reports/channelguard.sarif" <<'PY'
import json, sys
import jsonschema

schema = json.load(open(sys.argv[1]))
log = json.load(open(sys.argv[2]))
validator = jsonschema.validators.validator_for(schema)(schema, format_checker=jsonschema.FormatChecker())
errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
for error in errors:
    print("  schema error at /%s: %s" % ("/".join(map(str, error.path)), error.message))
if errors:
    sys.exit(1)
run = log["runs"][0]
rules = run["tool"]["driver"]["rules"]
ids = [r["id"] for r in rules]
assert len(ids) == len(set(ids)), "rule ids repeat"
results = run["results"]
assert results, "no results"
for result in results:
    assert rules[result["ruleIndex"]]["id"] == result["ruleId"], result["ruleId"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
f02 = [r for r in results if r["ruleId"] == "F02"]
assert f02 and f02[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 5, f02
print("  %d results, %d rules, valid" % (len(results), len(rules)))
PY

step "parsing the JUnit report with junitparser"
"$python" - "$work/reports/junit.xml" <<'PY'
import sys
from junitparser import JUnitXml, Failure

xml = JUnitXml.fromfile(sys.argv[1])
cases = {}
for suite in xml:
    for case in suite:
        cases[(suite.name, case.name)] = case
assert ("partners/northwind.yaml", "Partner/northwind") in cases, sorted(cases)
assert cases[("partners/northwind.yaml", "Partner/northwind")].is_passed
litware = cases[("partners/litware.yaml", "Partner/litware")]
failures = [r for r in litware.result if isinstance(r, Failure)]
assert failures and "F02" in failures[0].type and "partners/litware.yaml:5:13" in failures[0].message, failures
print("  %d testcases in %d suites, %d failing" % (
    len(cases), len(list(xml)), sum(1 for c in cases.values() if not c.is_passed)))
PY

printf 'PASS: CI formats end-to-end (SARIF valid against the OASIS schema, JUnit parsed by junitparser)\n'
