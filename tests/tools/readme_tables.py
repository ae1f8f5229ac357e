# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The README's table of role variables, generated from the roles' argument specs (the source
``ansible-doc -t role`` reads), so that no variable goes undocumented and no default drifts.

    python tests/tools/readme_tables.py           # exit 1 and show the difference when the README is stale
    python tests/tools/readme_tables.py --write   # rewrite the table in README.md (make readme)
"""

import difflib
import glob
import os
import re
import sys

import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BEGIN = "<!-- role variables: generated from roles/*/meta/argument_specs.yml by `make readme`; do not edit -->"
END = "<!-- end of role variables -->"
# variables every role takes for the same reason: described once, above the table
SHARED = ("sitevpn_tunnels", "sitevpn_topologies", "sitevpn_allow_weak_crypto", "sitevpn_own_ike_sa")
ROLE_ORDER = ("install", "firewall", "keys", "tunnel", "diagnose")


def _text(description):
    text = " ".join(description) if isinstance(description, list) else str(description or "")
    text = re.sub(r"[COVP]\(([^)]*)\)", r"`\1`", text)           # Ansible's markup to Markdown
    return text.replace("|", "\\|").strip()


def _default(option):
    if "default" not in option:
        return "required" if option.get("required") else "—"
    value = option["default"]
    if isinstance(value, bool):
        return "`%s`" % str(value).lower()
    if value in ([], {}, ""):
        return "`%s`" % ("[]" if value == [] else "{}" if value == {} else '""')
    return "`%s`" % (value,)


def render():
    rows = ["| variable | role | default | meaning |", "|---|---|---|---|"]
    seen = set()
    roles = sorted(glob.glob(os.path.join(REPO, "roles", "*", "meta", "argument_specs.yml")),
                   key=lambda p: ROLE_ORDER.index(p.split(os.sep)[-3]) if p.split(os.sep)[-3] in ROLE_ORDER else 99)
    for path in roles:
        role = path.split(os.sep)[-3]
        with open(path) as handle:
            options = yaml.safe_load(handle)["argument_specs"]["main"].get("options") or {}
        for name in sorted(options):
            if name in SHARED or name in seen:
                continue
            seen.add(name)
            option = options[name]
            choices = option.get("choices")
            meaning = _text(option.get("description"))
            if choices:
                meaning += " One of %s." % ", ".join("`%s`" % c for c in choices)
            rows.append("| `%s` | %s | %s | %s |" % (name, role, _default(option), meaning))
    return "\n".join([BEGIN] + rows + [END])


def current(readme):
    match = re.search(re.escape(BEGIN) + r".*?" + re.escape(END), readme, re.S)
    return match.group(0) if match else None


def main(argv):
    path = os.path.join(REPO, "README.md")
    with open(path) as handle:
        readme = handle.read()
    wanted, have = render(), current(readme)
    if "--write" in argv:
        if have is None:
            sys.exit("README.md has no %s ... %s block to fill" % (BEGIN, END))
        with open(path, "w") as handle:
            handle.write(readme.replace(have, wanted))
        return 0
    if have != wanted:
        sys.stdout.writelines(difflib.unified_diff((have or "").splitlines(True), wanted.splitlines(True),
                                                   "README.md", "generated"))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
