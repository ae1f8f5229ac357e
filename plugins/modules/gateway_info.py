#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gateway_info
short_description: Whether the install, firewall, host key and load steps would change a gateway, in one call
version_added: 0.1.0
description:
  - Runs what M(sitevpn.ipsec.libreswan), M(sitevpn.ipsec.firewall), M(sitevpn.ipsec.hostkey) and
    M(sitevpn.ipsec.conns) (loading, not establishing) check, in check mode, in one process on the gateway, and
    says for each step whether it would change anything. The same code decides as in those modules, so drift
    on the gateway counts - forwarding turned off, a rule flushed, pluto stopped, a conn file or config setup
    edited - not only changed options.
  - Why - every module call costs a Python start on the gateway (about 1 s on a slow one). The
    C(sitevpn.ipsec.site_to_site) playbook calls this module first and runs each of the four steps only where it
    would change something, so a rerun with nothing to do makes one call instead of four.
  - When the host key step would change nothing, the fact C(sitevpn_hostkey) is set exactly as
    M(sitevpn.ipsec.hostkey) sets it, so the peer can read the public key without that module running.
  - A step that cannot be checked (Libreswan not installed yet, a check that fails) is reported as one that
    would change - the step itself then runs and says what is wrong.
author:
  - sitevpn maintainers (@sitevpn)
extends_documentation_fragment:
  - sitevpn.ipsec.attributes
  - sitevpn.ipsec.attributes.read_only
