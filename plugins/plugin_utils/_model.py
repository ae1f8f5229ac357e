# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private, controller side: the tunnel model, checked and normalised.

``sitevpn_tunnels`` (inventory) -> :func:`normalize` -> list of tunnels whose
every field is valid, with defaults filled in, or a :class:`ModelError` that
lists every problem, each naming the tunnel and the field. Nothing here touches
a managed host: the preflight action and the ``host_tunnels`` filter both run
on the controller, before any host is changed.

Address and subnet work is netaddr's; key parsing is cryptography's (see
``_keys``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import re
import zlib

from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean

NETADDR_IMPORT_ERROR = None
try:
    import netaddr
except ImportError as exc:  # checked where it is needed, with a message that says what to do
    netaddr = None
    NETADDR_IMPORT_ERROR = exc

from ansible_collections.sitevpn.ipsec.plugins.module_utils._conn import NAME_RE, OPTION_KEY_RE
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _keys

# \Z, not $: "$" also matches before a trailing newline, which would end the line in a conn file
ID_RE = re.compile(r"^(@[A-Za-z0-9_.:-]+|%fromcert|%any)\Z")
# an option value that needs no quotes in a conn file; others are quoted, and a value with '"' is refused
OPTION_PLAIN_RE = re.compile(r"^[A-Za-z0-9_.,:;/%@+=*{}\[\]-]+\Z")
# keys the model owns: setting them through `options` would contradict the model
RESERVED_OPTIONS = {
    "left", "right", "leftid", "rightid", "leftsubnet", "rightsubnet", "leftsubnets", "rightsubnets",
    "leftrsasigkey", "rightrsasigkey", "authby", "auto", "ike", "esp", "ikev2", "keyexchange", "pfs",
    "dpddelay", "dpdtimeout", "dpdaction", "also", "leftnexthop", "rightnexthop", "leftsourceip", "rightsourceip",
}
AUTO_VALUES = ("start", "add", "ondemand")
DPD_ACTIONS = ("restart", "clear", "hold")
MIN_PSK_BYTES = 20   # the seed: "Make them long (over 20 bytes)"

# Weak algorithms, as Libreswan spells them in ike=/esp= strings.
WEAK_TOKENS = {
    "3des": "3DES (64-bit block)", "des": "DES", "md5": "MD5", "sha1": "SHA-1", "sha": "SHA-1",
    "null": "no encryption", "modp768": "DH group 1", "modp1024": "DH group 2", "modp1536": "DH group 5",
    "dh1": "DH group 1", "dh2": "DH group 2", "dh5": "DH group 5", "dh22": "DH group 22", "dh23": "DH group 23",
    "dh24": "DH group 24", "blowfish": "Blowfish", "cast": "CAST", "aes_cbc64": "64-bit", "serpent": "Serpent",
    # Libreswan's other spellings (lib/libswan/ike_alg_*.c)
    "sha1_96": "SHA-1", "hmac_sha1": "SHA-1", "hmac_sha1_96": "SHA-1", "md5_96": "MD5", "hmac_md5": "MD5",
    "hmac_md5_96": "MD5", "3des_cbc": "3DES (64-bit block)", "des_cbc": "DES",
}
# conn keywords of `options` that carry proposals (checked like ike/esp), and values that are weak in themselves
WEAK_OPTION_PROPOSALS = ("phase2alg", "ah", "pfsgroup")
WEAK_OPTION_VALUES = {("phase2", "ah"): "AH (no encryption)", ("sha2-truncbug", "yes"): "SHA-2 truncated to 96 bits",
                      ("sha2_truncbug", "yes"): "SHA-2 truncated to 96 bits"}

TUNNEL_KEYS = {
    "name", "left", "right", "left_subnets", "right_subnets", "auth", "psk", "auto", "ike_version", "ike",
    "esp", "pfs", "dpd_delay", "dpd_timeout", "dpd_action", "initiator", "state", "options", "probe",
    "allow_weak", "left_sourceip", "right_sourceip", "own_ike_sa", "updown", "mtu", "mss_clamping", "mode",
    "interface_id",
}
MODES = ("policy", "route")
#: interface numbers a route-based tunnel may use: ipsec1 is pluto's own (4.x and 5.x create and delete a
#: device of that name to test for XFRM interfaces, and refuse them all when one exists), 0 maps to another if_id
INTERFACE_ID_RANGE = (2, 65535)
#: the smallest and largest tunnel MTU a user may give (IPv4's minimum datagram, a jumbo frame); 1280 with IPv6
MTU_RANGE = (576, 9216)
UPDOWN_VALUES = ("auto", "libreswan")
# conn keys that name an updown script or give Libreswan's _updown work to do (a route with an MTU or
# metric, a VTI or XFRM interface, NFLOG rules, client address translation, mode config): with any of
# them, `updown: auto` leaves the script on
UPDOWN_OPTIONS = {
    "leftupdown", "rightupdown", "updown", "mtu", "metric", "vti-interface", "vti-routing", "vti-shared",
    "ipsec-interface", "nflog-group", "cat", "leftcat", "rightcat", "mark", "mark-in", "mark-out",
    "leftmodecfgclient", "rightmodecfgclient", "leftmodecfgserver", "rightmodecfgserver", "modecfgdns",
    "modecfgdomains",
}
PEER_KEYS = {"name", "address", "local_address", "id", "pubkey", "nexthop"}
PROBE_KEYS = {"from", "to"}


# Every variable the collection reads (inventory, group_vars, -e); the preflight refuses other sitevpn_*
# names with a did-you-mean. Prefixes: the AWX credential's injected PSKs and the awx/ configuration.
VARIABLES = {
    # the tunnels
    "sitevpn_tunnels", "sitevpn_topologies", "sitevpn_gateway_group", "sitevpn_allow_weak_crypto", "sitevpn_own_ike_sa",
    # per gateway (host variables)
    "sitevpn_public_address", "sitevpn_local_address", "sitevpn_id", "sitevpn_nexthop", "sitevpn_subnets",
    "sitevpn_site", "sitevpn_probe_host", "sitevpn_probe_address",
    # roles
    "sitevpn_package", "sitevpn_replace_openswan", "sitevpn_config_setup", "sitevpn_manage_ipsec_conf", "sitevpn_verify",
    "sitevpn_forwarding", "sitevpn_rp_filter", "sitevpn_nat_exemption", "sitevpn_leak_guard", "sitevpn_allow_ike",
    "sitevpn_firewall_backend", "sitevpn_hostkey_bits", "sitevpn_rotate_hostkey", "sitevpn_rotate_psk", "sitevpn_prove",
    "sitevpn_up_timeout", "sitevpn_purge", "sitevpn_diagnose_capture_seconds", "sitevpn_diagnose_fail_on",
    "sitevpn_diagnose_log_since", "sitevpn_diagnose_ping_count", "sitevpn_diagnose_probe", "sitevpn_diagnose_verify",
    "sitevpn_report_dir", "sitevpn_monitor", "sitevpn_monitor_state", "sitevpn_monitor_interval",
    "sitevpn_monitor_textfile_dir", "sitevpn_monitor_install_node_exporter",
    # playbooks
    "sitevpn_remove_tunnel", "sitevpn_peer_config_dir",
    # facts the collection sets itself
    "sitevpn_hostkey",
}
VARIABLE_PREFIXES = ("sitevpn_psk_", "sitevpn_awx_")


def unknown_variables(names):
    """(name, hint) for each sitevpn_* name the collection does not read: a typo would silently mean
    the default (``sitevpn_tunnel`` runs zero tunnels)."""
    result = []
    for name in sorted(set(names)):
        if isinstance(name, str) and name.startswith("sitevpn_") and name not in VARIABLES \
                and not name.startswith(VARIABLE_PREFIXES):
            result.append((name, _did_you_mean(name, VARIABLES)))
    return result


class ModelError(Exception):
    """Every problem found, each as (tunnel, field, message)."""

    def __init__(self, problems):
        self.problems = problems
        super(ModelError, self).__init__(self.message)

    @property
    def message(self):
        lines = ["%d problem%s in sitevpn_tunnels (no host was touched):" % (
            len(self.problems), "" if len(self.problems) == 1 else "s")]
        for tunnel, field, text in self.problems:
            lines.append("  - tunnel %s, field %s: %s" % (tunnel, field, text))
        return "\n".join(lines)


class _Problems(object):
    def __init__(self):
        self.items = []

    def add(self, tunnel, field, text):
        self.items.append((tunnel, field, text))


def _did_you_mean(word, known):
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.75)
    return " (did you mean %s?)" % close[0] if close else ""


