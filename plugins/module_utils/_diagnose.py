# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the seed's troubleshooting checks, read on one gateway.

Two halves:

* pure readers of what the checks print - ``/proc/net/udp``, ``ip -o addr``,
  ``ip route get``, ``tcpdump -i any``, pluto's log; the rulesets
  (``iptables-save``, ``nft list ruleset``) are read and evaluated by
  ``_packet_filter``;
* :class:`Gatherer`, which runs the read-only commands through the
  collection's runner and returns the facts of one gateway for the
  ``diagnosis`` filter, which judges both ends of each tunnel on the
  controller.

Nothing here changes the host: every command is a read (``ipsec status``,
``iptables-save``, ``tcpdump`` ...). Standard library only, Python 3.8+.

Not a public API: names may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import re

from ansible_collections.sitevpn.ipsec.plugins.module_utils import ipsec_output
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _attempt, _verify
from ansible_collections.sitevpn.ipsec.plugins.module_utils._firewall import route_interface
from ansible_collections.sitevpn.ipsec.plugins.module_utils._log_patterns import LOG_PATTERNS
from ansible_collections.sitevpn.ipsec.plugins.module_utils._routes import interface_state, parse_route_get
from ansible_collections.sitevpn.ipsec.plugins.module_utils._packet_filter import (
    exemption_installed, filter_verdict, firewall_model, nat_verdict, packet)
from ansible_collections.sitevpn.ipsec.plugins.module_utils._rule_match import _addr, _net, in_subnet

IKE_PORT = 500
NAT_T_PORT = 4500


# ---------------------------------------------------------------------------
# addresses
# ---------------------------------------------------------------------------

def first_address(subnet):
    """The first usable address of *subnet* (``10.0.0.0/24`` -> ``10.0.0.1``), as the seed pings it."""
    net = _net(subnet)
    if net is None:
        return None
    if net.num_addresses <= 2:
        return str(net.network_address)
    return str(net.network_address + 1)


# ---------------------------------------------------------------------------
# /proc/net/udp, ip -o addr, ip route get
# ---------------------------------------------------------------------------

def _hex_address(text):
    """``0A6433C6`` (little-endian IPv4) or the 32-hex IPv6 form of /proc/net/udp6."""
    try:
        if len(text) == 8:
            return str(ipaddress.IPv4Address(bytes(bytearray.fromhex(text))[::-1]))
        if len(text) == 32:
            raw = bytes(bytearray.fromhex(text))
            words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
            return str(ipaddress.IPv6Address(words))
    except ValueError:
        return None
    return None


