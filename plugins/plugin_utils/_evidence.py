# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private, controller side: what the ``diagnosis`` filter reads - the evidence, before any judgement.

The facts ``diagnose_info`` registered on each gateway (``CHECKS_VAR``), the wire captures taken while the
probe pings crossed (``CAPTURE_VAR``) and the pings themselves (``PINGS_VAR``), taken out of ``hostvars``
as plain dicts and lists; the probe of each tunnel; what a capture shows for one tunnel; the per gateway
summary of the report. Nothing here decides whether a tunnel works: that is ``_judgements``.

Split out of plugins/filter/diagnosis.py, which keeps the filter itself (the verdict and the report), so
that each file reads as one thing. Imports nothing of the filter or of ``_judgements`` (no cycle).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sitevpn.ipsec.plugins.module_utils import _rule_match
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _model

CHECKS_VAR = "__sitevpn_diagnose_checks"
CAPTURE_VAR = "__sitevpn_diagnose_capture"
PINGS_VAR = "__sitevpn_diagnose_pings"

_PROBE_RE = re.compile(r"^PROBE (\S+) (\d+) (\d+)")
# the pings as big as the tunnel's MTU, with DF: "BIG <address> <size> <a line of ping's output>"
_BIG_RE = re.compile(r"^BIG (\S+) (\d+) (.*)$")
_BIG_COUNT_RE = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
# "Frag needed and DF set (mtu = 1400)", "Packet too big: mtu=1400", "local error: message too long, mtu=1400"
_BIG_MTU_RE = re.compile(r"\bmtu ?= ?(\d+)", re.I)


def _get(hostvars, host, key):
    try:
        value = hostvars[host].get(key)
    except (KeyError, AttributeError, TypeError):
        return None
    return value