def _unknown_keys(mapping, known, label, problems, field=None, what=""):
    """Refuse keys that are not strings (YAML's on/off/yes/no and numbers) and keys the model does not
    know, with the known ones listed: a typo must not silently mean "default"."""
    for key in mapping:
        if not isinstance(key, str):
            problems.add(label, field or str(key), "the key %r is not a string: YAML reads unquoted on/off/yes/no/"
                         "true/false and numbers as other types; quote the key (known: %s)"
                         % (key, ", ".join(sorted(known))))
    unknown = sorted(k for k in mapping if isinstance(k, str) and k not in known)
    if unknown:
        hints = "".join(_did_you_mean(k, known) for k in unknown)
        problems.add(label, field or ", ".join(unknown), "unknown key(s) %s%s%s; known: %s"
                     % (", ".join(unknown), what, hints, ", ".join(sorted(known))))


def _label(raw, index):
    name = raw.get("name") if isinstance(raw, dict) else None
    if not name and name != 0:
        return "#%d" % (index + 1)
    return str(name) if str(name).isprintable() else repr(str(name))   # one line per problem, always


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


NEXTHOP_WORDS = ("%defaultroute", "%direct")


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


def strict_bool(value):
    """True/False from YAML or a string ('false' from -e is false); raises TypeError otherwise.
    For variables, which `-e key=value` hands over as strings."""
    return boolean(value, strict=True)


