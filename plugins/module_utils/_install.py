# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: what the ``libreswan`` module does - Libreswan installed (an Openswan installation removed
first when asked), ``/etc/ipsec.conf`` written (checked by Libreswan before it is put in place), the
``ipsec`` service enabled and running.

:func:`install` is the module's whole run on an ``AnsibleModule`` whose parameters follow
:data:`ARGUMENT_SPEC`; it returns the result instead of exiting, so another module can run it (in
check mode) in its own process.

Not a public API: names may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile
from typing import Any, Dict, List, Optional, Tuple

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _runner, ipsec_output
from ansible_collections.sitevpn.ipsec.plugins.module_utils._conn import MARKER
from ansible_collections.sitevpn.ipsec.plugins.module_utils._files import os_release, read

IPSEC_CONF = "/etc/ipsec.conf"
OS_RELEASE = "/etc/os-release"
OPENSWAN_SECRETS = "/etc/ipsec.secrets"
KLIPS_FILES = ("/proc/net/ipsec_eroute", "/proc/net/ipsec_spi")

#: the ``libreswan`` module's parameters (its DOCUMENTATION describes them)
ARGUMENT_SPEC = dict(
    package=dict(type="str", default="libreswan"),
    config_setup=dict(type="dict", default={}),
    manage_ipsec_conf=dict(type="bool", default=True),
    replace_openswan=dict(type="bool", default=False),
    state=dict(type="str", default="started", choices=["started", "installed"]),
)


def render_ipsec_conf(config_setup: Dict[str, Any]) -> str:
    lines = ["%s. `config setup` is global: changing it restarts pluto (all tunnels);" % MARKER,
             "# tunnels live in /etc/ipsec.d/*.conf and are reloaded one by one.", "config setup"]
    for key in sorted(config_setup):
        value = config_setup[key]
        if isinstance(value, bool):
            value = "yes" if value else "no"
        lines.append("    %s=%s" % (key, value))
    lines += ["", "include /etc/ipsec.d/*.conf"]
    return "\n".join(lines) + "\n"


class Installer(object):
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.changes: List[str] = []

    def run(self, argv: List[str], check: bool = True, env: Optional[Dict[str, str]] = None) -> Tuple[int, str, str]:
        rc, out, err = _runner.run_command(self.module, argv, dict({"LC_ALL": "C"}, **(env or {})))
        if check and rc != 0:
            self.module.fail_json(msg="%s failed (exit %d): %s" % (" ".join(argv), rc, (err or out).strip()[-2000:]))
        return rc, out, err

    def ipsec(self) -> Optional[str]:
        return self.module.get_bin_path("ipsec", opt_dirs=["/usr/sbin", "/usr/local/sbin"])

    def version(self) -> Dict[str, Any]:
        binary = self.ipsec()
        if not binary:
            return {}
        rc, out, err = self.run([binary, "--version"], check=False)
        return ipsec_output.parse_version(out + "\n" + err)

    def openswan_evidence(self, version: Dict[str, Any]) -> List[str]:
        found = []
        if version.get("product") == "openswan":
            found.append("`ipsec --version` says %s" % version.get("raw", "Openswan").strip())
        secrets = read(OPENSWAN_SECRETS) or ""
        if ": RSA {" in secrets or ":RSA {" in secrets:
            found.append("/etc/ipsec.secrets holds Openswan `: RSA {` private keys")
        for path in KLIPS_FILES:
            if os.path.exists(path):
                found.append("KLIPS kernel IPsec stack (%s)" % path)
        return found

    def packages(self, family: Optional[str], names: List[str], remove: bool = False) -> None:
        if family == "Debian":
            apt = self.module.get_bin_path("apt-get", required=True)
            env = {"DEBIAN_FRONTEND": "noninteractive"}
            verb = "purge" if remove else "install"
            argv = [apt, "-q", "-y", "-o", "DPkg::Lock::Timeout=120", verb] + names
            if not remove:
                # a stale package list makes install fail: refresh once, then install
                rc, out, err = self.run(argv, check=False, env=env)
                if rc == 0:
                    return
                self.run([apt, "-q", "-o", "DPkg::Lock::Timeout=120", "update"], env=env)
            self.run(argv, env=env)
        elif family == "RedHat":
            tool = self.module.get_bin_path("dnf") or self.module.get_bin_path("yum", required=True)
            self.run([tool, "-y", "remove" if remove else "install"] + names)
        else:
            self.module.fail_json(msg="do not know how to install %s on this OS (no Debian or RedHat family in "
                                      "/etc/os-release); install it yourself and run again" % " ".join(names))

    def systemctl(self, *args: str) -> int:
        systemctl = self.module.get_bin_path("systemctl", required=True)
        return self.run([systemctl] + list(args), check=False)[0]

    def enable(self, unit: str) -> None:
        """``systemctl enable`` without the reload of all of systemd's configuration it makes by itself (1.1 s
        in the lab's guests) where systemd has loaded the unit already - the package's own, as a rule; a unit
        systemd does not know yet is enabled with that reload."""
        systemctl = self.module.get_bin_path("systemctl", required=True)
        state = self.run([systemctl, "show", "--property=LoadState", "--value", unit], check=False)[1].strip()
        self.run([systemctl, "enable"] + (["--no-reload"] if state == "loaded" else []) + [unit])


