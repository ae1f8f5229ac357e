# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private, controller side: one end of a tunnel, and what two ends cannot be together.

An end is an inventory host (its address, ID and next hop from its host variables) or an unmanaged
peer given inline; either way with its subnets, checked. Address and subnet work is netaddr's (checked
by :func:`require_netaddr`, with a message that says what to do); key parsing is cryptography's (see
``_keys``). Separate from ``_model`` because it is the one part of the model that reads addresses and
keys: ``_model`` calls :func:`_end` twice and :func:`_check_pair` once per tunnel.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleError

from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _keys
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._model_base import _hostvar, _unknown_keys

NETADDR_IMPORT_ERROR = None
try:
    import netaddr
except ImportError as exc:  # checked where it is needed, with a message that says what to do
    netaddr = None
    NETADDR_IMPORT_ERROR = exc

# \Z, not $: "$" also matches before a trailing newline, which would end the line in a conn file
# @name, an address (checked apart), or a certificate's subject DN ("CN=vpn1, O=Example", no quotes)
DN_PART = r"[A-Za-z][A-Za-z0-9.]*=[^,\"=\n\\]+"
ID_RE = re.compile(r"^(@[A-Za-z0-9_.:-]+|%fromcert|%any|" + DN_PART + r"(?:,\s*" + DN_PART + r")*)\Z")
PEER_KEYS = {"name", "address", "local_address", "id", "pubkey", "nexthop", "ca_cert", "csr"}
NEXTHOP_WORDS = ("%defaultroute", "%direct")


def require_netaddr():
    if netaddr is None:
        raise AnsibleError("sitevpn.ipsec needs the Python package netaddr on the Ansible controller "
                           "(pip install netaddr): %s" % NETADDR_IMPORT_ERROR)


def address(text):
    """The canonical form of an IP address, or None."""
    require_netaddr()
    try:
        return str(netaddr.IPAddress(str(text)))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return None


def _subnets(value, label, field, problems):
    if value is None or value == "" or value == []:
        problems.add(label, field, "at least one subnet is required (CIDR, e.g. 172.16.1.0/24)")
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        problems.add(label, field, "must be a CIDR or a list of CIDRs, not %s" % type(value).__name__)
        return []
    result = []
    for item in value:
        text = str(item).strip()
        try:
            if "/" not in text:
                raise netaddr.AddrFormatError("no prefix length")
            net = netaddr.IPNetwork(text)
            int(text.split("/", 1)[1])
        except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
            problems.add(label, field, "%r is not a valid CIDR subnet (%s)" % (text, exc))
            continue
        if net.ip != net.network:
            problems.add(label, field, "%s has host bits set; did you mean %s/%d?" % (text, net.network, net.prefixlen))
            continue
        if net.version != 4 and net.version != 6:
            problems.add(label, field, "%s is neither IPv4 nor IPv6" % text)
            continue
        result.append(net)
    for i, a in enumerate(result):
        for b in result[i + 1:]:
            if a in b or b in a or a.first <= b.last and b.first <= a.last:
                problems.add(label, field, "%s and %s overlap" % (a, b))
    return result