def _flag(mapping, key, default, label, problems):
    """A true/false field of a tunnel or topology: a YAML boolean, nothing else ("false" in quotes is a
    string, and a string would be true to Jinja). ``default`` comes from a variable (strict_bool)."""
    if key not in mapping:
        return default
    value = mapping[key]
    if not isinstance(value, bool):
        problems.add(label, key, "must be true or false (a YAML boolean, unquoted), not %r" % (value,))
        return default
    return value


def _hostvar(hostvars, host, key, default=None):
    try:
        value = hostvars[host].get(key)
    except (KeyError, AttributeError):
        return default
    return default if value is None else value


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
        problems.add(label, "%s id" % field, "%r is not a usable IKE ID (use @name or an IP address)" % end["id"])
    subnets = _subnets(raw.get(side + "_subnets"), label, side + "_subnets", problems)
    end["subnets"] = [str(n) for n in subnets]
    end["_nets"] = subnets
    sourceip = raw.get(side + "_sourceip")
    if sourceip:
        end["sourceip"] = _address(sourceip, label, side + "_sourceip", problems)
        if end["sourceip"] and not any(netaddr.IPAddress(end["sourceip"]) in n for n in subnets):
            problems.add(label, side + "_sourceip", "%s is not inside %s" % (end["sourceip"], ", ".join(end["subnets"])))
    return end


def psk_pair(tunnel):
    """Libreswan picks a PSK by the pair of IKE IDs: tunnels with the same pair share one key."""
    return tuple(sorted((tunnel["left"]["id"], tunnel["right"]["id"])))


def psk_representatives(tunnels):
    """For PSK tunnels without a given key: pair of IDs -> the tunnel whose generated key they all use."""
    chosen = {}
    for tunnel in sorted(tunnels, key=lambda t: t["name"]):
        given = tunnel.get("psk_source", "given" if tunnel.get("psk") else None) == "given"
        if tunnel.get("auth") == "psk" and not given and tunnel.get("state", "present") == "present":
            chosen.setdefault(psk_pair(tunnel), tunnel)
    return chosen


def psk_owner(tunnel):
    """The managed end that keeps a tunnel's generated PSK: left, unless left is an unmanaged peer."""
    return tunnel["left"]["host"] if tunnel["left"]["managed"] else tunnel["right"]["host"]


def weak_algorithms(proposal):
    """The weak pieces of an ike=/esp= string, as human words."""
    found = []
    for token in re.split(r"[^a-z0-9_]+", (proposal or "").lower()):
        if token in WEAK_TOKENS and WEAK_TOKENS[token] not in found:
            found.append(WEAK_TOKENS[token])
    return found