def _plain(value):
    """Registered results may be Ansible's lazy containers: plain dicts and lists all the way down."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return dict((k, _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _side(tunnel, side):
    end = tunnel.get(side) or {}
    return {"host": end.get("host"), "name": end.get("host") or end.get("name") or end.get("address"),
            "address": end.get("address"), "subnets": list(end.get("subnets") or []),
            "managed": bool(end.get("managed")), "id": end.get("id")}


def _gateway_facts(hostvars, host):
    """(facts or None, why not)."""
    result = _get(hostvars, host, CHECKS_VAR)
    if result is None:
        return None, "no facts were read from %s (not in the play, or the play stopped before)" % host
    result = _plain(result)
    if result.get("unreachable"):
        return None, "%s is unreachable: %s" % (host, (result.get("msg") or "").strip()[:300])
    if result.get("skipped"):
        return None, "the checks were skipped on %s" % host
    if result.get("failed") or "tunnels" not in result:
        return None, "reading %s failed: %s" % (host, (result.get("msg") or "no result").strip()[:300])
    return result, None


def _capture(hostvars, host):
    result = _plain(_get(hostvars, host, CAPTURE_VAR) or {})
    if not result or result.get("skipped") or result.get("failed") or "capture" not in result:
        return None
    return result


def _probes(tunnels, hostvars):
    """tunnel name -> {from, address, initiator} for the tunnels that have a probe."""
    probes = {}
    for tunnel in tunnels:
        probe = tunnel.get("probe")
        if not probe or tunnel["state"] != "present":
            continue
        target = str(probe["to"])
        if _rule_match._addr(target) is None and target in hostvars:
            target = str(_model._hostvar(hostvars, target, "sitevpn_probe_address")
                         or _model._hostvar(hostvars, target, "ansible_host") or target)
        source = _model._hostvar(hostvars, str(probe["from"]), "sitevpn_probe_address")
        probes[tunnel["name"]] = {"from": str(probe["from"]), "to": str(probe["to"]), "address": target,
                                  "from_address": str(source) if source else None,
                                  "initiator": tunnel[tunnel["initiator"]]["host"]}
    return probes


def _ping_results(hostvars, host):
    """(from host, address) -> {sent, received} or {error} from the ping task registered on *host*."""
    found = {}
    registered = _plain(_get(hostvars, host, PINGS_VAR) or {})
    for result in registered.get("results") or []:
        item = result.get("item") or []
        source = item[0] if item else None
        addresses = [p.get("address") for p in (item[1] if len(item) > 1 else [])]
        seen = set()
        big = {}
        for line in (result.get("stdout") or "").splitlines():
            match = _PROBE_RE.match(line.strip())
            if match:
                found[(source, match.group(1))] = {"sent": int(match.group(2)), "received": int(match.group(3))}
                seen.add(match.group(1))
            _big_line(big, line.strip())
        for address, outcome in big.items():
            if (source, address) in found and "sent" in outcome:
                found[(source, address)]["big"] = outcome
        for address in addresses:
            if address not in seen:
                why = result.get("msg") or result.get("stderr") or "no answer from the probe host"
                if result.get("skipped"):
                    why = "skipped"
                found[(source, address)] = {"error": str(why).strip()[:300]}
    return found


def _big_line(big, line):
    """One output line of the DF pings into *big*: address -> {size, sent, received, mtu (None: none said)}."""
    match = _BIG_RE.match(line)
    if not match:
        return
    outcome = big.setdefault(match.group(1), {"size": int(match.group(2)), "mtu": None})
    count, mtu = _BIG_COUNT_RE.search(match.group(3)), _BIG_MTU_RE.search(match.group(3))
    if count:
        outcome.update(sent=int(count.group(1)), received=int(count.group(2)))
    if mtu:
        outcome["mtu"] = int(mtu.group(1))


def _delta(capture, name):
    if not capture:
        return None
    before = (capture.get("counters_before") or {}).get(name) or {"in_bytes": 0, "out_bytes": 0}
    after = (capture.get("counters_after") or {}).get(name)
    if after is None:
        return {"before": before["in_bytes"] + before["out_bytes"], "after": None, "rose": False}
    was, now = before["in_bytes"] + before["out_bytes"], after["in_bytes"] + after["out_bytes"]
    return {"before": was, "after": now, "rose": now > was}


def wire_evidence(capture, tf):
    """What the capture of one gateway shows for one tunnel: ESP, clear ICMP, IKE from/to the peer."""
    packets = ((capture or {}).get("capture") or {}).get("packets") or []
    wan, lans, peer = tf.get("wan_dev"), tf.get("lan_devs") or [], tf.get("peer_address")
    local_nets, remote_nets = tf.get("local_subnets") or [], tf.get("remote_subnets") or []

    def in_any(address, nets):
        return any(_rule_match.in_subnet(address, net) for net in nets)

    def on_wan(p):
        return wan is None or p.get("iface") in (wan, None)

    found = {"esp_out": [], "esp_in": [], "clear_out_wan": [], "lan_icmp": [], "ike_in": [], "ike_out": [],
             "peer_refused": []}
    for p in packets:
        if p["kind"] == "esp" and on_wan(p):
            if p.get("direction") == "out" and (peer is None or p["dst"] == peer):
                found["esp_out"].append(p["line"])
            elif p.get("direction") == "in" and (peer is None or p["src"] == peer):
                found["esp_in"].append(p["line"])
        elif p["kind"] == "icmp" and p.get("iface") in lans and (
                (in_any(p["src"], local_nets) and in_any(p["dst"], remote_nets))
                or (in_any(p["src"], remote_nets) and in_any(p["dst"], local_nets))):
            found["lan_icmp"].append(p["line"])
        elif p["kind"] == "icmp" and p.get("direction") == "out" and on_wan(p) and p.get("iface") not in lans \
                and in_any(p["dst"], remote_nets):
            # the seed's "unprotected interface": tunnel traffic must not be seen there in clear
            found["clear_out_wan"].append(p["line"])
        elif p["kind"] == "ike" and peer:
            if p.get("direction") == "in" and p["src"] == peer:
                found["ike_in"].append(p["line"])
            elif p.get("direction") == "out" and p["dst"] == peer:
                found["ike_out"].append(p["line"])
        elif p["kind"] == "icmp-error" and peer and p["src"] == peer \
                and re.search(r"udp port (500|4500) unreachable", p["line"]):
            found["peer_refused"].append(p["line"])
    return found


def _wire_lines(host, capture, tf, name):
    """Capture evidence for a finding: clear ICMP leaving by the WAN, SA counters that did not move."""
    if not capture:
        return []
    lines = []
    wire = wire_evidence(capture, tf)
    if wire["clear_out_wan"]:
        lines.append("%s: tcpdump: %d ICMP packets left by %s in clear, e.g. %s" % (
            host, len(wire["clear_out_wan"]), tf.get("wan_dev"), wire["clear_out_wan"][0]))
    if wire["lan_icmp"] and not wire["esp_out"] and not wire["clear_out_wan"]:
        lines.append("%s: tcpdump: the probe's ICMP arrives on %s (%d packets) but nothing leaves by %s"
                     % (host, ",".join(tf.get("lan_devs") or []), len(wire["lan_icmp"]), tf.get("wan_dev")))
    delta = _delta(capture, name)
    if delta is not None and not delta["rose"]:
        lines.append("%s: SA bytes in+out %s -> %s while the probe ran" % (host, delta["before"], delta["after"]))
    return lines


def _gateway_summary(host, facts, why, hostvars):
    summary = {"host": host, "reachable": facts is not None, "why": why,
               "site": str(_model._hostvar(hostvars, host, "sitevpn_site") or host),
               "address": None, "subnets": [],
               "pluto": None, "version": None, "forwarding": None, "backends": [], "log": None, "verify_failed": []}
    if facts:
        summary.update(pluto=facts.get("pluto"), version=facts.get("version"), forwarding=facts.get("forwarding"),
                       backends=(facts.get("firewall") or {}).get("backends") or [], log=facts.get("log"))
        summary["verify_failed"] = ["%s [%s]" % (c["name"], c["status"])
                                    for c in ((facts.get("verify") or {}).get("checks") or []) if not c.get("ok")]
    return summary
