# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sitevpn.ipsec.plugins.module_utils.ipsec_output import parse_trafficstatus

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
    description:
      - The SA counters after the pings - the result of an C(ipsec trafficstatus) run by
        M(ansible.builtin.raw) (its C(stdout) is parsed here, on the controller), or the result of
        M(sitevpn.ipsec.status_info) or its C(sas).
      - The tunnel role reads them with C(raw) - no Python started in the gateway for one read-only command.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Read the SA counters after the pings
  ansible.builtin.raw: ipsec trafficstatus
  changed_when: false
  register: after

- name: Check the proof
  ansible.builtin.assert:
    that: (probes | sitevpn.ipsec.proof(pings.results, established.tunnels, after)).failures | length == 0
"""

RETURN = r"""
_value:
  description: C(failures) and C(summary) (lists of sentences), C(tunnels) (per tunnel numbers), C(failed_tunnels) (names).
  type: dict
"""


def _bytes(sas):
    return sum(int(sa.get("in_bytes", 0)) + int(sa.get("out_bytes", 0)) for sa in sas)


def _sas(after):
    """SA counters from a raw ``ipsec trafficstatus`` result (its stdout), a status_info result, or its ``sas``."""
    if isinstance(after, dict) and "sas" in after:
        return after["sas"]
    if isinstance(after, dict):
        # raw runs through a terminal: its CRLF line ends are the parser's to take (split_output)
        return parse_trafficstatus(after.get("stdout") or "")
    return after or []


def proof(probes, pings, before, after):
    after = _sas(after)
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
