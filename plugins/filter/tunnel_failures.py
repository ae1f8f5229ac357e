# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: tunnel_failures
short_description: What failed on one gateway, per tunnel, from the tunnel role's steps
version_added: 0.1.0
description:
  - Takes the registered results of the load step, the establish step (both M(sitevpn.ipsec.conns)) and the
    judged proof (P(sitevpn.ipsec.proof#filter)), and returns one entry per failed tunnel.
positional: host
options:
  _input:
    description: "[load result, establish result, proof]; missing steps as empty dicts."
    type: list
    elements: dict
    required: true
  host:
    description: The gateway, named in the messages.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Collect failures
  ansible.builtin.set_fact:
    failures: "{{ [loaded, established, proof] | sitevpn.ipsec.tunnel_failures(inventory_hostname) }}"
"""

RETURN = r"""
_value:
  description: C({tunnel, stage, message}) per failed tunnel; stage is C(load), C(establish) or C(proof).
  type: list
  elements: dict
"""


def tunnel_failures(steps, host):
    loaded, established, proof = (list(steps) + [{}, {}, {}])[:3]
    found = []
    # the steps run with on_failure=report: a failure is a `failure` dict, not a failed task
    loaded_failure = (loaded or {}).get("failure")
    if loaded_failure:
        names = [loaded_failure["tunnel"]] if loaded_failure.get("tunnel") else loaded.get("changed_tunnels") or ["(all)"]
        for name in names:
            found.append({"tunnel": name, "stage": "load", "message": "%s: %s" % (host, loaded_failure.get("msg"))})
    if established and established.get("failure"):
        failed = established.get("failed_tunnels") or {}
        if not failed:
            found.append({"tunnel": "(all)", "stage": "establish",
                          "message": "%s: %s" % (host, established["failure"].get("msg"))})
        for name, why in sorted(failed.items()):
            found.append({"tunnel": name, "stage": "establish", "message": "%s: tunnel %s did not come up: %s (%s). %s"
                          % (host, name, why.get("kind"), why.get("line"), why.get("remedy"))})
    for name in (proof or {}).get("failed_tunnels", []):
        reason = [f for f in proof.get("failures", []) if f.startswith("tunnel %s:" % name)]
        found.append({"tunnel": name, "stage": "proof", "message": "%s: %s" % (host, reason[0] if reason else name)})
    return found


class FilterModule(object):
    def filters(self):
        return {"tunnel_failures": tunnel_failures}
