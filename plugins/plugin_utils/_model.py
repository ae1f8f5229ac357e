# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private, controller side: the tunnel model, checked and normalised.

``sitevpn_tunnels`` (inventory) -> :func:`normalize` -> list of tunnels whose
every field is valid, with defaults filled in, or a :class:`ModelError` that
lists every problem, each naming the tunnel and the field. Nothing here touches
a managed host: the preflight action and the ``host_tunnels`` filter both run
on the controller, before any host is changed.

Parts of the model live in modules of their own, all private: ``_ends`` (one
end of a tunnel; address and subnet work is netaddr's, key parsing is
cryptography's, see ``_keys``), ``_topologies`` (``sitevpn_topologies`` made
into tunnels), ``_crypto_checks`` (weak algorithms and PSKs) and
``_model_base`` (what they all share). The names other code uses are
re-exported here (``__all__``): callers import ``_model`` only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import zlib

from ansible_collections.sitevpn.ipsec.plugins.module_utils._conn import NAME_RE, OPTION_KEY_RE
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _ca, _given_cert
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._crypto_checks import (
    WEAK_OPTION_PROPOSALS, WEAK_OPTION_VALUES, _crypto, psk_problem, weak_algorithms)
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._ends import (
    _check_pair, _end, _subnets, address, require_netaddr)
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._model_base import (
    TUNNEL_KEYS, ModelError, _did_you_mean, _flag, _hostvar, _Problems, _unknown_keys, strict_bool)
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._topologies import expand_topologies

# what the action, the filters and the tests use (some of it defined in the modules above)
__all__ = [
    "PROBE_KEYS", "TUNNEL_KEYS", "VARIABLES", "VARIABLE_PREFIXES", "ModelError", "address",
    "default_interface_id", "normalize", "psk_owner", "psk_pair", "psk_problem", "psk_representatives", "strict_bool",
    "unknown_variables", "weak_algorithms", "_Problems", "_hostvar", "_label",
]

# an option value that needs no quotes in a conn file; others are quoted, and a value with '"' is refused
OPTION_PLAIN_RE = re.compile(r"^[A-Za-z0-9_.,:;/%@+=*{}\[\]-]+\Z")
# keys the model owns: setting them through `options` would contradict the model
RESERVED_OPTIONS = {
    "left", "right", "leftid", "rightid", "leftsubnet", "rightsubnet", "leftsubnets", "rightsubnets",
    "leftrsasigkey", "rightrsasigkey", "authby", "auto", "ike", "esp", "ikev2", "keyexchange", "pfs",
    "dpddelay", "dpdtimeout", "dpdaction", "also", "leftnexthop", "rightnexthop", "leftsourceip", "rightsourceip",
    "leftcert", "rightcert", "leftca", "rightca", "leftsendcert", "rightsendcert",
}
AUTH_METHODS = ("rsasig", "psk", "cert")
CERT_KEY_TYPES = ("ec", "rsa")
DPD_ACTIONS = ("restart", "clear", "hold")
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
    "sitevpn_ca_dir", "sitevpn_ca_cert_file", "sitevpn_ca_key_file", "sitevpn_ca_passphrase", "sitevpn_ca_common_name",
    "sitevpn_ca_key_type", "sitevpn_cert_key_type", "sitevpn_cert_days", "sitevpn_cert_renew_share", "sitevpn_rotate_cert",
    "sitevpn_revoked_gateways", "sitevpn_revoked_serials", "sitevpn_gateway_cert_file", "sitevpn_gateway_key_file",
    "sitevpn_gateway_ca_file", "sitevpn_gateway_key_passphrase", "sitevpn_cert_id",
    # playbooks
    "sitevpn_remove_tunnel", "sitevpn_peer_config_dir", "sitevpn_precheck",
    # facts the collection sets itself
    "sitevpn_hostkey", "sitevpn_certs",
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


def _label(raw, index):
    name = raw.get("name") if isinstance(raw, dict) else None
    if not name and name != 0:
        return "#%d" % (index + 1)
    return str(name) if str(name).isprintable() else repr(str(name))   # one line per problem, always


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


def _auth(raw, tunnel, left, right, label, problems, hostvars=None):
    """auth and psk: an RSA key, a PSK or a certificate for every end that needs one, a PSK strong enough."""
    tunnel["auth"] = raw.get("auth", "rsasig")
    if tunnel["auth"] not in AUTH_METHODS:
        problems.add(label, "auth", "must be one of %s, not %r" % (", ".join(AUTH_METHODS), tunnel["auth"]))
    if tunnel["auth"] == "cert":
        _cert_auth(tunnel, left, right, label, problems, hostvars or {})
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


