# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: proof
short_description: Did the probe pings cross their tunnels encrypted?
version_added: 0.1.0
description:
  - Given the probes, the ping results, and the tunnels' SA counters before and after the pings, says per
    tunnel whether the pings were answered and the ESP byte counters rose (traffic crossed the SA).
positional: pings, before, after
options:
  _input:
    description: Probes (output of P(sitevpn.ipsec.host_probes#filter)).
    type: list
    elements: dict
    required: true
  pings:
    description: Results of the ping task (its C(results) list).
    type: list
    elements: dict
    required: true
  before:
    description: C(tunnels) returned by M(sitevpn.ipsec.conns) with O(sitevpn.ipsec.conns#module:establish=true).
    type: dict
    required: true
  after:
    description: C(sas) returned by M(sitevpn.ipsec.status_info).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the proof
  ansible.builtin.assert:
    that: (probes | sitevpn.ipsec.proof(pings.results, established.tunnels, after.sas)).failures | length == 0
"""

RETURN = r"""
_value:
  description: C(failures) and C(summary) (lists of sentences), C(tunnels) (per tunnel numbers), C(failed_tunnels) (names).
  type: dict
"""


def _bytes(sas):
    return sum(int(sa.get("in_bytes", 0)) + int(sa.get("out_bytes", 0)) for sa in sas)


def proof(probes, pings, before, after):
    lost = set()          # (probe host, address) pairs that got no answer
    broken_hosts = set()  # probe hosts whose ping task failed altogether
    for result in pings or []:
        item = result.get("item") or ["?"]
        source = item[0]
        for line in (result.get("stdout") or "").splitlines():
            if line.startswith("LOST "):
                lost.add((source, line.split()[1]))
        if result.get("rc", 0) not in (0, None) or result.get("unreachable"):
            broken_hosts.add(source)
    failures, summary, tunnels, failed = [], [], {}, []
    for probe in probes:
        name = probe["tunnel"]
        was = _bytes((before.get(name) or {}).get("child_sas") or [])
        now = _bytes([sa for sa in after or [] if sa.get("base_name", sa.get("name")) == name
                      or sa.get("name") == name])
        ok_ping = (probe["from"], probe["address"]) not in lost and probe["from"] not in broken_hosts
        tunnels[name] = {"ping": ok_ping, "bytes_before": was, "bytes_after": now}
        if not ok_ping or now <= was:
            failed.append(name)
        if not ok_ping:
            failures.append("tunnel %s: %s could not ping %s across it (check forwarding on both gateways, the routes "
                            "of the LAN hosts toward their gateway, and any filter between them)"
                            % (name, probe["from"], probe["address"]))
        elif now <= was:
            failures.append("tunnel %s: %s reached %s but the SA counters did not rise (%d -> %d bytes): the "
                            "traffic went around the tunnel, in clear" % (name, probe["from"], probe["address"], was, now))
        else:
            summary.append("tunnel %s: %s -> %s answered, ESP bytes %d -> %d"
                           % (name, probe["from"], probe["address"], was, now))
    return {"failures": failures, "summary": summary, "tunnels": tunnels, "failed_tunnels": failed}


class FilterModule(object):
    def filters(self):
        return {"proof": proof}
