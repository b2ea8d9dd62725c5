#!/usr/bin/env bash
# End-to-end: the exported schemas work in editors and with check-jsonschema, without network.
#
# Installs check-jsonschema (PyPI, into a venv) and yaml-language-server (npm, into a temporary
# prefix), exports the schemas into a small account repository and, with the network switched
# off (`unshare -n`, else an unreachable proxy):
# 1. check-jsonschema validates a partner file, channelguard.yaml and the repository's own
#    policies/tests/**/*.test.yaml, and rejects a typo in each kind of file;
# 2. yaml-language-server, driven over stdio LSP (tests/e2e/lsp-diagnostics.py) with the exact
#    `yaml.schemas` settings of docs/editors.md, reports a typo in the *second* document of a
#    multi-document file on its line, an unknown key in channelguard.yaml and in a test case,
#    and nothing on the valid files; with only a modeline the second document goes unchecked
#    (what docs/editors.md says).
set -euo pipefail

E2E_NAME=editors
# shellcheck source=tests/e2e/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

step "installing check-jsonschema (PyPI) and yaml-language-server (npm)"
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check check-jsonschema
npm install --silent --no-audit --no-fund --prefix "$work/npm" yaml-language-server >/dev/null
check_jsonschema="$work/venv/bin/check-jsonschema"
yaml_ls="$work/npm/node_modules/.bin/yaml-language-server"
echo "check-jsonschema $("$check_jsonschema" --version | sed 's/.*version //'), yaml-language-server $(node -p "require('$work/npm/node_modules/yaml-language-server/package.json').version")"
started=$(date +%s)

# No network for the tools under test: a `$ref` that needs a download fails.
if unshare -n true 2>/dev/null; then
  offline() { unshare -n "$@"; }
else
  offline() { HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 "$@"; }
fi

repo="$work/accounts"
mkdir -p "$repo/customers" "$repo/partners" "$repo/policies/tests/acme"
"$bin" schemas export "$repo/.channelguard/schemas" >/dev/null
cd "$repo"
cat > partners/fabrikam.yaml <<'YAML'
kind: Partner
id: fabrikam
name: Fabrikam Cloud Ltd
tenant_id: 5a1c0e2d-6b1f-4c36-9e0a-2f7d3c4b5a61
partner_id: "4847383"
csp_role: direct_bill
cloud: commercial
country: "GB"
YAML
cat > customers/contoso.yaml <<'YAML'
kind: Customer
id: contoso
name: Contoso AS
tenant_id: 4fce52df-54c2-4755-9b89-61a6b3926e47
cloud: commercial
tenant_country: "NO"
---
kind: Subscription
id: contoso-m365-e3
customer: contoso
offer_name: Microsoft 365 E3
product_family: microsoft365
billing_model: license
channel: direct
managed_by: fabrikam
status: active
YAML
sed 's/billing_model: license/billing_model: licence/' customers/contoso.yaml > customers/typo.yaml
cat > channelguard.yaml <<'YAML'
as_of: 2024-06-30
rules:
  MC010:
    severity: warning
waivers:
  - rule: XC001
    document: Customer/contoso
    pointer: /tenant_country
    reason: "served from Norway under the group agreement"
    approved_by: "kari.nordmann@northwind.example"
    expires: 2025-01-31
YAML
"$bin" init "$work/starter" >/dev/null   # its keys with commented-out values are null
cp "$work/starter/channelguard.yaml" starter.yaml
cp "$checkout/policies/tests/MC002/fail.test.yaml" policies/tests/acme/fail.test.yaml
sed 's/^expect:/expects:/' policies/tests/acme/fail.test.yaml > policies/tests/acme/typo.test.yaml
grep -q '^expects:' policies/tests/acme/typo.test.yaml || fail "the test-case typo was not made"

# --- 1. check-jsonschema --------------------------------------------------------------------
schemas=.channelguard/schemas
offline "$check_jsonschema" --schemafile "$schemas/document.json" partners/fabrikam.yaml \
  || fail "check-jsonschema: partners/fabrikam.yaml against document.json"
offline "$check_jsonschema" --schemafile "$schemas/partner.json" partners/fabrikam.yaml \
  || fail "check-jsonschema: partners/fabrikam.yaml against partner.json"
offline "$check_jsonschema" --schemafile "$schemas/channelguard-config.json" channelguard.yaml starter.yaml \
  || fail "check-jsonschema: channelguard.yaml, the \`channelguard init\` starter"
(cd "$checkout" && find policies/tests -name '*.test.yaml' -print0 | sort -z \
  | xargs -0 env "$check_jsonschema" --schemafile "$repo/$schemas/policy-test.json") >/dev/null \
  || fail "check-jsonschema: the repository's policies/tests/**/*.test.yaml"