def _check_revoked(left, right, label, hostvars, problems):
    """A revoked gateway (sitevpn_revoked_gateways) keeps no tunnel: its certificates are on the CRL."""
    for end, side in ((left, "left"), (right, "right")):
        other = right if side == "left" else left
        if not end or not end.get("host") or not other or not other.get("host"):
            continue
        revoked = _hostvar(hostvars, other["host"], "sitevpn_revoked_gateways") or []
        if end["host"] in revoked:
            problems.add(label, side, "%s is revoked (sitevpn_revoked_gateways): remove its tunnels or set them "
                         "state: absent" % end["host"])


def _cert_peer(end, side, label, problems):
    """An unmanaged certificate peer: its CA certificate (a certificate of another CA, trusted for this
    tunnel), or its certificate request (signed by the collection's CA, handed out by peer_config.yml)."""
    given = [key for key in ("ca_cert", "csr") if end.get(key)]
    if len(given) != 1:
        problems.add(label, side, "an unmanaged peer with auth cert needs one of ca_cert (the PEM certificate of the "
                     "CA that issued its certificate) or csr (its PEM certificate request, for the collection's CA "
                     "to sign)%s" % (", not both" if len(given) == 2 else ""))
        return
    for problem in _ca.peer_problems(end.get("ca_cert"), end.get("csr")):
        problems.add(label, "%s.%s" % (side, given[0]), problem)


def _given_ids(left, right, label, hostvars, problems):
    """Ends whose gateway brings its certificate take their ID from it, before the pair is checked (two ends
    with one ID) and before own_ike_sa, which leaves such an ID as it is."""
    for end, side in ((left, "left"), (right, "right")):
        if end and end["managed"] and _given_cert.brings_cert(hostvars, end["host"]):
            for field, problem in _given_cert.end_problems(end, hostvars):
                problems.add(label, "%s (%s)" % (side, field), problem)


def _cert_id(tunnel, end, side, label, problems, hostvars):
    """The ID of an end with a certificate of the collection's CA: its subjectAltName (the end's ID, the
    default) or, with ``sitevpn_cert_id: subject``, the certificate's subject DN (one per tunnel and end)."""
    choice = _hostvar(hostvars, end["host"], "sitevpn_cert_id", "san")
    if choice not in ("san", "subject"):
        problems.add(label, "%s (sitevpn_cert_id of %s)" % (side, end["host"]), "must be san or subject, not %r" % (choice,))
    elif choice == "subject":
        end["id"] = _ca.subject_id(end["host"], tunnel["name"])


def _cert_auth(tunnel, left, right, label, problems, hostvars):
    """auth cert: the collection's CA issues both certificates, or both gateways bring theirs
    (``_given_cert``), or the peer is unmanaged; one kind of key."""
    kinds = {}
    brought = [end for end in (left, right) if end and _given_cert.brings_cert(hostvars, end["host"])]
    if brought and len(brought) < len([end for end in (left, right) if end and end["managed"]]):
        problems.add(label, "auth cert (%s)" % _given_cert.CERT_VAR, "%s brings its own certificate but %s does not: "
                     "both gateways of a certificate tunnel get theirs the same way" % (
                         brought[0]["host"], (right if brought[0] is left else left)["host"]))
    for end, side in ((left, "left"), (right, "right")):
        if not end:
            continue
        if not end["managed"]:
            _cert_peer(end, side, label, problems)
            if brought and end.get("csr"):
                problems.add(label, side + ".csr", "%s brings its own certificate, so no CA of the collection signs "
                             "requests for its peers: give the CA certificate of the peer's PKI (ca_cert)"
                             % brought[0]["host"])
            continue
        if end in brought:     # its certificate was read by _given_ids
            kinds[side] = end.get("cert_key_type", "ec")
            continue
        _cert_id(tunnel, end, side, label, problems, hostvars)
        kind = _hostvar(hostvars, end["host"], "sitevpn_cert_key_type", "ec")
        if kind not in CERT_KEY_TYPES:
            problems.add(label, "%s (sitevpn_cert_key_type of %s)" % (side, end["host"]),
                         "must be one of %s, not %r" % (", ".join(CERT_KEY_TYPES), kind))
        kinds[side] = kind
    if len(set(kinds.values())) > 1:
        problems.add(label, "right (sitevpn_cert_key_type of %s)" % right["host"],
                     "%s keys on %s but %s keys on %s: both ends of a certificate tunnel sign the same way "
                     "(authby=ecdsa or rsasig)" % (kinds["right"], right["host"], kinds["left"], left["host"]))
    tunnel["cert_key_type"] = kinds.get("left") or kinds.get("right") or "ec"


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
        for field in ("interface_id", "left_selectors", "right_selectors"):
            if raw.get(field) is not None:
                problems.add(label, field, "only a tunnel with mode: route has %s (a policy-based tunnel's "
                             "selectors are its subnets)" % ("an interface" if field == "interface_id" else field))
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
    _selectors(raw, tunnel, label, problems)
    # the keys that give _updown work, or name an interface of their own
    conflicting = sorted(set(tunnel["options"]) & UPDOWN_OPTIONS)
    if conflicting:
        problems.add(label, "options", "%s cannot be set on a route-based tunnel: mode: route runs without "
                     "Libreswan's _updown and manages the interface, its MTU (the tunnel's mtu) and its routes"
                     % ", ".join(conflicting))
    tunnel["updown"] = "auto"