def psk_problem(psk):
    """Why a PSK is too weak, or None."""
    raw = psk.encode("utf-8") if isinstance(psk, str) else bytes(psk)
    if len(raw) < MIN_PSK_BYTES:
        return "is %d bytes; use at least %d (the seed's rule), better 32+ random bytes" % (len(raw), MIN_PSK_BYTES)
    if len(set(raw)) < 8:
        return "has only %d distinct characters; use a random key" % len(set(raw))
    for size in range(1, len(raw) // 2 + 1):
        if len(raw) % size == 0 and raw[:size] * (len(raw) // size) == raw:
            return "is one short pattern repeated; use a random key"
    if "\n" in psk or "\r" in psk:
        return "contains a line break"
    return None


def _int(raw, key, default, label, problems, minimum=0):
    value = raw.get(key, default)
    if isinstance(value, str) and re.match(r"^\s*-?[0-9]+\s*\Z", value):
        value = int(value)
    elif isinstance(value, bool) or not isinstance(value, int):
        kind = {bool: " (a boolean)", float: " (a fraction)"}.get(type(value), "")
        problems.add(label, key, "%r is not a whole number%s" % (value, kind))
        return default
    if value < minimum:
        problems.add(label, key, "must be at least %d" % minimum)
    return value


TOPOLOGY_KEYS = {"name", "hub", "spokes", "spoke_to_spoke", "mesh", "defaults"}
TOPOLOGY_OWNED_KEYS = {"name", "left", "right", "left_subnets", "right_subnets"}


def _host_subnets(host, hostvars, label, field, problems):
    subnets = _hostvar(hostvars, host, "sitevpn_subnets")
    if not subnets:
        problems.add(label, field, "host %s has no sitevpn_subnets (the LANs behind it)" % host)
        return []
    return [subnets] if isinstance(subnets, str) else list(subnets)


def _topology_probe(left, right, hostvars):
    source, target = _hostvar(hostvars, left, "sitevpn_probe_host"), _hostvar(hostvars, right, "sitevpn_probe_host")
    return {"from": source, "to": target} if source and target else None


def expand_topologies(topologies, hostvars, problems):
    """``sitevpn_topologies`` -> tunnels with unique, stable names.

    A hub and its spokes: ``<name>-<spoke>``, hub on the left, the spoke initiating (spokes are
    the ones behind NAT or dynamic links); with ``spoke_to_spoke``, each spoke's tunnel also
    carries the other spokes' subnets, so spokes reach each other through the hub.
    A full mesh of a group: ``<name>-<a>-<b>`` for every pair, in inventory-name order.
    Subnets come from each host's ``sitevpn_subnets``; ``defaults`` apply to every tunnel.
    """
    tunnels = []
    if not topologies:
        return tunnels
    if not isinstance(topologies, (list, tuple)):
        problems.add("-", "sitevpn_topologies", "must be a list")
        return tunnels
    for index, topo in enumerate(topologies):
        label = "topology %s" % ((topo.get("name") if isinstance(topo, dict) else None) or "#%d" % (index + 1))
        if not isinstance(topo, dict):
            problems.add(label, "-", "each topology must be a dict")
            continue
        _unknown_keys(topo, TOPOLOGY_KEYS, label, problems)
        spoke_to_spoke = _flag(topo, "spoke_to_spoke", False, label, problems)
        name = topo.get("name")
        if not name or not NAME_RE.match(str(name)):
            problems.add(label, "name", "%r is not usable as a tunnel name prefix" % (name,))
            continue
        defaults = topo.get("defaults") or {}
        if not isinstance(defaults, dict):
            problems.add(label, "defaults", "must be a dict of tunnel keys")
            defaults = {}
        owned = set(defaults) & TOPOLOGY_OWNED_KEYS
        if owned:
            problems.add(label, "defaults", "%s cannot be set in defaults: the topology sets them (subnets come from "
                         "each member's sitevpn_subnets)" % ", ".join(sorted(owned)))
        defaults = dict((k, v) for k, v in defaults.items() if k not in TOPOLOGY_OWNED_KEYS)
        _unknown_keys(defaults, TUNNEL_KEYS - TOPOLOGY_OWNED_KEYS, label, problems, field="defaults")
        members = []
        if ("hub" in topo) == ("mesh" in topo):
            problems.add(label, "hub/mesh", "give either hub (with spokes) or mesh (a list of hosts)")
            continue
        if "hub" in topo:
            hub, spokes = topo["hub"], topo.get("spokes") or []
            if not isinstance(spokes, (list, tuple)):
                problems.add(label, "spokes", "must be a list of inventory hosts")
                continue
            members = [hub] + list(spokes)
            if not spokes:
                problems.add(label, "spokes", "a hub needs at least one spoke")
        else:
            members = topo.get("mesh") or []
            if not isinstance(members, (list, tuple)):
                problems.add(label, "mesh", "must be a list of inventory hosts")
                continue
            members = list(members)
            if len(members) < 2:
                problems.add(label, "mesh", "a mesh needs at least two hosts")
        if not all(isinstance(m, str) for m in members):
            problems.add(label, "hub/spokes/mesh", "every member must be an inventory hostname (a string)")
            continue
        missing = [m for m in members if m not in hostvars]
        if missing:
            problems.add(label, "hub/spokes/mesh", "not in the inventory: %s" % ", ".join(map(str, missing)))
            continue
        subnets = dict((m, _host_subnets(m, hostvars, label, "sitevpn_subnets of %s" % m, problems)) for m in members)
        if "hub" in topo:
            tunnels.extend(_hub_tunnels(name, hub, spokes, subnets, spoke_to_spoke, defaults, hostvars))
        else:
            tunnels.extend(_mesh_tunnels(name, members, subnets, defaults, hostvars))
    return tunnels


def _hub_tunnels(name, hub, spokes, subnets, spoke_to_spoke, defaults, hostvars):
    """The tunnels of a checked hub-and-spoke topology: ``<name>-<spoke>``, the hub left, the spoke initiating."""
    tunnels = []
    for spoke in spokes:
        hub_side = list(subnets[hub])
        if spoke_to_spoke:
            hub_side += [n for other in spokes if other != spoke for n in subnets[other]]
        tunnel = dict({"initiator": "right", "probe": _topology_probe(spoke, hub, hostvars)}, **defaults)
        tunnel.update(name="%s-%s" % (name, spoke), left=hub, right=spoke,
                      left_subnets=hub_side, right_subnets=subnets[spoke])
        if tunnel.get("probe") is None:
            tunnel.pop("probe")
        tunnels.append(tunnel)
    return tunnels


def _mesh_tunnels(name, members, subnets, defaults, hostvars):
    """The tunnels of a checked full mesh: ``<name>-<a>-<b>`` for every pair, in inventory-name order."""
    tunnels = []
    ordered = sorted(members)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            tunnel = dict({"probe": _topology_probe(a, b, hostvars)}, **defaults)
            tunnel.update(name="%s-%s-%s" % (name, a, b), left=a, right=b,
                          left_subnets=subnets[a], right_subnets=subnets[b])
            if tunnel.get("probe") is None:
                tunnel.pop("probe")
            tunnels.append(tunnel)
    return tunnels


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


def _name(raw, index, label, names, problems):
    """The tunnel's conn name, checked (a valid and unique Libreswan conn name)."""
    name = raw.get("name")
    if isinstance(name, (bool, int, float)):
        problems.add(label, "name", "%r is not a string: YAML reads an unquoted name of digits as a number (010 "
                     "becomes 8); quote the name and start it with a letter" % (name,))
    elif not name or not isinstance(name, str) or not NAME_RE.match(name):
        problems.add(label, "name", "%r is not a valid conn name (letters, digits, '_', '.', '-'; at most 48; "
                                    "starts with a letter or digit)" % (name,))
    elif name.isdigit():
        problems.add(label, "name", "%r is all digits, which Libreswan does not take as a conn name; start it with "
                     "a letter" % name)
    elif str(name) in names:
        problems.add(label, "name", "duplicate tunnel name (also tunnel #%d)" % (names[str(name)] + 1))
    else:
        names[str(name)] = index
    return name


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


def _auth(raw, tunnel, left, right, label, problems):
    """auth and psk: an RSA key or a PSK for every end that needs one, a PSK strong enough."""
    tunnel["auth"] = raw.get("auth", "rsasig")
    if tunnel["auth"] not in ("rsasig", "psk"):
        problems.add(label, "auth", "must be rsasig or psk, not %r" % tunnel["auth"])
    tunnel["psk"] = raw.get("psk")
    if tunnel["psk"] is not None:
        if tunnel["auth"] != "psk":
            problems.add(label, "psk", "is set but auth is %s" % tunnel["auth"])
        elif not isinstance(tunnel["psk"], str):
            problems.add(label, "psk", "must be a string")
        else:
            problem = psk_problem(tunnel["psk"])
            if problem:
                problems.add(label, "psk", "the pre-shared key " + problem)
    if tunnel["auth"] == "rsasig":
        for end, side in ((left, "left"), (right, "right")):
            if end and not end["managed"] and not end["pubkey"]:
                problems.add(label, side + ".pubkey", "an unmanaged peer needs its RSA public key (0s... or PEM) "
                             "for auth rsasig, or use auth psk")
    if tunnel["auth"] == "psk" and tunnel["psk"] is None and left and right and not (left["managed"] and right["managed"]):
        problems.add(label, "psk", "a tunnel to an unmanaged peer needs its PSK given (vault it): only managed "
                     "pairs get a generated one")


def _crypto(raw, tunnel, weak_ok, label, problems, warnings):
    """auto, IKE version, proposals and PFS: modern by default, weak only when allowed, with a warning."""
    tunnel["auto"] = raw.get("auto", "start")
    if tunnel["auto"] not in AUTO_VALUES:
        problems.add(label, "auto", "must be one of %s, not %r" % (", ".join(AUTO_VALUES), tunnel["auto"]))
    tunnel["ike_version"] = raw.get("ike_version", 2)
    if isinstance(tunnel["ike_version"], bool) or tunnel["ike_version"] not in (1, 2, "1", "2"):
        problems.add(label, "ike_version", "must be 1 or 2, not %r" % (tunnel["ike_version"],))
    else:
        tunnel["ike_version"] = int(tunnel["ike_version"])
    for key in ("ike", "esp"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not re.match(r"^[A-Za-z0-9_+;,=-]+$", value)):
            problems.add(label, key, "%r is not a Libreswan proposal string (e.g. aes_gcm256-sha2_512-dh19)" % (value,))
            value = None
        tunnel[key] = value
        weak = weak_algorithms(value)
        if weak and not weak_ok:
            problems.add(label, key, "%s uses weak algorithms (%s); set allow_weak: true on the tunnel if the "
                         "peer cannot do better" % (value, ", ".join(weak)))
        elif weak:
            warnings.append("tunnel %s: %s=%s uses weak algorithms (%s), allowed by allow_weak"
                            % (label, key, value, ", ".join(weak)))
    if tunnel["ike_version"] == 1 and tunnel["ike"] and "gcm" in tunnel["ike"].lower():
        problems.add(label, "ike", "IKEv1 cannot use AES-GCM for the IKE SA; use e.g. aes256-sha2_256;modp2048")
    if tunnel["ike_version"] == 1:
        warnings.append("tunnel %s: IKEv1 is deprecated (RFC 9395); Libreswan needs ikev1-policy=accept, which "
                        "the tunnel role sets (and restarts ipsec once)" % label)
    tunnel["pfs"] = _flag(raw, "pfs", True, label, problems)
    if not tunnel["pfs"] and not weak_ok:
        problems.add(label, "pfs", "disabling PFS is weak; set allow_weak: true on the tunnel if the peer needs it")
    elif not tunnel["pfs"]:
        warnings.append("tunnel %s: PFS is off (allowed by allow_weak)" % label)


def _liveness_mtu_initiator(raw, tunnel, left, right, label, problems):
    """DPD, the tunnel MTU and MSS clamping, and which end initiates."""
    tunnel["dpd"] = {
        "delay": _int(raw, "dpd_delay", 10, label, problems),
        "timeout": _int(raw, "dpd_timeout", 60, label, problems),
        "action": raw.get("dpd_action", "restart"),
    }
    if tunnel["dpd"]["action"] not in DPD_ACTIONS:
        problems.add(label, "dpd_action", "must be one of %s" % ", ".join(DPD_ACTIONS))
    if tunnel["dpd"]["delay"] and tunnel["dpd"]["timeout"] <= tunnel["dpd"]["delay"]:
        problems.add(label, "dpd_timeout", "must be longer than dpd_delay (%s)" % tunnel["dpd"]["delay"])
    # the largest packet that crosses the tunnel, for TCP MSS clamping of forwarded SYNs (the firewall
    # role); without it the gateway computes it from its WAN MTU and the ESP overhead of the proposals
    tunnel["mss_clamping"] = _flag(raw, "mss_clamping", True, label, problems)
    tunnel["mtu"] = None
    if raw.get("mtu") is not None:
        tunnel["mtu"] = _int(raw, "mtu", None, label, problems)
        ipv6 = any(":" in subnet for end in (left, right) if end for subnet in end.get("subnets") or [])
        low = 1280 if ipv6 else MTU_RANGE[0]
        if tunnel["mtu"] is not None and not low <= tunnel["mtu"] <= MTU_RANGE[1]:
            problems.add(label, "mtu", "%s is not between %d and %d%s" % (
                tunnel["mtu"], low, MTU_RANGE[1], " (IPv6 subnets need 1280, RFC 8200)" if ipv6 else ""))
            tunnel["mtu"] = None
    natted = [side for side, end in (("left", left), ("right", right)) if end and end.get("local_address")]
    # behind NAT, only the NATed end can open the way (its NAT box has no port forward for IKE)
    tunnel["initiator"] = raw.get("initiator", natted[0] if len(natted) == 1 else "left")
    if tunnel["initiator"] not in ("left", "right"):
        problems.add(label, "initiator", "must be left or right")
    elif left and right and not tunnel[tunnel["initiator"]]["managed"]:
        # the managed end initiates when the other one is an appliance we do not run
        tunnel["initiator"] = "right" if tunnel["initiator"] == "left" else "left"


def _options(raw, tunnel, weak_ok, label, problems, warnings):
    """Extra conn keys (never one the model sets, never a line break or a quote) and updown."""
    options = raw.get("options") or {}
    if not isinstance(options, dict):
        problems.add(label, "options", "must be a dict of extra conn keys")
        options = {}
    tunnel["options"] = {}
    for key, value in options.items():
        if not isinstance(key, str) or not OPTION_KEY_RE.match(key):
            problems.add(label, "options", "%r is not a conn keyword" % (key,))
            continue
        if key in RESERVED_OPTIONS:
            problems.add(label, "options", "%s is set by the model (use the tunnel's own field)" % key)
            continue
        if isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, (str, int)) and not isinstance(value, float):
            text = str(value)
        else:
            problems.add(label, "options", "value of %s must be a string, a whole number or true/false, not %s"
                         % (key, type(value).__name__))
            continue
        if "\n" in text or "\r" in text:
            problems.add(label, "options", "value of %s contains a line break" % key)
        elif '"' in text or not text.isprintable() or not text.strip():
            problems.add(label, "options", "value of %s must be printable text without '\"' (a conn file cannot "
                         "carry it)" % key)
        else:
            weak = weak_algorithms(text) if key in WEAK_OPTION_PROPOSALS else []
            if (key, text.lower()) in WEAK_OPTION_VALUES:
                weak.append(WEAK_OPTION_VALUES[(key, text.lower())])
            if weak and not weak_ok:
                problems.add(label, "options", "%s=%s uses weak algorithms (%s); set allow_weak: true on the tunnel "
                             "if the peer cannot do better" % (key, text, ", ".join(weak)))
            elif weak:
                warnings.append("tunnel %s: %s=%s uses weak algorithms (%s), allowed by allow_weak"
                                % (label, key, text, ", ".join(weak)))
            # a value with spaces is one value to Libreswan only in quotes
            tunnel["options"][key] = text if OPTION_PLAIN_RE.match(text) else '"%s"' % text
    tunnel["updown"] = raw.get("updown", "auto")
    if tunnel["updown"] not in UPDOWN_VALUES:
        problems.add(label, "updown", "must be one of %s, not %r (a script of your own goes in options as "
                     "leftupdown/rightupdown)" % (", ".join(UPDOWN_VALUES), tunnel["updown"]))
    elif UPDOWN_OPTIONS & set(tunnel["options"]):
        tunnel["updown"] = "libreswan"


def default_interface_id(name):
    """The XFRM interface number of a route-based tunnel that names none: from its name, so it stays the
    same whatever other tunnels come and go (ipsec1000 ... ipsec9999)."""
    return 1000 + zlib.crc32(name.encode("utf-8")) % 9000


def _mode(raw, tunnel, label, problems):
    """Policy-based (a Child SA per pair of subnets) or route-based (one XFRM interface ``ipsec<N>`` per
    tunnel, a 0/0 Child SA, routes deciding what goes in)."""
    tunnel["mode"] = raw.get("mode", "policy")
    tunnel["interface_id"] = None
    if tunnel["mode"] not in MODES:
        problems.add(label, "mode", "must be policy or route, not %r" % (tunnel["mode"],))
        return
    if tunnel["mode"] != "route":
        if raw.get("interface_id") is not None:
            problems.add(label, "interface_id", "only a tunnel with mode: route has an interface")
        return
    number = _int(raw, "interface_id", default_interface_id(tunnel["name"]), label, problems)
    if number is not None and not INTERFACE_ID_RANGE[0] <= number <= INTERFACE_ID_RANGE[1]:
        problems.add(label, "interface_id", "%s is not between %d and %d (ipsec1 is Libreswan's own test device)"
                     % (number, INTERFACE_ID_RANGE[0], INTERFACE_ID_RANGE[1]))
    tunnel["interface_id"] = number
    if tunnel["ike_version"] == 1:
        problems.add(label, "mode", "route-based tunnels need IKEv2 (ike_version: 2)")
    if not all(end and end["managed"] for end in (tunnel["left"], tunnel["right"])):
        # peer_config.yml would hand an appliance the subnets, not the 0.0.0.0/0 selectors it must offer
        problems.add(label, "mode", "route-based tunnels need both ends in the inventory for now; a tunnel to "
                     "an unmanaged peer is policy-based")
    if raw.get("updown") == "libreswan":
        problems.add(label, "updown", "a route-based tunnel runs without Libreswan's _updown (the collection keeps "
                     "the interface and its routes); leave updown at auto")
    # the keys that give _updown work, or name an interface of their own
    conflicting = sorted(set(tunnel["options"]) & UPDOWN_OPTIONS)
    if conflicting:
        problems.add(label, "options", "%s cannot be set on a route-based tunnel: mode: route runs without "
                     "Libreswan's _updown and manages the interface, its MTU (the tunnel's mtu) and its routes"
                     % ", ".join(conflicting))
    tunnel["updown"] = "auto"


def _check_interfaces(tunnels, problems):
    """Per gateway: every route-based tunnel has an interface number of its own."""
    seen = {}
    for tunnel in tunnels:
        if tunnel["state"] == "absent" or tunnel.get("mode") != "route" or tunnel["interface_id"] is None:
            continue
        for side in ("left", "right"):
            host = (tunnel[side] or {}).get("host")
            if not host:
                continue
            other = seen.setdefault((host, tunnel["interface_id"]), tunnel["name"])
            if other != tunnel["name"]:
                problems.add(tunnel["name"], "interface_id", "ipsec%d on %s is already tunnel %s's; give one of "
                             "them another interface_id" % (tunnel["interface_id"], host, other))


def _probe(raw, label, hostvars, problems):
    """The ping that proves the tunnel: from a LAN host of the inventory to a host or address."""
    probe = raw.get("probe")
    if probe is not None:
        if not isinstance(probe, dict) or "from" not in probe or "to" not in probe:
            problems.add(label, "probe", "must be a dict with `from` (a LAN host of the inventory) and `to` "
                         "(a LAN host or an address behind the other end)")
            probe = None
        else:
            _unknown_keys(probe, PROBE_KEYS, label, problems, field="probe")
            if not isinstance(probe["from"], str) or probe["from"] not in hostvars:
                problems.add(label, "probe.from", "host %r is not in the inventory" % (probe["from"],))
            if not isinstance(probe["to"], str) or probe["to"] not in hostvars and address(probe["to"]) is None:
                problems.add(label, "probe.to", "%r is neither a host of the inventory nor an IP address"
                             % (probe["to"],))
    return probe


def normalize(tunnels, hostvars, allow_weak=False, topologies=None, own_ike_sa=True):
    """Check ``sitevpn_tunnels`` (and ``sitevpn_topologies``) against the inventory.

    Returns (normalised tunnels, warnings), or raises ModelError listing every problem.
    """
    require_netaddr()
    problems = _Problems()
    warnings = []
    for variable, value in (("sitevpn_own_ike_sa", own_ike_sa), ("sitevpn_allow_weak_crypto", allow_weak)):
        try:
            strict_bool(value)
        except TypeError:
            problems.add("-", variable, "must be true or false, not %r" % (value,))
    if problems.items:
        raise ModelError(problems.items)
    own_ike_sa, allow_weak = strict_bool(own_ike_sa), strict_bool(allow_weak)
    if tunnels is None:
        tunnels = []
    if not isinstance(tunnels, (list, tuple)):
        raise ModelError([("-", "sitevpn_tunnels", "must be a list of tunnels, not %s" % type(tunnels).__name__)])
    tunnels = list(tunnels) + expand_topologies(topologies, hostvars, problems)
    result = []
    names = {}
    for index, raw in enumerate(tunnels):
        label = _label(raw, index)
        if not isinstance(raw, dict):
            problems.add(label, "-", "each tunnel must be a dict, not %s" % type(raw).__name__)
            continue
        _unknown_keys(raw, TUNNEL_KEYS, label, problems)
        name = _name(raw, index, label, names, problems)
        tunnel = {"name": str(name)}
        tunnel["state"] = raw.get("state", "present")
        if tunnel["state"] not in ("present", "absent"):
            problems.add(label, "state", "must be present or absent, not %r" % tunnel["state"])
        left = _end(raw.get("left"), "left", raw, label, hostvars, problems)
        right = _end(raw.get("right"), "right", raw, label, hostvars, problems)
        tunnel["left"], tunnel["right"] = left, right
        if left and right:
            _check_pair(left, right, label, problems)
        own = _flag(raw, "own_ike_sa", own_ike_sa, label, problems)
        if own and left and right and left["managed"] and right["managed"]:
            # Libreswan runs the Child SAs of all conns between the same two addresses and IDs under one
            # IKE SA; replacing one conn then takes the others down with it. An ID per tunnel gives each
            # tunnel its own IKE SA, so a change to one leaves the SAs of the others alone.
            for end in (left, right):
                if end["id"].startswith("@"):
                    end["id"] = "@%s.%s" % (tunnel["name"], end["id"][1:])
        _auth(raw, tunnel, left, right, label, problems)
        weak_ok = _flag(raw, "allow_weak", allow_weak, label, problems) is True
        _crypto(raw, tunnel, weak_ok, label, problems, warnings)
        _liveness_mtu_initiator(raw, tunnel, left, right, label, problems)
        _options(raw, tunnel, weak_ok, label, problems, warnings)
        _mode(raw, tunnel, label, problems)
        probe = _probe(raw, label, hostvars, problems)
        tunnel["probe"] = probe
        result.append(tunnel)

    _check_across(result, problems)
    _check_psk_pairs(result, problems)
    _check_interfaces(result, problems)
    if problems.items:
        raise ModelError(problems.items)
    for tunnel in result:
        for side in ("left", "right"):
            if tunnel[side]:
                tunnel[side].pop("_nets", None)
    return result, warnings


def _check_psk_pairs(tunnels, problems):
    """Given PSKs of tunnels between the same two IKE IDs must be the same key."""
    seen = {}
    for tunnel in tunnels:
        if tunnel.get("auth") != "psk" or tunnel["state"] != "present" or not tunnel["left"] or not tunnel["right"]:
            continue
        pair = psk_pair(tunnel)
        if pair in seen:
            first = seen[pair]
            if (first["psk"] or None) != (tunnel["psk"] or None):
                problems.add(tunnel["name"], "psk", "tunnel %s connects the same IKE IDs (%s, %s) and Libreswan keeps one "
                             "PSK per pair of IDs: give both the same psk (or leave both unset)"
                             % (first["name"], pair[0], pair[1]))
        else:
            seen[pair] = tunnel


def _check_across(tunnels, problems):
    """Per gateway: no remote subnet may overlap a local one or another tunnel's remote one."""
    per_host = {}
    for tunnel in tunnels:
        if tunnel["state"] == "absent" or not tunnel["left"] or not tunnel["right"]:
            continue
        for side, other in (("left", "right"), ("right", "left")):
            host = tunnel[side].get("host")
            if host:
                per_host.setdefault(host, []).append((tunnel, tunnel[side]["_nets"], tunnel[other]["_nets"], other))
    for host, entries in sorted(per_host.items()):
        for i, (t1, local1, remote1, side1) in enumerate(entries):
            for t2, local2, remote2, side2 in entries[i + 1:]:
                if t1["name"] == t2["name"]:
                    continue
                for a in remote1:
                    for b in remote2:
                        if a.first <= b.last and b.first <= a.last:
                            problems.add(t2["name"], side2 + "_subnets",
                                         "%s overlaps %s, which %s already reaches through tunnel %s"
                                         % (b, a, host, t1["name"]))
                    for b in local2:
                        if a.first <= b.last and b.first <= a.last and not _transit(a, b):
                            problems.add(t1["name"], side1 + "_subnets",
                                         "%s overlaps %s, a local subnet of %s in tunnel %s" % (a, b, host, t2["name"]))
                for a in local1:
                    for b in remote2:
                        if a.first <= b.last and b.first <= a.last and not _transit(a, b):
                            problems.add(t2["name"], side2 + "_subnets",
                                         "%s overlaps %s, a local subnet of %s in tunnel %s" % (b, a, host, t1["name"]))


def _transit(a, b):
    """A hub announces a spoke's LAN to the other spokes: the same subnet, local in one
    tunnel and remote in another, is deliberate transit, not a conflict."""
    return a == b
