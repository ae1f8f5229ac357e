# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: diagnosis
short_description: Judge both ends of every tunnel from what the diagnose read, and say what is wrong
version_added: 0.1.0
description:
  - Combines, per tunnel, the facts M(sitevpn.ipsec.diagnose_info) read on both of its gateways, the wire
    captures taken while the probe pings crossed, and the pings themselves, into one verdict per tunnel -
    V(OK), V(DEGRADED) (traffic crosses, but something is wrong or at risk), V(DOWN) (traffic does not cross)
    or V(UNKNOWN) (a gateway could not be read) - with the one-line cause, every finding with its remedy, and
    the evidence of every check.
  - The causes it names, most decisive first - C(gateway not read), C(Libreswan not installed),
    C(pluto stopped), C(conn not loaded), C(wrong key), C(no common proposal), C(traffic selectors refused),
    C(UDP 500 blocked), C(ESP blocked), C(no answer from the peer), C(forwarding off),
    C(NAT exemption missing), C(forwarded traffic dropped), C(traffic leaves in clear),
    C(traffic bypasses the tunnel), C(route toward the remote subnet), C(ESP lost on the way), C(probe not answered),
    C(tunnel not up); and, for a tunnel that works, C(UDP 4500 blocked), C(half up),
    C(pluto not listening), C(MTU black hole), C(ipsec verify).
  - Pure - reads only its arguments; the P(sitevpn.ipsec.diagnose#role) role registers the facts under the
    names it reads (C(__sitevpn_diagnose_checks), C(__sitevpn_diagnose_capture), C(__sitevpn_diagnose_pings)).
positional: hostvars, gateways
options:
  _input:
    description: The C(sitevpn_tunnels) list (C(sitevpn_topologies) of the first gateway are expanded too).
    type: list
    elements: dict
    required: true
  hostvars:
    description: C(hostvars) - the registered facts of each gateway, the peers' addresses and the probe targets.
    type: dict
    required: true
  gateways:
    description: The gateways of the play (C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  generated:
    description: When the facts were read, printed in the report.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Judge every tunnel
  ansible.builtin.set_fact:
    diagnosis: "{{ sitevpn_tunnels | sitevpn.ipsec.diagnosis(hostvars, ansible_play_hosts_all) }}"
  run_once: true

- name: One line per tunnel
  ansible.builtin.debug:
    msg: "{{ diagnosis.tunnels | map(attribute='line') | list }}"
  run_once: true
"""

RETURN = r"""
_value:
  description:
    - C(summary) - counts of tunnels per verdict and of findings.
    - C(tunnels) - per tunnel C(name), C(verdict), C(cause) (one line), C(line) (name, verdict and cause),
      C(left)/C(right) (C(host), C(address), C(subnets), C(managed)), C(initiator), C(auth), C(findings)
      (C(cause), C(severity) down/degraded, C(gateway), C(remedy), C(evidence)), C(checks) (C(check),
      C(gateway), C(status) ok/warn/fail/skip, C(summary), C(evidence)), C(probe).
    - C(findings) - every finding of every tunnel, with C(tunnel).
    - C(gateways) - per gateway what was read (reachable, pluto, version, forwarding, firewall backends, log
      source, verify failures, site, subnets, probe hosts).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _model
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._evidence import (
    CAPTURE_VAR, CHECKS_VAR, PINGS_VAR, _capture, _gateway_facts, _gateway_summary, _ping_results, _probes, _side,
    wire_evidence)
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._judgements import _Tunnel, _judge

# The filter's names, and those moved to plugin_utils/_evidence.py that callers (and tests) take from here.
__all__ = ["CAPTURE_VAR", "CAUSES", "CHECKS_VAR", "PINGS_VAR", "VERDICTS", "FilterModule", "diagnosis", "wire_evidence"]

VERDICTS = ("OK", "DEGRADED", "DOWN", "UNKNOWN")

# Causes, most decisive first: the first finding of a tunnel in this order is its one-line cause.
CAUSES = (
    "gateway not read", "Libreswan not installed", "pluto stopped", "conn not loaded", "certificate revoked",
    "certificate expired", "unknown CA", "certificate ID mismatch", "certificate refused", "wrong key",
    "no common proposal", "traffic selectors refused", "UDP 500 blocked", "ESP blocked",
    "no answer from the peer", "forwarding off", "NAT exemption missing", "forwarded traffic dropped",
    "traffic leaves in clear", "traffic bypasses the tunnel", "route toward the remote subnet",
    "pluto not listening", "ESP lost on the way", "probe not answered", "tunnel not up", "UDP 4500 blocked", "half up",
    "MTU black hole", "ipsec verify",
)
_CAUSE_RANK = dict((cause, rank) for rank, cause in enumerate(CAUSES))


def _verdict(t, readable_all, up_all):
    severities = [f["severity"] for f in t.findings]
    if "down" in severities:
        return "DOWN"
    if "unknown" in severities:
        return "UNKNOWN"
    if severities:
        return "DEGRADED"
    if not readable_all:
        return "UNKNOWN"
    return "OK" if up_all else "DOWN"


def diagnosis(tunnels, hostvars, gateways, generated=""):
    try:
        topologies = _model._hostvar(hostvars, gateways[0], "sitevpn_topologies") if gateways else None
        normalized, _warnings = _model.normalize(tunnels or [], hostvars, allow_weak=True, topologies=topologies)
    except _model.ModelError as exc:
        raise AnsibleFilterError(exc.message)
    probes = _probes(normalized, hostvars)
    facts_by_host = {}
    for host in gateways:
        facts_by_host[host] = _gateway_facts(hostvars, host)
    pings = {}
    for host in gateways:
        pings.update(_ping_results(hostvars, host))
    report = {"generated": generated, "tunnels": [], "findings": [], "gateways": {}}
    for host in gateways:
        facts, why = facts_by_host[host]
        report["gateways"][host] = _gateway_summary(host, facts, why, hostvars)
    for tunnel in normalized:
        if tunnel["state"] != "present":
            continue
        ends = []
        for side in ("left", "right"):
            end = _side(tunnel, side)
            facts, why, tf, capture = None, None, None, None
            if end["managed"]:
                if end["host"] not in facts_by_host:
                    facts, why = None, "%s is not in the play" % end["host"]
                else:
                    facts, why = facts_by_host[end["host"]]
                if facts is not None:
                    tf = (facts.get("tunnels") or {}).get(tunnel["name"]) or {}
                    capture = _capture(hostvars, end["host"])
            ends.append((side, end, facts, why, tf, capture))
        t = _Tunnel(tunnel)
        probe_result = _judge(tunnel, ends, probes.get(tunnel["name"]), pings, t)
        managed = [e for e in ends if e[1]["managed"]]
        readable_all = all(e[2] is not None for e in managed)
        up_all = readable_all and all((e[4] or {}).get("child_sa") for e in managed)
        t.findings.sort(key=lambda f: (_CAUSE_RANK.get(f["cause"], len(CAUSES)), f["gateway"] or ""))
        verdict = _verdict(t, readable_all, up_all)
        if t.findings:
            first = t.findings[0]
            cause = "%s (%s)" % (first["cause"], first["gateway"]) if first["gateway"] else first["cause"]
        elif verdict == "OK":
            cause = "traffic crosses encrypted" if probe_result and probe_result.get("status") == "answered" \
                else "SAs established on both ends (no probe to ping across)"
        else:
            cause = "not all ends could be read"
        entry = {
            "name": tunnel["name"], "verdict": verdict, "cause": cause,
            "line": "%s: %s - %s" % (tunnel["name"], verdict, cause),
            "left": _side(tunnel, "left"), "right": _side(tunnel, "right"),
            "initiator": tunnel["initiator"], "auth": tunnel["auth"], "probe": probe_result,
            "findings": t.findings, "checks": t.checks,
        }
        report["tunnels"].append(entry)
        for finding in t.findings:
            report["findings"].append(dict(finding, tunnel=tunnel["name"]))
    counts = dict((verdict.lower(), 0) for verdict in VERDICTS)
    for entry in report["tunnels"]:
        counts[entry["verdict"].lower()] += 1
    report["summary"] = dict(counts, tunnels=len(report["tunnels"]), findings=len(report["findings"]),
                             worst=next((v for v in ("DOWN", "UNKNOWN", "DEGRADED", "OK")
                                         if counts[v.lower()]), "OK"))
    return report


class FilterModule(object):
    def filters(self):
        return {"diagnosis": diagnosis}