rejects() { # schema file expected-text
  local out
  if out=$(offline "$check_jsonschema" --schemafile "$schemas/$1" "$2" 2>&1); then
    fail "check-jsonschema accepted $2 against $1"
  fi
  grep -q -- "$3" <<<"$out" || fail "check-jsonschema on $2: expected \`$3\` in: $out"
}
sed 's/country: "GB"/country: "gb"/' partners/fabrikam.yaml > "$work/bad-partner.yaml"
rejects document.json "$work/bad-partner.yaml" "does not match"
sed 's/^rules:/rule:/' channelguard.yaml > "$work/bad-config.yaml"
rejects channelguard-config.json "$work/bad-config.yaml" "'rule' was unexpected"
rejects policy-test.json policies/tests/acme/typo.test.yaml "'expects' was unexpected"
# What the old export did: an absolute `$id` makes check-jsonschema fetch `common.json`.
mkdir -p "$work/with-id"
cp "$checkout"/schemas/*.json "$work/with-id/"
if offline "$check_jsonschema" --schemafile "$work/with-id/partner.json" partners/fabrikam.yaml >/dev/null 2>&1; then
  fail "control: the bundled schemas with an absolute \$id resolved offline (is the network really off?)"
fi
step "check-jsonschema validates offline with the exported schemas and rejects the typos"

# --- 2. yaml-language-server over LSP with the docs' settings ---------------------------------
settings=$(python3 - "$checkout/docs/editors.md" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
block = re.search(r'```json\n(\{\n  "yaml.schemas".*?)```', text, re.S).group(1)
print(json.dumps({"yaml": {"validate": True, "schemas": json.loads(block)["yaml.schemas"]}}))
PY
)
lsp() { # workspace settings file... : prints {file: [{line, message}]}
  local dir=$1 config=$2
  shift 2
  (cd "$dir" && offline python3 "$checkout/tests/e2e/lsp-diagnostics.py" . "$config" "$@" -- "$yaml_ls" --stdio) \
    || fail "yaml-language-server did not answer for $*"
}
diagnostics=$(lsp . "$settings" customers/contoso.yaml customers/typo.yaml partners/fabrikam.yaml \
  channelguard.yaml policies/tests/acme/fail.test.yaml policies/tests/acme/typo.test.yaml)
# A repository whose channelguard.yaml has an unknown key, and a modeline-only file.
other="$work/other"
mkdir -p "$other/customers"
cp -r .channelguard "$other/"
cp "$work/bad-config.yaml" "$other/channelguard.yaml"
{ echo '# yaml-language-server: $schema=../.channelguard/schemas/document.json'; cat customers/typo.yaml; } > "$other/customers/modeline.yaml"
sed 's/^kind: Customer/kind: Custmer/' "$other/customers/modeline.yaml" > "$other/customers/modeline-first.yaml"
other_diagnostics=$(lsp "$other" "$settings" channelguard.yaml)
starter="$work/starter-ws"
mkdir -p "$starter"
cp -r .channelguard "$starter/"
cp starter.yaml "$starter/channelguard.yaml"
starter_diagnostics=$(lsp "$starter" "$settings" channelguard.yaml)
modeline=$(lsp "$other" '{"yaml": {"validate": true}}' customers/modeline.yaml customers/modeline-first.yaml)
python3 - "$diagnostics" "$other_diagnostics" "$modeline" "$starter_diagnostics" <<'PY' || fail "yaml-language-server diagnostics: $diagnostics $other_diagnostics $modeline $starter_diagnostics"
import json, sys
got, other, modeline, starter = (json.loads(a) for a in sys.argv[1:])
assert starter["channelguard.yaml"] == [], starter  # `channelguard init`'s file as written
def only(found, line, text):
    assert len(found) == 1 and found[0]["line"] == line and text in found[0]["message"], found
for clean in ["customers/contoso.yaml", "partners/fabrikam.yaml", "channelguard.yaml",
              "policies/tests/acme/fail.test.yaml"]:
    assert got[clean] == [], (clean, got[clean])
only(got["customers/typo.yaml"], 13, "license")  # the second document of the file
line = next(i + 1 for i, l in enumerate(open("policies/tests/acme/typo.test.yaml")) if l.startswith("expects:"))
typo = got["policies/tests/acme/typo.test.yaml"]
assert any(d["line"] == line and "expects" in d["message"] for d in typo), typo
assert any("expect" in d["message"] for d in typo if d["line"] == 1), typo  # required `expect`
only(other["channelguard.yaml"], 2, "rule")
# The modeline reaches the first document only: a typo there is flagged, one in the second is not.
assert modeline["customers/modeline.yaml"] == [], modeline
assert any(d["line"] == 2 for d in modeline["customers/modeline-first.yaml"]), modeline
PY
step "yaml-language-server with the docs' yaml.schemas: the typo in the 2nd document is flagged on its line, and those in channelguard.yaml and a test case; valid files clean; a modeline reaches the 1st document only"
echo "checks took $(( $(date +%s) - started )) s after install"