def _selectors(raw, tunnel, label, problems):
    """The traffic selectors of a route-based tunnel: ``0.0.0.0/0`` (``::/0``) on both sides unless given.
    Each side's subnets must lie inside its selectors, or their packets would meet no policy."""
    nets = [n for side in ("left", "right") for n in (tunnel[side] or {}).get("_nets", [])]
    family = 6 if any(n.version == 6 for n in nets) else 4
    tunnel["selectors"] = {}
    for side in ("left", "right"):
        field = side + "_selectors"
        given = raw.get(field)
        if given is None:
            tunnel["selectors"][side] = ["::/0" if family == 6 else "0.0.0.0/0"]
            continue
        chosen = _subnets(given, label, field, problems)
        tunnel["selectors"][side] = [str(n) for n in chosen]
        if any(n.version != family for n in chosen):
            problems.add(label, field, "must be IPv%d networks like the tunnel's subnets" % family)
            continue
        outside = [str(n) for n in (tunnel[side] or {}).get("_nets", []) if chosen and not any(n in c for c in chosen)]
        if outside:
            wide = "::/0" if family == 6 else "0.0.0.0/0"
            problems.add(label, field, "%s lies outside %s: its traffic would meet no IPsec policy; widen the "
                         "selectors or leave them out (%s)" % (", ".join(outside), ", ".join(map(str, chosen)), wide))


def _check_interfaces(tunnels, problems):
    """Per gateway: every route-based tunnel has an interface number of its own, and no two route-based
    tunnels offer the same pair of selectors. Libreswan 4.10 keeps one eroute per pair of selectors whatever
    the interface: a second 0.0.0.0/0 <-> 0.0.0.0/0 tunnel is refused when its Child SA is installed
    ("cannot install eroute -- it is in use for ...", measured on a hub with two spokes), so the run would
    fail after touching the hosts. A hub's tunnels differ by the spoke's selectors (``right_selectors``)."""
    seen, pairs = {}, {}
    for tunnel in tunnels:
        if tunnel["state"] == "absent" or tunnel.get("mode") != "route" or tunnel["interface_id"] is None:
            continue
        selectors = tunnel.get("selectors") or {}
        for side, other_side in (("left", "right"), ("right", "left")):
            host = (tunnel[side] or {}).get("host")
            if not host:
                continue
            other = seen.setdefault((host, tunnel["interface_id"]), tunnel["name"])
            if other != tunnel["name"]:
                problems.add(tunnel["name"], "interface_id", "ipsec%d on %s is already tunnel %s's; give one of "
                             "them another interface_id" % (tunnel["interface_id"], host, other))
            for local in selectors.get(side, []):
                for remote in selectors.get(other_side, []):
                    other = pairs.setdefault((host, local, remote), tunnel["name"])
                    if other != tunnel["name"]:
                        problems.add(tunnel["name"], "mode", "%s already has the route-based tunnel %s with the "
                                     "selectors %s <-> %s, and Libreswan keeps one Child SA per pair of selectors "
                                     "(pluto 4.10: \"cannot install eroute -- it is in use\"); narrow one tunnel's "
                                     "selectors (left_selectors/right_selectors) or make it policy-based"
                                     % (host, other, local, remote))


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
        if raw.get("auth") == "cert":
            _given_ids(left, right, label, hostvars, problems)
        if left and right:
            _check_pair(left, right, label, problems)
        if tunnel["state"] == "present":
            _check_revoked(left, right, label, hostvars, problems)
        own = _flag(raw, "own_ike_sa", own_ike_sa, label, problems)
        if own and left and right and left["managed"] and right["managed"]:
            # Libreswan runs the Child SAs of all conns between the same two addresses and IDs under one
            # IKE SA; replacing one conn then takes the others down with it. An ID per tunnel gives each
            # tunnel its own IKE SA, so a change to one leaves the SAs of the others alone.
            for end in (left, right):
                if end["id"].startswith("@") and not end.get("given_cert"):   # a certificate's ID stays
                    end["id"] = "@%s.%s" % (tunnel["name"], end["id"][1:])
        _auth(raw, tunnel, left, right, label, problems, hostvars)
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
