# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: tunnel_report
short_description: One status line per tunnel a gateway initiates - what this run proved and what it could not
version_added: 0.2.0
description:
  - For every present tunnel whose initiator is this gateway, one sentence - whether its Child SAs are installed
    (their pluto serials), what the run did to it, and whether traffic was proven to cross it encrypted (the
    probe's ping answered and the ESP counters rose) or why that could not be shown (no C(probe), C(auto) not
    C(start), check mode, a failure).
  - The peer of each tunnel reports nothing for it, so a run prints each tunnel once.
positional: host, established, probes, proof
options:
  _input:
    description: This gateway's tunnels (output of P(sitevpn.ipsec.host_tunnels#filter), with or without secrets).
    type: list
    elements: dict
    required: true
  host:
    description: The gateway (C(inventory_hostname)).
    type: str
    required: true
  established:
    description: C(tunnels) returned by M(sitevpn.ipsec.conns) with O(sitevpn.ipsec.conns#module:establish=true).
    type: dict
    required: true
  probes:
    description: This gateway's probes (output of P(sitevpn.ipsec.host_probes#filter)).
    type: list
    elements: dict
    default: []
  proof:
    description: The result of P(sitevpn.ipsec.proof#filter), when probes ran.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: One line per tunnel
  ansible.builtin.debug:
    msg: "{{ tunnels | sitevpn.ipsec.tunnel_report(inventory_hostname, established.tunnels, probes, proof) }}"
"""

RETURN = r"""
_value:
  description: One sentence per tunnel this gateway initiates, in the order of the tunnels.
  type: list
  elements: str
"""


def tunnel_report(tunnels, host, established, probes=None, proof=None):
    established = established or {}
    probes = dict((p["tunnel"], p) for p in probes or [])
    proven = (proof or {}).get("tunnels") or {}
    failed = set((proof or {}).get("failed_tunnels") or [])
    lines = []
    for tunnel in tunnels or []:
        if tunnel.get("state", "present") == "absent" or tunnel.get("initiator", "left") != tunnel.get("local"):
            continue
        name = tunnel["name"]
        result = established.get(name) or {}
        serials = ", ".join("#%s" % sa["serial"] for sa in result.get("child_sas") or [] if "serial" in sa)
        action = result.get("action", "unchanged")
        if result.get("established"):
            state = "up, Child SA %s (%s)" % (serials or "installed", action)
        elif action == "would_establish":
            state = "would be brought up (check mode)"
        elif tunnel.get("auto", "start") != "start":
            state = "loaded, not brought up (auto=%s)" % tunnel.get("auto")
        else:
            state = "NOT up (%s)" % action
        if name in proven:
            numbers = proven[name]
            if name in failed:
                evidence = "NOT proven: see the failure below"
            else:
                evidence = "proven: %s -> %s answered, ESP bytes %d -> %d" % (
                    probes[name]["from"], probes[name]["address"], numbers["bytes_before"], numbers["bytes_after"])
        elif name in probes:
            evidence = "not proven in this run (sitevpn_prove is off, or the run stopped before the probes)"
        else:
            evidence = ("not proven: it has no probe (add probe: {from: <a LAN host behind %s>, to: <a host or "
                        "address behind the peer>} to prove that traffic crosses it encrypted)" % host)
        lines.append("tunnel %s: %s; %s" % (name, state, evidence))
    return lines


class FilterModule(object):
    def filters(self):
        return {"tunnel_report": tunnel_report}
