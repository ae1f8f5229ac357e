#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: status_info
short_description: What IPsec software a host has and what it is doing - one cheap probe
version_added: 0.1.0
description:
  - Reports whether Libreswan is installed and which version, whether pluto runs, the systemd state of the
    C(ipsec) service, the OS family, whether the NSS database exists, the loaded connections and the
    established SAs with their byte counters, and traces of an old Openswan install.
  - Never fails because IPsec is missing - RV(installed) is then V(false) - so an install role can run it first
    and decide what to do.
  - Runs at most C(ipsec --version), C(ipsec status), C(ipsec trafficstatus) and two C(systemctl) queries;
    everything else is read from files.
author:
  - sitevpn maintainers (@sitevpn)
extends_documentation_fragment:
  - sitevpn.ipsec.attributes
  - sitevpn.ipsec.attributes.read_only
options:
  connections:
    description: Only report these connections (and their sub-connections C(NAME/1x1) ...) in RV(connections) and RV(sas).
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Probe the gateway
  sitevpn.ipsec.status_info:
  register: ipsec

- name: Install Libreswan where it is missing
  ansible.builtin.package:
    name: libreswan
  when: not ipsec.installed

- name: Is our tunnel up?
  sitevpn.ipsec.status_info:
    connections: [net-to-net]
  register: probe
  failed_when: not probe.connections['net-to-net'].established | default(false)
"""

RETURN = r"""
installed:
  description: Whether an C(ipsec) command was found (Libreswan, Openswan or strongSwan - see C(product) in RV(version)).
  returned: always
  type: bool
version:
  description: C(ipsec --version) parsed - C(product), C(version), C(major), C(minor), C(kernel), C(raw). V(null) when not installed.
  returned: always
  type: dict
  sample: {product: libreswan, version: "4.10", major: 4, minor: 10}
pluto_running:
  description: Whether C(ipsec status) reached pluto.
  returned: always
  type: bool
service:
  description: C(systemctl is-active ipsec) / C(is-enabled ipsec) as printed (V(null) each without systemd).
  returned: always
  type: dict
  sample: {active: active, enabled: disabled, systemd: true}
os:
  description: From C(/etc/os-release) - C(id), C(version_id), C(id_like) (list), C(os_family) (V(Debian), V(RedHat) or V(null)).
  returned: always
  type: dict
  sample: {id: debian, version_id: "12", id_like: [], os_family: Debian}
nss_initialized:
  description: Whether Libreswan's NSS database (C(cert9.db)) exists in the directory pluto reports, or the usual ones.
  returned: always
  type: bool