def _address(value, label, field, problems, allow_special=False):
    text = str(value or "").strip()
    if allow_special and text.startswith("%"):
        return text
    try:
        addr = netaddr.IPAddress(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        problems.add(label, field, "%r is not an IP address" % text)
        return None
    if addr.is_loopback() or addr.is_multicast() or str(addr) in ("0.0.0.0", "255.255.255.255", "::"):
        problems.add(label, field, "%s cannot be a gateway address" % addr)
        return None
    return str(addr)


def _nexthop(value, label, field, problems):
    """leftnexthop=/rightnexthop=: Libreswan's two words, or an address. The value goes into a conn file
    as it is, so anything else (a newline would add a keyword of its own) is refused."""
    if value is None:
        return None
    text = str(value)
    if text in NEXTHOP_WORDS:
        return text
    try:
        return str(netaddr.IPAddress(text))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        problems.add(label, field, "%r is not a next hop (an IP address, %s)" % (text, " or ".join(NEXTHOP_WORDS)))
        return None


def _is_ip(text):
    return address(text) is not None


def _end(raw_end, side, raw, label, hostvars, problems):
    """One side of a tunnel: an inventory host, or an unmanaged peer given inline."""
    field = side
    if isinstance(raw_end, str):
        if raw_end not in hostvars:
            problems.add(label, field, "host %r is not in the inventory" % raw_end)
            return None
        address = _hostvar(hostvars, raw_end, "sitevpn_public_address") or \
            _hostvar(hostvars, raw_end, "ansible_host") or raw_end
        end = {
            "host": raw_end, "managed": True,
            "address": _address(address, label, "%s (sitevpn_public_address of %s)" % (field, raw_end), problems),
            "local_address": None, "id": str(_hostvar(hostvars, raw_end, "sitevpn_id", "@" + raw_end)),
            "nexthop": _nexthop(_hostvar(hostvars, raw_end, "sitevpn_nexthop", "%defaultroute"), label,
                                "%s (sitevpn_nexthop of %s)" % (field, raw_end), problems),
            "pubkey": None,
        }
        local = _hostvar(hostvars, raw_end, "sitevpn_local_address")
        if local:
            end["local_address"] = _address(local, label, "%s (sitevpn_local_address of %s)" % (field, raw_end), problems)
    elif isinstance(raw_end, dict):
        _unknown_keys(raw_end, PEER_KEYS, label, problems, field=field, what=" for an unmanaged peer")
        for key in ("name", "id"):   # both reach files as they are: one printable line
            if raw_end.get(key) is not None and (not isinstance(raw_end[key], str) or not raw_end[key].isprintable()):
                problems.add(label, "%s.%s" % (field, key), "must be a string of printable characters (one line)")
        if raw_end.get("pubkey") is not None and not isinstance(raw_end["pubkey"], str):
            problems.add(label, field + ".pubkey", "must be a string (0s... or PEM)")
        address = _address(raw_end.get("address"), label, field + ".address", problems)
        end = {
            "host": None, "managed": False, "name": raw_end.get("name") or address,
            "address": address, "local_address": None,
            "id": str(raw_end.get("id") or address), "pubkey": None,
            "nexthop": _nexthop(raw_end.get("nexthop"), label, field + ".nexthop", problems),
        }
        for key in ("ca_cert", "csr"):     # a certificate peer: its own CA, or a request for ours to sign
            if raw_end.get(key) is not None:
                if isinstance(raw_end[key], str):
                    end[key] = raw_end[key]
                else:
                    problems.add(label, "%s.%s" % (field, key), "must be a PEM string")
        if raw_end.get("local_address") is not None:
            # behind NAT: the address on the peer itself, for the conn its administrator gets (peer_config)
            end["local_address"] = _address(raw_end["local_address"], label, field + ".local_address", problems)
        if raw_end.get("pubkey") and isinstance(raw_end["pubkey"], str):
            try:
                end["pubkey"] = _keys.to_rfc3110(raw_end["pubkey"])
            except _keys.KeyProblem as exc:
                problems.add(label, field + ".pubkey", str(exc))
    else:
        problems.add(label, field, "must be an inventory hostname or a dict describing an unmanaged peer")
        return None
    if end["id"] and not ID_RE.match(end["id"]) and not _is_ip(end["id"]):
        problems.add(label, "%s id" % field, "%r is not a usable IKE ID (use @name, an IP address or a certificate's subject DN)" % end["id"])
    subnets = _subnets(raw.get(side + "_subnets"), label, side + "_subnets", problems)
    end["subnets"] = [str(n) for n in subnets]
    end["_nets"] = subnets
    sourceip = raw.get(side + "_sourceip")
    if sourceip:
        end["sourceip"] = _address(sourceip, label, side + "_sourceip", problems)
        if end["sourceip"] and not any(netaddr.IPAddress(end["sourceip"]) in n for n in subnets):
            problems.add(label, side + "_sourceip", "%s is not inside %s" % (end["sourceip"], ", ".join(end["subnets"])))
    return end


def _check_pair(left, right, label, problems):
    """What cannot be true of two ends together: the same host, address or ID, overlapping subnets (the
    seed's first rule), two address families."""
    if not left["managed"] and not right["managed"]:
        problems.add(label, "left/right", "at least one end must be a host of the inventory")
    if left.get("host") and left.get("host") == right.get("host"):
        problems.add(label, "right", "both ends are %s" % left["host"])
    if left["address"] and left["address"] == right["address"]:
        problems.add(label, "right", "both ends have the address %s" % left["address"])
    if left["id"] == right["id"]:
        problems.add(label, "right id", "both ends have the ID %s" % left["id"])
    for a in left["_nets"]:
        for b in right["_nets"]:
            if a == b:
                problems.add(label, "right_subnets", "%s is on both ends" % a)
            elif a.first <= b.last and b.first <= a.last:
                problems.add(label, "right_subnets", "%s overlaps %s of the left end (the seed's first rule: "
                             "the two sites need different networks)" % (b, a))
    if left["address"] and right["address"] and \
            netaddr.IPAddress(left["address"]).version != netaddr.IPAddress(right["address"]).version:
        problems.add(label, "right", "%s and the left end's %s are of two address families; both gateway "
                     "addresses must be IPv4 or both IPv6" % (right["address"], left["address"]))
    # one address family per tunnel: pluto pairs every left subnet with every right one, and a pair of
    # two families cannot be a Child SA; Libreswan 4.10 cannot even read an IPv6 subnet in a
    # leftsubnets= list (measured on the lab: "is not a subnet declaration")
    families = sorted(set(n.version for n in left["_nets"] + right["_nets"]))
    if len(families) > 1:
        problems.add(label, "left_subnets/right_subnets", "mixes IPv4 and IPv6 subnets (%s | %s); give each "
                     "address family a tunnel of its own" % (", ".join(map(str, left["_nets"])),
                                                             ", ".join(map(str, right["_nets"]))))
    for end, side in ((left, "left"), (right, "right")):
        if end["address"] and end["_nets"] and any(netaddr.IPAddress(end["address"]) in n for n in end["_nets"]) \
                and not end.get("local_address"):
            problems.add(label, side + "_subnets", "contains the gateway's own public address %s" % end["address"])