options:
  install:
    description: The options of M(sitevpn.ipsec.libreswan); the step is not checked when omitted.
    type: dict
  firewall:
    description: The options of M(sitevpn.ipsec.firewall) (its C(state) must be V(present)); the step is not
      checked when omitted.
    type: dict
  hostkey:
    description: The options of M(sitevpn.ipsec.hostkey); the step is not checked when omitted.
    type: dict
  conns:
    description:
      - The options of M(sitevpn.ipsec.conns) without O(sitevpn.ipsec.conns#module:establish) (the load step);
        the step is not checked when omitted.
      - RSA public keys not given in the tunnels (the keys step has not published them yet) are taken from the
        conn files on the gateway and returned in RV(steps.conns) (C(pubkeys)); the caller must compare them with
        the real keys before it lets this check stand for the step (the site_to_site playbook does).
      - Tunnels with a PSK or a certificate are not checked (their secrets are known only after the keys step).
    type: dict
notes:
  - The host key is checked only when the install step would change nothing (before Libreswan is installed
    there is no key to read); the conns only when the install, firewall and host key steps would change nothing.
  - A check that fails for any reason counts as one that would change; the step runs and says what is wrong.
"""

EXAMPLES = r"""
- name: What the next steps would change
  sitevpn.ipsec.gateway_info:
    install: {package: libreswan}
    firewall: {tunnels: "{{ my_tunnels }}"}
    hostkey: {bits: 3072}
  register: gateway

- name: Install only where something is missing
  sitevpn.ipsec.libreswan:
  when: gateway.steps.install.would_change
"""

RETURN = r"""
steps:
  description: Per step checked (C(install), C(firewall), C(hostkey), C(conns)) - C(would_change) (would the step
    change the gateway), C(changes) (what it would change, as the step's own module lists it) and C(error) (why
    the step could not be checked; it then counts as one that would change).
  returned: always
  type: dict
  sample: {"install": {"would_change": false, "changes": []}, "firewall": {"would_change": true, "changes": ["rules"]}}
  contains:
    conns:
      description:
        - C(pubkeys) - the RSA public keys the check used, per side, in the order of the tunnels (V(null) where
          none) - the given ones, or those of the conn files on disk.
        - C(loaded) - what M(sitevpn.ipsec.conns) would return without establish (C(changed), C(changed_tunnels),
          C(ready), C(tunnels) with their Child SAs and counters, C(commands)).
      returned: when the conns were checked
      type: dict
ansible_facts:
  description: C(sitevpn_hostkey) when the host key step would change nothing (see M(sitevpn.ipsec.hostkey)).
  returned: when the host key was checked and would not change
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _conn, _firewall_host, _gateway, _hostkey, _install
from ansible_collections.sitevpn.ipsec.plugins.module_utils._files import read
from ansible_collections.sitevpn.ipsec.plugins.module_utils._gateway import Gateway, summary
from ansible_collections.sitevpn.ipsec.plugins.module_utils._runner import IpsecError, IpsecRunner


# where the steps' code lives: the unit tests patch its paths there (tests/unit/plugins/modules/helper.py)
_IMPLEMENTATION = (_install, _firewall_host, _hostkey, _gateway, _conn)


class StepFailed(Exception):
    """A step's check ended in its fail_json: the step is left to run and report it."""


class CheckView(object):
    """The module as one step's code sees it: that step's options, check mode on, its own warnings.

    The steps' code calls ``module.params``, ``module.check_mode``, ``run_command``, ``get_bin_path``,
    ``warn`` and ``fail_json``; all but ``run_command`` are the view's own, so no step ends the whole call.
    """

    def __init__(self, module: AnsibleModule, params: dict) -> None:
        self._module = module
        self.params = params
        self.check_mode = True
        self._diff = False
        self.warnings = []

    def __getattr__(self, name: str):
        return getattr(self._module, name)

    def get_bin_path(self, arg: str, required: bool = False, opt_dirs=None):
        # the real module's would fail the whole call for a program one step needs
        path = self._module.get_bin_path(arg, required=False, opt_dirs=opt_dirs)
        if required and not path:
            raise StepFailed("cannot find the program %s" % arg)
        return path

    def warn(self, warning: str) -> None:
        self.warnings.append(warning)

    def fail_json(self, msg: str, **kwargs) -> None:
        raise StepFailed(msg)

    def exit_json(self, **kwargs) -> None:
        raise StepFailed("the check ended early")


def _hostkey_check(view: CheckView) -> dict:
    problem = _hostkey.check_bits(view.params["bits"])
    if problem:
        raise StepFailed(problem)
    try:
        return _hostkey.ensure_hostkey(view, IpsecRunner(view))
    except IpsecError as exc:
        raise StepFailed(exc.msg)


def _assume_keys_on_disk(tunnels: list) -> dict:
    """Fill the RSA public keys not known yet with the ones the conn files on disk name; the keys used.

    Before the keys step has run, neither end's public key is known on the controller; the conns as the last
    run wrote them hold both. The caller compares the keys used here with the real ones after the keys step
    (``pubkeys``): only where they are equal does this check stand for the load step.
    """
    for tunnel in tunnels:
        if tunnel.get("auth") == "rsasig" and tunnel.get("state", "present") != "absent":
            on_disk = _conn.keys_in_conf(read(_conn.conf_path(tunnel["name"])))
            for side in ("left", "right"):
                if not tunnel[side].get("pubkey"):
                    tunnel[side]["pubkey"] = on_disk.get(side)
    return dict((side, [tunnel[side].get("pubkey") for tunnel in tunnels]) for side in ("left", "right"))


def _conns_check(view: CheckView) -> dict:
    tunnels = view.params["tunnels"]
    secret = [t["name"] for t in tunnels if t.get("auth") in ("psk", "cert") and t.get("state", "present") != "absent"]
    if secret:
        raise StepFailed("the PSKs and certificates of %s are known only after the keys step" % ", ".join(secret))
    pubkeys = _assume_keys_on_disk(tunnels)
    gateway = Gateway(view)
    try:
        removed = gateway.remove(tunnels, view.params["purge"])
        writes = gateway.plan(tunnels)
        gateway.load(tunnels, writes)      # check mode: reads what pluto has loaded, loads nothing
        would_change = bool(removed or writes or gateway.changed)
        ready = not would_change and gateway.ready(tunnels)
    except IpsecError as exc:
        raise StepFailed(exc.msg)
    return {"changed": would_change, "changes": sorted(set(gateway.changed) | set(writes)), "pubkeys": pubkeys,
            "loaded": summary(gateway, removed, ready)}


CHECKS = (
    ("install", _install.ARGUMENT_SPEC, _install.install),
    ("firewall", _firewall_host.ARGUMENT_SPEC, _firewall_host.apply),
    ("hostkey", _hostkey.ARGUMENT_SPEC, _hostkey_check),
    ("conns", _gateway.ARGUMENT_SPEC, _conns_check),
)
# steps checked only when these would change nothing: pluto must run; a new host key changes the conns, and
# the firewall step's routes can change what the conns say about _updown
NEEDS = {"hostkey": ("install",), "conns": ("install", "firewall", "hostkey")}


def check_step(module: AnsibleModule, spec: dict, check, options: dict) -> dict:
    """One step in check mode: ``{would_change, changes}`` (and ``error`` when it could not be checked)."""
    validated = ArgumentSpecValidator(spec).validate(options)
    if validated.error_messages:
        return {"would_change": True, "changes": [], "error": "; ".join(validated.error_messages)}
    view = CheckView(module, validated.validated_parameters)
    try:
        result = check(view)
    except StepFailed as exc:
        return {"would_change": True, "changes": [], "error": str(exc)}
    except Exception as exc:    # pylint: disable=broad-except
        # a check that breaks must not stop the run: the step itself runs and reports
        return {"would_change": True, "changes": [], "error": "the check failed: %s: %s" % (type(exc).__name__, exc)}
    step = {"would_change": bool(result.get("changed")), "changes": result.get("changes", []),
            "warnings": view.warnings}
    for extra in ("pubkeys", "loaded"):
        if extra in result:
            step[extra] = result[extra]
    if "ansible_facts" in result:
        step["ansible_facts"] = result["ansible_facts"]
    return step


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            install=dict(type="dict"),
            firewall=dict(type="dict"),
            hostkey=dict(type="dict", no_log=False),
            conns=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    for name in ("firewall", "conns"):
        if (module.params[name] or {}).get("state", "present") != "present":
            module.fail_json(msg="gateway_info checks the %s step with state present only" % name)
    if (module.params["conns"] or {}).get("establish"):
        module.fail_json(msg="gateway_info checks the conns step without establish")
    steps, facts = {}, {}
    for name, spec, check in CHECKS:
        if module.params[name] is None:
            continue
        first = [need for need in NEEDS.get(name, ()) if steps.get(need, {}).get("would_change")]
        if first:
            steps[name] = {"would_change": True, "changes": [], "error": "checked after the %s step" % first[0]}
            continue
        step = check_step(module, spec, check, module.params[name])
        warnings = step.pop("warnings", [])
        found = step.pop("ansible_facts", {})
        if not step["would_change"]:
            # the step will not run: its warnings and facts are this call's (one that runs has its own)
            for warning in warnings:
                module.warn(warning)
            facts.update(found)
        steps[name] = step
    result = {"changed": False, "steps": steps}
    if facts:
        result["ansible_facts"] = facts
    module.exit_json(**result)


if __name__ == "__main__":
    main()