nssdir:
  description: The NSS directory that was looked at (pluto's C(nssdir=) when it runs).
  returned: always
  type: str
connections:
  description: Loaded connections - name (instances as C(name[N])) to C(routing), C(oriented), C(established), C(ike_version).
  returned: always
  type: dict
  sample: {net-to-net: {routing: erouted, oriented: true, established: true, ike_version: 2}}
sas:
  description: C(ipsec trafficstatus) - one entry per Child SA with C(serial), C(name), C(in_bytes), C(out_bytes), C(id) ...
  returned: always
  type: list
  elements: dict
openswan:
  description: >-
    Traces of Openswan - C(detected) and C(reasons) (version string, Openswan C(RSA) key blocks in
    C(/etc/ipsec.secrets), KLIPS C(/proc/net/ipsec_*)).
  returned: always
  type: dict
commands:
  description: Every argv that ran.
  returned: always
  type: list
  elements: dict
"""

import glob
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sitevpn.ipsec.plugins.module_utils import ipsec_output
from ansible_collections.sitevpn.ipsec.plugins.module_utils._files import os_release
from ansible_collections.sitevpn.ipsec.plugins.module_utils._runner import IpsecRunner

# Files read. ROOT is "/" on a host; unit tests point it at a temporary directory.
ROOT = "/"
OS_RELEASE = "/etc/os-release"
IPSEC_SECRETS = "/etc/ipsec.secrets"
PROC_NET = "/proc/net"
NSS_DIRS = ("/var/lib/ipsec/nss", "/etc/ipsec.d")
RUN_SYSTEMD = "/run/systemd/system"

_NSSDIR_RE = re.compile(r'\bnssdir=([^,\s]+)')
_RSA_BLOCK_RE = re.compile(r'^\s*[^#\n]*:\s*RSA\s*\{', re.M)


def _host(path):
    """*path* under ROOT."""
    return os.path.join(ROOT, path.lstrip("/"))


def _read(path):
    try:
        with open(_host(path)) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def os_info(text):
    values, family = os_release(text)
    return {"id": values.get("ID"), "version_id": values.get("VERSION_ID"),
            "id_like": values.get("ID_LIKE", "").split(), "os_family": family}


def openswan_traces(version):
    reasons = []
    if version and version.get("product") == "openswan":
        reasons.append("ipsec --version: %s" % version.get("raw"))
    secrets = _read(IPSEC_SECRETS)
    if secrets and _RSA_BLOCK_RE.search(secrets):
        reasons.append("%s holds ': RSA {' key blocks (Openswan; Libreswan ignores them)" % IPSEC_SECRETS)
    klips = sorted(os.path.basename(path) for path in glob.glob(_host(os.path.join(PROC_NET, "ipsec_*"))))
    if klips:
        reasons.append("KLIPS kernel stack: %s" % ", ".join(os.path.join(PROC_NET, name) for name in klips))
    return {"detected": bool(reasons), "reasons": reasons}


def nss_state(status_lines):
    dirs = []
    for line in status_lines:
        match = _NSSDIR_RE.search(line)
        if match:
            dirs.append(match.group(1))
            break
    for directory in dirs + [d for d in NSS_DIRS if d not in dirs]:
        if any(os.path.exists(_host(os.path.join(directory, db))) for db in ("cert9.db", "cert8.db")):
            return True, directory
    return False, dirs[0] if dirs else NSS_DIRS[0]


def _wanted(name, only):
    return only is None or any(name == n or name.startswith(n + "/") or name.startswith(n + "[") for n in only)


def main():
    module = AnsibleModule(
        argument_spec=dict(connections=dict(type="list", elements="str")),
        supports_check_mode=True,
    )
    only = module.params["connections"]
    result = dict(changed=False, installed=False, version=None, pluto_running=False, connections={}, sas=[],
                  os=os_info(_read(OS_RELEASE)))
    binary = module.get_bin_path("ipsec", required=False, opt_dirs=["/usr/sbin", "/usr/local/sbin", "/sbin"])
    runner = IpsecRunner(module, binary=binary or "ipsec")
    status_lines = []
    if binary:
        result["installed"] = True
        result["version"] = runner.version
        if runner.version.get("product") in ("libreswan", "openswan", None):
            status = runner.verb("status", mutating=False)
            error = ipsec_output.detect_error(status.text)
            result["pluto_running"] = status.rc == 0 and not (error and error["kind"] == "not_loaded")
            if result["pluto_running"]:
                parsed = ipsec_output.parse_status(status.text)
                status_lines = parsed["lines"]
                children = ipsec_output.established_children(parsed, instances=True)
                for key, conn in sorted(parsed["connections"].items()):
                    if _wanted(key, only):
                        result["connections"][key] = {
                            "routing": conn["routing"], "oriented": conn["oriented"],
                            "established": key in children, "ike_version": conn["ike_version"]}
                for sa in runner.traffic():
                    if _wanted(sa["name"], only):
                        sa = dict(sa)
                        sa.pop("line", None)
                        result["sas"].append(sa)
    result["nss_initialized"], result["nssdir"] = nss_state(status_lines)
    service = {"active": None, "enabled": None, "systemd": False}
    active = runner.optional_command("systemctl", ["is-active", "ipsec"])
    if active is not None:
        enabled = runner.optional_command("systemctl", ["is-enabled", "ipsec"])
        service = {"active": active.out.strip() or None, "enabled": enabled.out.strip() or None,
                   "systemd": os.path.isdir(_host(RUN_SYSTEMD))}
    result["service"] = service
    result["openswan"] = openswan_traces(result["version"])
    result["commands"] = runner.commands
    module.exit_json(**result)


if __name__ == "__main__":
    main()