def parse_proc_net_udp(text):
    """Sockets of ``/proc/net/udp`` or ``udp6``: ``[{address, port, inode}]`` (wildcard address ``0.0.0.0``/``::``)."""
    sockets = []
    for line in (text or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or ":" not in fields[1]:
            continue
        address, _sep, port = fields[1].rpartition(":")
        try:
            sockets.append({"address": _hex_address(address), "port": int(port, 16), "inode": fields[9]})
        except ValueError:
            continue
    return sockets


def listening_on(sockets, port, address=None):
    """Whether something listens on UDP *port* (on *address*, or on any address when given None)."""
    for sock in sockets:
        if sock["port"] != port:
            continue
        if address is None or sock["address"] in (address, "0.0.0.0", "::"):
            return True
    return False


_ADDR_LINE_RE = re.compile(r"^\d+:\s+(?P<dev>\S+)\s+(?P<family>inet6?)\s+(?P<cidr>\S+)")


def parse_ip_addr(text):
    """``ip -o addr show``: ``[{dev, address, prefixlen, family}]``."""
    found = []
    for line in (text or "").splitlines():
        match = _ADDR_LINE_RE.match(line.strip())
        if not match:
            continue
        address, _sep, prefix = match.group("cidr").partition("/")
        found.append({"dev": match.group("dev").split("@")[0], "address": address,
                      "prefixlen": int(prefix) if prefix.isdigit() else None,
                      "family": 6 if match.group("family") == "inet6" else 4})
    return found


def judge_route(route, wan_dev, lan_devs, interface=None):
    """Does the route toward the remote subnet leave by the WAN (toward the peer), or by a route-based
    tunnel's *interface*? ``(status, why)``: ``ok``, ``fail`` (unreachable, local, out by a LAN interface,
    past the *interface*) or ``warn`` (another interface)."""
    kind = route.get("type")
    if kind in ("error", "unreachable", "blackhole", "prohibit", "throw"):
        return "fail", "no usable route: %s" % (route.get("error") or route.get("line") or kind)
    if kind == "local":
        return "fail", "the address is local on this gateway (the remote subnet overlaps a local one)"
    dev = route.get("dev")
    if interface and dev == interface:
        return "ok", "leaves by %s, the tunnel's interface" % dev
    if interface:
        return "fail", "leaves by %s, not into the tunnel's interface %s: the route the firewall role keeps is " \
                       "missing (sitevpn-ipsec-routes.service)" % (dev, interface)
    if wan_dev and dev == wan_dev:
        return "ok", "leaves by %s%s, toward the peer" % (dev, " via %s" % route["via"] if route.get("via") else "")
    if dev in (lan_devs or []):
        return "fail", "leaves by the LAN interface %s instead of %s toward the peer" % (dev, wan_dev or "the WAN")
    if not wan_dev:
        return "warn", "leaves by %s; the interface toward the peer is unknown" % dev
    return "warn", "leaves by %s, not by %s toward the peer" % (dev, wan_dev)


# -- tcpdump -n -i any -------------------------------------------------------

# '05:55:28.718302 eth0  Out IP 198.51.100.10 > 203.0.113.10: ESP(spi=0x8834b64f,seq=0x4), length 120'
_TCPDUMP_RE = re.compile(
    r"^(?:\d[\d:.]*\s+)?(?:(?P<iface>[^\s]+)\s+(?P<dir>In|Out|M|B|P|\?)\s+)?IP6?\s+(?P<src>\S+) > (?P<dst>[^\s:]+(?::[^\s]*[^:\s])?):"
    r"\s*(?P<rest>.*)$")
_SPI_RE = re.compile(r"ESP\(spi=(0x[0-9a-fA-F]+)")


def _split_port(text, udp_like):
    """'198.51.100.10.500' -> ('198.51.100.10', 500) when the text carries a port."""
    if udp_like:
        head, _sep, tail = text.rpartition(".")
        if tail.isdigit() and head and _addr(head) is not None:
            return head, int(tail)
    return text, None


def parse_tcpdump(text):
    """Packets printed by ``tcpdump -n -i any``: ``[{iface, direction, src, dst, sport, dport, kind, spi, line}]``.

    kind: ``esp`` (also ESP in UDP 4500), ``ike`` (UDP 500/4500 carrying IKE), ``icmp``, ``icmp-error``
    (an unreachable or similar about another packet) or ``other``.
    """
    packets = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        match = _TCPDUMP_RE.match(line)
        if not match:
            continue
        rest = match.group("rest")
        src, sport = _split_port(match.group("src"), True)
        dst, dport = _split_port(match.group("dst").rstrip(":"), True)
        spi = _SPI_RE.search(rest)
        if spi:
            kind = "esp"
        elif rest.startswith("ICMP"):
            kind = "icmp-error" if re.search(r"unreachable|time exceeded|redirect|parameter problem", rest) \
                else "icmp"
        elif sport in (IKE_PORT, NAT_T_PORT) or dport in (IKE_PORT, NAT_T_PORT):
            kind = "ike"
        else:
            kind = "other"
        packets.append({
            "iface": match.group("iface"), "direction": {"In": "in", "Out": "out"}.get(match.group("dir")),
            "src": src, "dst": dst, "sport": sport, "dport": dport, "kind": kind,
            "spi": spi.group(1) if spi else None, "line": line[:200],
        })
    return packets


# ---------------------------------------------------------------------------
# pluto's log (the failure kinds are in _log_patterns)
# ---------------------------------------------------------------------------

# the Child SA came up: later failures are current, earlier ones history
_LOG_UP_RE = re.compile(r"\bestablished Child SA\b|\bIPsec SA established\b")
_LOG_CONN_RE = re.compile(r'"(?P<conn>[^"]+)"(?:\[[^\]]*\])*(?: [^\s#:"]+)?(?: #(?P<serial>\d+))?:')
_LOG_TIME_RES = (
    re.compile(r"^(\d{4}-\d\d-\d\d[T ][\d:.]+(?:[+-]\d{2}:?\d{2}|Z)?)"),      # journalctl -o short-iso
    re.compile(r"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?)"),           # syslog / pluto logfile
)


def _log_time(line):
    for regex in _LOG_TIME_RES:
        match = regex.match(line)
        if match:
            return match.group(1)
    return None


def _conn_base(name):
    """'net-to-net/1x0' -> 'net-to-net' (the sub-connections of a conn with several subnets)."""
    return re.sub(r"/\d+x\d+$", "", name)


# the ID a peer sent, as pluto quotes it: "Peer ID '@x' mismatched ...", "peer ID is ID_FQDN: '@x'",
# "... hash received from peer ID_FQDN '@x'"
_LOG_PEER_ID_RE = re.compile(r"(?:\bPeer ID|\bpeer ID is \w+:|\bID_[A-Z0-9_]+)\s*'(?P<id>[^']+)'", re.I)


def _log_kind(message):
    """The failure kind of one pluto log message (the first of LOG_PATTERNS that matches), or None."""
    for kind, regex in LOG_PATTERNS:
        if regex.search(message):
            return kind
    return None


def scan_log(lines, conns, peer_ids=None, current_serials=None):
    """Failure lines of pluto's log, per connection, split into current and past.

    A failure is *current* when no Child SA of its connection came up after it and it does not belong to
    a negotiation older than the connection's current SAs (its state serial below the lowest serial
    in *current_serials*, ``{conn: [serial, ...]}`` of the established states). A failure of a
    negotiation whose peer sent an ID other than the connection's (*peer_ids*, ``{conn: id}``) is
    another peer's - pluto logs it under the first connection between the two addresses - and is only
    counted in ``foreign``. Returns ``{conn: {current: {kind: {count, first, last, line}}, past: {kind:
    count}, foreign: {id: lines}, last_up: time or None, lines_seen}}`` for each name in *conns*.
    """
    wanted = set(conns)
    peer_ids = peer_ids or {}
    oldest_current = dict((conn, min(serials)) for conn, serials in (current_serials or {}).items() if serials)
    result = dict((name, {"current": {}, "past": {}, "foreign": {}, "last_up": None, "lines_seen": 0})
                  for name in conns)
    strangers = {}    # (conn, serial) -> the other peer's ID
    for raw in lines or []:
        line = raw.rstrip()
        match = _LOG_CONN_RE.search(line)
        if not match:
            continue
        conn = _conn_base(match.group("conn"))
        if conn not in wanted:
            continue
        entry = result[conn]
        entry["lines_seen"] += 1
        when = _log_time(line)
        message = line[match.start():]
        serial = int(match.group("serial")) if match.group("serial") else None
        sent = _LOG_PEER_ID_RE.search(message)
        if sent and peer_ids.get(conn) and sent.group("id") != peer_ids[conn] and serial is not None:
            strangers[(conn, serial)] = sent.group("id")
        if (conn, serial) in strangers:
            other = strangers[(conn, serial)]
            entry["foreign"][other] = entry["foreign"].get(other, 0) + 1
            continue
        older = serial is not None and conn in oldest_current and serial < oldest_current[conn]
        if not older and _LOG_UP_RE.search(message):
            entry["last_up"] = when or "(time unknown)"
            for kind, seen in entry["current"].items():
                entry["past"][kind] = entry["past"].get(kind, 0) + seen["count"]
            entry["current"] = {}
            continue
        kind = _log_kind(message)
        if kind is None:
            continue
        if older:    # a negotiation from before the current SAs
            entry["past"][kind] = entry["past"].get(kind, 0) + 1
            continue
        seen = entry["current"].setdefault(kind, {"count": 0, "first": when, "last": when, "line": None})
        seen["count"] += 1
        seen["last"] = when
        seen["line"] = line[:300]
    return result


# ---------------------------------------------------------------------------
# ipsec status, per connection
# ---------------------------------------------------------------------------

def established_serials(status, names):
    """{conn: serials of its established IKE and Child SAs}: the negotiations that made the current SAs."""
    result = dict((name, []) for name in names)
    for state in status.get("states", []):
        base = _conn_base(state.get("name") or "")
        if base in result and state.get("established") and state.get("serial") is not None:
            result[base].append(int(state["serial"]))
    return result


def conn_state(status, traffic, name):
    """Loaded? IKE SA? Child SA? Half-open IKE SA still waiting for the peer? SA byte counters."""
    conns = dict((key, conn) for key, conn in status.get("connections", {}).items()
                 if _conn_base(conn["name"]) == name)
    states = [s for s in status.get("states", []) if _conn_base(s.get("name") or "") == name]
    sas = [sa for sa in traffic if _conn_base(sa.get("base_name") or sa.get("name") or "") == name]
    ike = [s for s in states if s.get("kind") == "ike"]
    child = [s for s in states if s.get("kind") == "child"]
    waiting = [s for s in ike if not s.get("established")]
    return {
        "loaded": bool(conns),
        "routing": sorted(set(c["routing"] for c in conns.values() if c.get("routing"))),
        "ike_sa": any(s.get("established") for s in ike),
        "child_sa": any(s.get("established") for s in child),
        "ike_pending": [("#%s %s" % (s["serial"], s.get("description") or s.get("state") or "")).strip()
                        for s in waiting],
        "states": [s["raw"][:200] for s in states if s.get("raw")][:10],
        "sas": [{"serial": sa["serial"], "name": sa["name"], "in_bytes": sa.get("in_bytes"),
                 "out_bytes": sa.get("out_bytes")} for sa in sas],
        "in_bytes": sum(sa.get("in_bytes") or 0 for sa in sas),
        "out_bytes": sum(sa.get("out_bytes") or 0 for sa in sas),
    }


# ---------------------------------------------------------------------------
# gathering on the gateway
# ---------------------------------------------------------------------------

def _other(side):
    return "right" if side == "left" else "left"


def tunnel_view(tunnel):
    """The parts of a resolved tunnel (``host_tunnels`` filter) this gateway's checks need."""
    local_side = tunnel.get("local", "left")
    local, remote = tunnel.get(local_side) or {}, tunnel.get(_other(local_side)) or {}
    return {
        "name": tunnel["name"],
        "local_side": local_side,
        "my_address": local.get("local_address") or local.get("address"),
        "peer_address": remote.get("address"),
        "peer_host": remote.get("host"),
        "local_subnets": list(local.get("subnets") or []),
        "remote_subnets": list(remote.get("subnets") or []),
        "auth": tunnel.get("auth"),
        "peer_id": remote.get("id"),
        "interface": route_interface(tunnel),
    }


class Gatherer(object):
    """Runs the read-only checks of one gateway through an :class:`IpsecRunner`.

    *root* prefixes every file read (``/`` on a host; unit tests point it at a temporary directory).
    """

    JOURNAL_SINCE = "-1h"
    LOG_TAIL_BYTES = 2 * 1024 * 1024

    def __init__(self, module, runner, root="/", installed=True):
        self.module = module
        self.runner = runner
        self.root = root
        self.installed = installed

    def _path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def read(self, path, tail=None):
        try:
            with open(self._path(path), "rb") as handle:
                if tail:
                    handle.seek(0, os.SEEK_END)
                    size = handle.tell()
                    handle.seek(max(0, size - tail))
                return handle.read().decode("utf-8", "replace")
        except (IOError, OSError):
            return None

    def _optional(self, program, args):
        """A read-only command through the runner, or None when *program* is not installed."""
        return self.runner.optional_command(program, args)

    # -- pieces ---------------------------------------------------------------------------------

    def pluto(self):
        sockets = []
        for name in ("udp", "udp6"):
            sockets += parse_proc_net_udp(self.read("/proc/net/%s" % name))
        service = self._optional("systemctl", ["is-active", "ipsec"])
        facts = {"running": False, "service": service.out.strip() if service is not None else None,
                 "status_error": "Libreswan is not installed (no ipsec command)",
                 "ike_sockets": sorted(set("%s:%d" % (s["address"], s["port"]) for s in sockets
                                           if s["port"] in (IKE_PORT, NAT_T_PORT)))}
        if not self.installed:
            return facts, {"connections": {}, "states": []}, [], sockets
        status = self.runner.verb("status", mutating=False)
        error = ipsec_output.detect_error(status.text)
        running = status.rc == 0 and not (error and error["kind"] == "not_loaded")
        parsed = ipsec_output.parse_status(status.text) if running else {"connections": {}, "states": []}
        traffic = self.runner.traffic() if running else []
        facts["running"] = running
        facts["status_error"] = None if running else \
            (status.text.strip().splitlines() or ["exit %d" % status.rc])[-1]
        return facts, parsed, traffic, sockets

    def verify(self):
        verify = self.runner.run(["verify"])
        if _verify.verify_missing(verify.text):
            return {"source": "builtin", "checks": _verify.builtin_checks(self.module, self.runner,
                                                                          self._path("/proc"))}
        parsed = ipsec_output.parse_verify(verify.out)
        return {"source": "ipsec verify", "checks": _verify.from_verify(parsed)}

    def firewall_sources(self):
        """Raw rulesets of every backend present, and what happened reading them."""
        sources, notes = {}, {}
        names = (self.read("/proc/net/ip_tables_names") or "").split()
        if names:
            result = self._optional("iptables-legacy-save", ["-c"])
            if result is None:
                version = self._optional("iptables", ["-V"])
                if version is not None and "legacy" in version.out:
                    result = self._optional("iptables-save", ["-c"])
            if result is not None:
                sources["iptables-legacy"] = result.out if result.rc == 0 else ""
                notes["iptables-legacy"] = "exit %d" % result.rc if result.rc else "read"
        else:
            notes["iptables-legacy"] = "no legacy tables loaded"
        result = self._optional("iptables-nft-save", ["-c"])
        if result is None:
            version = self._optional("iptables", ["-V"])
            if version is not None and "nf_tables" in version.out:
                result = self._optional("iptables-save", ["-c"])
        if result is not None:
            sources["iptables-nft"] = result.out if result.rc == 0 else ""
            notes["iptables-nft"] = "exit %d" % result.rc if result.rc else "read"
        else:
            notes["iptables-nft"] = "not installed"
        result = self._optional("nft", ["-a", "list", "ruleset"])     # -a: rule handles, for remedies
        if result is not None:
            sources["nft"] = result.out if result.rc == 0 else ""
            notes["nft"] = ("exit %d: %s" % (result.rc, result.err.strip()[:120])) if result.rc else "read"
        else:
            notes["nft"] = "not installed"
        return sources, notes

    def log_lines(self, since):
        """pluto's log (``_attempt.read_log``), read under this gatherer's root."""
        return _attempt.read_log(self.runner, self.read, since, self.LOG_TAIL_BYTES)

    def routes(self, targets):
        result = {}
        for target in targets:
            if target and target not in result:
                run = self._optional("ip", ["route", "get", target])
                result[target] = parse_route_get(run.text if run else "", run.rc if run else 1)
        return result

    # -- everything -------------------------------------------------------------------------------

    def gather(self, tunnels, since=None, run_verify=True):
        views = [tunnel_view(t) for t in tunnels if t.get("state", "present") != "absent"]
        facts = {"version": None, "tunnels": {}}
        facts["installed"] = self.installed
        facts["version"] = self.runner.version.get("version") if self.installed else None
        pluto, status, traffic, sockets = self.pluto()
        facts["pluto"] = pluto
        facts["verify"] = self.verify() if run_verify and self.installed else None
        forward = self.read("/proc/sys/net/ipv4/ip_forward")
        forward6 = self.read("/proc/sys/net/ipv6/conf/all/forwarding")
        facts["forwarding"] = {"ipv4": int(forward) if forward and forward.strip().isdigit() else None,
                               "ipv6": int(forward6) if forward6 and forward6.strip().isdigit() else None}
        addr = self._optional("ip", ["-o", "addr", "show"])
        addresses = parse_ip_addr(addr.out if addr else "")
        targets = []
        for view in views:
            targets.append(view["peer_address"])
            targets += [first_address(net) for net in view["remote_subnets"]]
        routes = self.routes(targets)
        sources, notes = self.firewall_sources()
        model = firewall_model(sources)
        facts["firewall"] = {"read": notes, "backends": [name for name in ("iptables-legacy", "iptables-nft", "nft")
                                                         if model.get(name)]}
        log_source, lines = self.log_lines(since or self.JOURNAL_SINCE)
        log = scan_log(lines, [view["name"] for view in views],
                       peer_ids=dict((view["name"], view["peer_id"]) for view in views if view.get("peer_id")),
                       current_serials=established_serials(status, [view["name"] for view in views]))
        facts["log"] = {"source": log_source, "lines": len(lines)}
        for view in views:
            facts["tunnels"][view["name"]] = self.tunnel_facts(view, status, traffic, sockets, addresses, routes,
                                                               model, log.get(view["name"]))
        return facts

    def tunnel_facts(self, view, status, traffic, sockets, addresses, routes, model, log):
        wan_route = routes.get(view["peer_address"]) or {}
        wan_dev = wan_route.get("dev")
        lan_devs = sorted(set(a["dev"] for a in addresses for net in view["local_subnets"]
                              if in_subnet(a["address"], net)))
        lan_dev = lan_devs[0] if lan_devs else None
        facts = dict(view, interface_state=interface_state(view["interface"]) if view.get("interface") else None)
        facts.update(conn_state(status, traffic, view["name"]))
        facts["wan_dev"], facts["lan_devs"] = wan_dev, lan_devs
        facts["peer_route"] = wan_route
        facts["routes"] = []
        for net in view["remote_subnets"]:
            target = first_address(net)
            route = routes.get(target) or {}
            verdict, why = judge_route(route, wan_dev, lan_devs, view.get("interface"))
            facts["routes"].append({"subnet": net, "target": target, "status": verdict, "why": why,
                                    "line": route.get("line")})
        my = view["my_address"]
        facts["listening"] = {str(port): listening_on(sockets, port, my) for port in (IKE_PORT, NAT_T_PORT)}
        facts["ike_input"] = {}
        for port in (IKE_PORT, NAT_T_PORT):
            pkt = packet(view["peer_address"], my, "udp", dport=port, sport=port, iif=wan_dev)
            facts["ike_input"][str(port)] = filter_verdict(model, "input", pkt)
        facts["esp_input"] = filter_verdict(model, "input", packet(view["peer_address"], my, "esp", iif=wan_dev))
        facts["nat"], facts["forward"] = [], []
        for lnet in view["local_subnets"]:
            for rnet in view["remote_subnets"]:
                if _net(lnet) is None or _net(rnet) is None or _net(lnet).version != _net(rnet).version:
                    continue
                src, dst = first_address(lnet), first_address(rnet)
                tunnel_dev = view.get("interface") or wan_dev      # route-based: in and out by its interface
                nat = nat_verdict(model, packet(src, dst, "icmp", oif=tunnel_dev, ipsec_out=True))
                nat.update(pair="%s -> %s" % (lnet, rnet), exemption=exemption_installed(model, lnet, rnet))
                facts["nat"].append(nat)
                out = filter_verdict(model, "forward", packet(src, dst, "icmp", iif=lan_dev, oif=tunnel_dev,
                                                              ipsec_out=True))
                back = filter_verdict(model, "forward", packet(dst, src, "icmp", iif=tunnel_dev, oif=lan_dev,
                                                               ipsec_in=True))
                facts["forward"].append(dict(out, pair="%s -> %s" % (lnet, rnet), direction="out"))
                facts["forward"].append(dict(back, pair="%s -> %s" % (rnet, lnet), direction="in"))
        facts["log"] = log or {"current": {}, "past": {}, "last_up": None, "lines_seen": 0}
        return facts

    def capture(self, tunnels, seconds, max_packets=400):
        """SA counters, then tcpdump on every interface for *seconds*, then the counters again.

        Meant to run (async) while the probe pings cross: ESP on the WAN, clear ICMP only on the LAN.
        """
        names = [t["name"] for t in tunnels if t.get("state", "present") != "absent"]

        def counters():
            # `ipsec trafficstatus` is spelled the same in 4.x and 5.x: no `ipsec --version` first, so the
            # capture starts as soon as it can
            result = {}
            for sa in ipsec_output.parse_trafficstatus(self.runner.run(["trafficstatus"]).text):
                base = _conn_base(sa.get("base_name") or sa.get("name") or "")
                if base in names:
                    entry = result.setdefault(base, {"in_bytes": 0, "out_bytes": 0})
                    entry["in_bytes"] += sa.get("in_bytes") or 0
                    entry["out_bytes"] += sa.get("out_bytes") or 0
            return result

        before = counters() if self.installed else {}
        bpf = "esp or icmp or icmp6 or udp port %d or udp port %d" % (IKE_PORT, NAT_T_PORT)
        tcpdump = self.module.get_bin_path("tcpdump", required=False, opt_dirs=["/usr/sbin", "/usr/bin", "/sbin"])
        capture = {"available": bool(tcpdump), "seconds": seconds, "packets": [], "error": None}
        if tcpdump:
            # coreutils timeout ends the capture (exit 124); -c bounds it on a busy link
            result = self.runner.command("timeout", [str(int(seconds)), tcpdump, "-n", "-l", "-i", "any",
                                                     "-c", str(int(max_packets)), bpf])
            capture["packets"] = parse_tcpdump(result.out)
            if result.rc not in (0, 124) and not capture["packets"]:
                capture["error"] = (result.err.strip().splitlines() or ["exit %d" % result.rc])[-1]
        else:
            capture["available"] = False
            capture["error"] = "tcpdump is not installed"
        after = counters() if self.installed else {}
        return {"counters_before": before, "counters_after": after, "capture": capture}