def write_ipsec_conf(module: AnsibleModule, inst: Installer, config_setup: Dict[str, Any], result: Dict[str, Any]) -> bool:
    """Put *config_setup* in /etc/ipsec.conf if it differs (checked by Libreswan first); whether it differed.

    Records the change and its diff in *inst* and *result*; fails with *result* when Libreswan rejects it.
    """
    wanted = render_ipsec_conf(config_setup)
    current = read(IPSEC_CONF)
    if current == wanted:
        return False
    inst.changes.append(IPSEC_CONF)
    result["diff"] = {"before": current or "", "after": wanted, "before_header": IPSEC_CONF,
                      "after_header": IPSEC_CONF}
    if not module.check_mode:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(IPSEC_CONF), prefix=".ipsec.conf.")
        with os.fdopen(fd, "w") as handle:
            handle.write(wanted)
        os.chmod(tmp, 0o644)
        if inst.ipsec():
            rc, out, err = inst.run([inst.ipsec(), "addconn", "--checkconfig", "--config", tmp], check=False)
            if rc != 0 or err.strip():
                os.unlink(tmp)
                module.fail_json(msg="the new config setup is rejected by Libreswan (nothing changed): %s"
                                     % (err or out).strip(), **result)
        os.rename(tmp, IPSEC_CONF)
    return True


def install(module: AnsibleModule) -> Dict[str, Any]:
    """The ``libreswan`` module's run on *module* (parameters as :data:`ARGUMENT_SPEC`): its result, for
    ``exit_json``. Fails through ``module.fail_json``; in check mode, changes nothing."""
    params = module.params
    inst = Installer(module)
    release, family = os_release(read(OS_RELEASE))
    version = inst.version()
    result = dict(os_family=family, os=release.get("PRETTY_NAME"), installed=False, service={}, diff={})

    evidence = inst.openswan_evidence(version)
    if evidence:
        result["openswan"] = evidence
        if not params["replace_openswan"]:
            module.fail_json(msg="An Openswan installation is on this host (%s). Libreswan replaces it: set "
                                 "sitevpn_replace_openswan: true to remove Openswan first (its tunnels stop; its "
                                 "RSA keys in /etc/ipsec.secrets are not migrated, new ones are made in NSS)."
                                 % "; ".join(evidence), **result)
        inst.changes.append("openswan removed")
        if not module.check_mode:
            inst.packages(family, ["openswan"], remove=True)
            version = inst.version()

    if version.get("product") != "libreswan":
        inst.changes.append("installed")
        result["installed"] = True
        if not module.check_mode:
            inst.packages(family, [params["package"]])
            version = inst.version()
            if version.get("product") != "libreswan":
                module.fail_json(msg="installed %s, but `ipsec --version` does not report Libreswan: %s"
                                     % (params["package"], version.get("raw")), **result)

    conf_changed = False
    if params["manage_ipsec_conf"]:
        conf_changed = write_ipsec_conf(module, inst, params["config_setup"], result)

    if params["state"] == "started":
        enabled = inst.systemctl("is-enabled", "--quiet", "ipsec") == 0
        active = inst.systemctl("is-active", "--quiet", "ipsec") == 0
        if not enabled:
            inst.changes.append("enabled")
            result["service"]["enabled_now"] = True
            if not module.check_mode:
                inst.enable("ipsec")
        if not active:
            inst.changes.append("started")
            result["service"]["action"] = "started"
            if not module.check_mode:
                inst.run([module.get_bin_path("systemctl", required=True), "start", "ipsec"])
        elif conf_changed:
            # config setup is global: the only change that needs pluto restarted
            inst.changes.append("restarted")
            result["service"]["action"] = "restarted"
            if not module.check_mode:
                inst.run([module.get_bin_path("systemctl", required=True), "restart", "ipsec"])
        result["service"]["active"] = module.check_mode or inst.systemctl("is-active", "--quiet", "ipsec") == 0

    result["version"] = version.get("version")
    result["changed"] = bool(inst.changes)
    result["changes"] = inst.changes
    if not module._diff:
        result.pop("diff")
    return result
