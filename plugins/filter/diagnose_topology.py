# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: diagnose_topology
short_description: The seed's Figure 35-1, drawn from the inventory and the live state, as Graphviz DOT
version_added: 0.1.0
description:
  - Turns a P(sitevpn.ipsec.diagnosis#filter) result into a Graphviz C(graph) - one box per site with its
    gateway (public address, Libreswan version, pluto state) and the subnets behind it (and the LAN hosts the
    probes ping from), the Internet in the middle, and one edge per tunnel coloured by its verdict - green
    V(OK), orange V(DEGRADED), red V(DOWN), grey V(UNKNOWN) - labelled with its name and cause.
  - Render it with C(dot -Tsvg -o topology.svg topology.dot) (Debian package C(graphviz)).
options:
  _input:
    description: The result of the P(sitevpn.ipsec.diagnosis#filter) filter.
    type: dict
    required: true
  title:
    description: Title printed above the picture.
    type: str
    default: sitevpn.ipsec diagnose
"""

EXAMPLES = r"""
- name: Write the picture's source
  ansible.builtin.copy:
    content: "{{ diagnosis | sitevpn.ipsec.diagnose_topology }}"
    dest: sitevpn-report/topology.dot
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description: DOT text (C(graph sitevpn { ... })).
  type: str
"""

import ipaddress

COLOURS = {"OK": "#2e7d32", "DEGRADED": "#ef6c00", "DOWN": "#c62828", "UNKNOWN": "#9e9e9e"}
FILLS = {"OK": "#e8f5e9", "DEGRADED": "#fff3e0", "DOWN": "#ffebee", "UNKNOWN": "#f5f5f5"}


def _quote(text):
    return '"%s"' % str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _html(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attrs(**values):
    return "[%s]" % ", ".join("%s=%s" % (key, value if key == "label" and str(value).startswith("<")
                                         else _quote(value)) for key, value in sorted(values.items()))


def _in(address, subnet):
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        return False


def _gateway_state(gateway):
    if not gateway.get("reachable"):
        return "UNKNOWN", "not read"
    pluto = gateway.get("pluto") or {}
    if not pluto.get("running"):
        return "DOWN", "pluto stopped"
    return "OK", "pluto running"


def diagnose_topology(report, title="sitevpn.ipsec diagnose"):
    lines = ["graph sitevpn {"] + _header(report, title)

    # one cluster per site (a gateway, its subnets, the LAN hosts probes ping from)
    ends = _sites(report)
    gateways = report.get("gateways") or {}
    ordered = sorted(ends.items())
    left_count = (len(ordered) + 1) // 2
    for index, (name, entry) in enumerate(ordered):
        # the seed's Figure 35-1: LAN, gateway, the Internet in the middle, gateway, LAN
        lines += _site_cluster(index, name, entry, gateways, index < left_count)

    # the tunnels, coloured by verdict
    lines += _tunnel_edges(report, ends)

    lines.append("}")
    return "\n".join(lines) + "\n"


def _header(report: dict, title: str) -> list:
    """The graph's title (with the counts and the colour legend), its defaults and the Internet node."""
    lines = []
    summary = report.get("summary") or {}
    counts = "%d tunnel(s): %d OK, %d degraded, %d down, %d unknown" % (
        summary.get("tunnels", 0), summary.get("ok", 0), summary.get("degraded", 0), summary.get("down", 0),
        summary.get("unknown", 0))
    legend = " &#160; ".join('<FONT COLOR="%s">&#9632; %s</FONT>' % (COLOURS[v], word)
                             for v, word in (("OK", "up"), ("DEGRADED", "degraded"), ("DOWN", "down"),
                                             ("UNKNOWN", "unknown")))
    title_html = '<<B>%s</B><BR/>%s%s<BR/>%s>' % (
        _html(title), _html(report["generated"]) + " &#8212; " if report.get("generated") else "", _html(counts),
        legend)
    lines.append("  graph %s;" % _attrs(rankdir="LR", fontname="Helvetica", fontsize="12", labelloc="t",
                                        label=title_html, nodesep="0.4", ranksep="1.0", bgcolor="white"))
    lines.append("  node %s;" % _attrs(fontname="Helvetica", fontsize="10", shape="box", style="rounded,filled",
                                       fillcolor="white"))
    lines.append("  edge %s;" % _attrs(fontname="Helvetica", fontsize="9"))
    lines.append("  internet %s;" % _attrs(label="Internet", shape="ellipse", style="dashed", color="#757575",
                                           fontcolor="#616161"))
    return lines


def _sites(report: dict) -> dict:
    """Site name -> {end, subnets, hosts}: every end of every tunnel, its subnets and the probes' LAN hosts in it."""
    ends = {}
    for tunnel in report.get("tunnels") or []:
        for side in ("left", "right"):
            end = tunnel[side]
            entry = ends.setdefault(end["name"], {"end": end, "subnets": []})
            for subnet in end["subnets"]:
                if subnet not in entry["subnets"]:
                    entry["subnets"].append(subnet)
        probe = tunnel.get("probe") or {}
        if probe.get("from"):
            initiator = tunnel[tunnel.get("initiator") or "left"]["name"]
            other = tunnel["right" if (tunnel.get("initiator") or "left") == "left" else "left"]["name"]
            for owner, host, address in ((initiator, probe["from"], probe.get("from_address")),
                                         (other, probe.get("to"), probe.get("address"))):
                label = host if host and host != address else None
                hosts = ends[owner].setdefault("hosts", [])
                if (label or address) and (label, address) not in hosts:
                    hosts.append((label, address))
    return ends


def _site_cluster(index: int, name: str, entry: dict, gateways: dict, left: bool) -> list:
    """The cluster of one site: its gateway, subnets and LAN hosts, and the gateway's link to the Internet.

    Sets ``entry["node"]``, the gateway's node the tunnels' edges join. *left*: the site is drawn left of
    the Internet.
    """
    lines = []
    end = entry["end"]

    def link(a, b, **attrs):
        first, second = (a, b) if left else (b, a)
        lines.append("    %s -- %s %s;" % (first, second, _attrs(**attrs)))
    gateway = gateways.get(name) or {}
    managed = end.get("managed") and name in gateways
    state, words = _gateway_state(gateway) if managed else ("UNKNOWN", "not managed")
    node = "gw_%d" % index
    entry["node"] = node
    site = gateway.get("site") or name
    lines.append("  subgraph cluster_%d {" % index)
    lines.append("    graph %s;" % _attrs(label="site %s" % site if site != name else "site of %s" % name,
                                          style="rounded", color="#90a4ae", fontcolor="#455a64"))
    details = [name, end.get("address") or ""]
    if managed and gateway.get("version"):
        details.append("Libreswan %s, %s" % (gateway["version"], words))
    elif managed:
        details.append(words)
    else:
        details.append("peer (not managed here)")
    lines.append("    %s %s;" % (node, _attrs(label="\n".join(d for d in details if d), shape="box3d",
                                              fillcolor=FILLS[state], color=COLOURS[state],
                                              style="filled" if managed else "filled,dashed")))
    hosts = entry.get("hosts") or []
    for sub_index, subnet in enumerate(entry["subnets"]):
        subnet_node = "%s_net%d" % (node, sub_index)
        lines.append("    %s %s;" % (subnet_node, _attrs(label=subnet, shape="note", fillcolor="#eceff1",
                                                         color="#78909c")))
        link(subnet_node, node, color="#78909c")
        for host_index, (host, address) in enumerate(hosts):
            if (address and not _in(address, subnet)) or (not address and sub_index):
                continue
            host_node = "%s_lan%d" % (node, host_index)
            label = "%s\n%s" % (host, address) if host and address else (host or address)
            lines.append("    %s %s;" % (host_node, _attrs(label=label, shape="box", fillcolor="white",
                                                           color="#b0bec5")))
            link(host_node, subnet_node, color="#b0bec5")
    lines.append("  }")
    if left:
        lines.append("  %s -- internet %s;" % (node, _attrs(color="#bdbdbd", style="dashed")))
    else:
        lines.append("  internet -- %s %s;" % (node, _attrs(color="#bdbdbd", style="dashed")))
    return lines


def _tunnel_edges(report: dict, ends: dict) -> list:
    """One edge per tunnel between the gateways' nodes, coloured by its verdict and labelled with its cause."""
    lines = []
    for tunnel in report.get("tunnels") or []:
        left, right = ends[tunnel["left"]["name"]]["node"], ends[tunnel["right"]["name"]]["node"]
        verdict = tunnel["verdict"]
        cause = tunnel.get("cause") or ""
        label = "%s\n%s%s" % (tunnel["name"], verdict, "" if verdict == "OK" else "\n" + cause)
        lines.append("  %s -- %s %s;" % (left, right, _attrs(
            label=label, color=COLOURS.get(verdict, COLOURS["UNKNOWN"]),
            fontcolor=COLOURS.get(verdict, COLOURS["UNKNOWN"]), penwidth="3",
            style="solid" if verdict in ("OK", "DEGRADED") else "bold", constraint="false",
            tooltip=tunnel.get("line") or tunnel["name"])))
    return lines


class FilterModule(object):
    def filters(self):
        return {"diagnose_topology": diagnose_topology}
