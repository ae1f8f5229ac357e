# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the matching both rule readers share - addresses, ports, interfaces, protocols.

``_packet_filter`` (iptables-save) and ``_nft_rules`` (nft list ruleset) judge a packet against a rule
the same way: each match is True, False or None (cannot tell), and a rule matches when all of them do.
The helpers live here, below both, so that ``_packet_filter`` can import ``_nft_rules`` without a cycle.
Standard library only, Python 3.8+.

Not a public API: names may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress


# ---------------------------------------------------------------------------
# addresses
# ---------------------------------------------------------------------------

def _net(text):
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        return None


def _addr(text):
    try:
        return ipaddress.ip_address(str(text).strip())
    except ValueError:
        return None


def in_subnet(address, subnet):
    addr, net = _addr(address), _net(subnet)
    return bool(addr is not None and net is not None and addr.version == net.version and addr in net)


# ---------------------------------------------------------------------------
# rule matching shared by both rule languages
# ---------------------------------------------------------------------------

_PROTOCOLS = {"icmp": 1, "tcp": 6, "udp": 17, "esp": 50, "ah": 51, "gre": 47, "ipv6-icmp": 58, "icmpv6": 58,
              "sctp": 132}


def _proto_number(value):
    value = str(value).strip().lower()
    if value.isdigit():
        return int(value)
    return _PROTOCOLS.get(value)


def _address_matches(value, address):
    """*value* is one address/CIDR or a comma list; True/False, or None when it cannot be read."""
    if address is None:
        return None
    result = False
    for item in str(value).split(","):
        item = item.strip()
        if not item:
            continue
        if "-" in item and "/" not in item:
            low, _sep, high = item.partition("-")
            low, high, addr = _addr(low), _addr(high), _addr(address)
            if None in (low, high, addr) or low.version != addr.version:
                continue
            if low <= addr <= high:
                result = True
            continue
        net = _net(item)
        if net is None:
            return None
        if in_subnet(address, str(net)):
            result = True
    return result


def _port_matches(spec, port):
    if port is None:
        return None
    for item in str(spec).replace(":", "-").split(","):
        item = item.strip()
        if not item:
            continue
        low, _sep, high = item.partition("-")
        try:
            if int(low) <= port <= int(high or low):
                return True
        except ValueError:
            return None
    return False


def _iface_matches(pattern, iface):
    if iface is None:
        return None
    pattern = pattern.strip('"')
    if pattern.endswith("+") or pattern.endswith("*"):
        return iface.startswith(pattern[:-1])
    return iface == pattern


def _all_of(results):
    """A rule matches when every match does: False at the first that does not, None when one cannot be told."""
    uncertain = False
    for result in results:
        if result is None:
            uncertain = True
        elif not result:
            return False
    return None if uncertain else True


def _negate(result, negated):
    if result is None:
        return None
    return not result if negated else result
