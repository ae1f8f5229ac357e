# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: what ``ip route`` prints, as data (pure functions, no I/O).

Shared by the diagnosis (``route get`` toward each remote subnet), the firewall module (which
interfaces carry the tunnels) and the conns module (may pluto go without Libreswan's ``_updown``).

Not a public API.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import re

ROUTE_TYPES = ("unicast", "local", "broadcast", "multicast", "unreachable", "blackhole", "prohibit", "throw", "nat",
               "anycast")


def parse_route_get(text, rc=0):
    """``ip route get ADDR``: ``{type, dev, via, src, error, line}``.

    ``type`` is ``unicast`` for an ordinary route, ``local`` for an address of this host, ``unreachable``
    ``blackhole`` ``prohibit`` for routes that drop, and ``error`` when the command failed
    (``RTNETLINK answers: Network is unreachable``).
    """
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    first = lines[0] if lines else ""
    result = {"type": None, "dev": None, "via": None, "src": None, "error": None, "line": first}
    if rc != 0 or not first or first.startswith("RTNETLINK") or "rror" in first:
        result["type"] = "error"
        result["error"] = first or "exit %s" % rc
        if re.search(r"unreachable", first, re.I):
            result["type"] = "unreachable"
        return result
    words = first.split()
    result["type"] = words[0] if words[0] in ROUTE_TYPES else "unicast"
    for key in ("dev", "via", "src"):
        if key in words and words.index(key) + 1 < len(words):
            result[key] = words[words.index(key) + 1]
    return result


def parse_routes(text, version=4):
    """``ip -o [-6] route show table main`` -> [(kind, ip_network)] ("default" is /0 of ``version``)."""
    routes = []
    for line in (text or "").splitlines():
        words = line.split()
        if not words:
            continue
        kind = "unicast"
        if words[0] in ROUTE_TYPES:
            kind = words.pop(0)
        if not words:
            continue
        prefix = words[0]
        try:
            if prefix == "default":
                net = ipaddress.ip_network(u"::/0" if version == 6 else u"0.0.0.0/0")
            else:
                net = ipaddress.ip_network(u"%s" % prefix, strict=False)
        except ValueError:
            continue
        routes.append((kind, net))
    return routes


def looked_up(line):
    """The address an ``ip -o route get`` line answers for (its first word, after a route type)."""
    words = line.split()
    if words and words[0] in ROUTE_TYPES:
        words = words[1:]
    return words[0] if words else None


def route_lookup(text):
    """{address: parsed route} of the lines of ``ip -o -force -batch -`` route gets; an address the kernel
    could not route (``Network is unreachable``, on stderr) is absent."""
    return dict((looked_up(line), parse_route_get(line)) for line in (text or "").splitlines() if looked_up(line))


def route_devices(lookup, addresses=None):
    """The interfaces of a :func:`route_lookup` (one per address looked up), without ``lo``; with
    *addresses*, only the interfaces of those."""
    return sorted(set(route["dev"] for address, route in lookup.items()
                      if addresses is None or address in addresses) - {None, "lo"})


def interface_state(name, sys_net="/sys/class/net"):
    """``up``, ``down`` (administratively: IFF_UP unset) or ``missing``: an interface as sysfs shows it."""
    try:
        with open(os.path.join(sys_net, name, "flags")) as handle:
            flags = handle.read().strip()
    except (IOError, OSError):
        return "missing"
    return "up" if re.match(r"^0x[0-9a-fA-F]+$", flags) and int(flags, 16) & 1 else "down"
