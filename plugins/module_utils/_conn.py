# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: a tunnel, as data, turned into Libreswan's files.

The input is one *resolved* tunnel as the ``host_tunnels`` filter produces it
on the controller: both sides with addresses, IDs, subnets and public keys
already looked up. Rendering is pure (no I/O) so that a unit test can follow a
tunnel from inventory to the exact text pluto reads.

Both ends render the same ``conn`` (the seed: "the net-to-net subsections must
be the same ... for both the left- and right-hand side"). Two things differ by
host, on purpose: the Libreswan dialect (4.x ``ikev2=``, 5.x ``keyexchange=``,
no ``dpdaction`` in 5.x; IKEv2's DPD timeout is ``retransmit-timeout=``, not ``dpdtimeout=``) and, behind NAT, the NATed gateway's own address
(it must see its local address to orient itself, its peer the public one).

Not a public API.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import ipaddress
import re

MARKER = "# Managed by sitevpn.ipsec"
CONF_DIR = "/etc/ipsec.d"

# Modern defaults: IKEv2, AES-GCM, SHA-2 PRF, ECP groups first, MODP2048 last for old peers.
DEFAULT_IKE_V2 = "aes_gcm256-sha2_512+sha2_256-dh19+dh20+dh31+dh14"
DEFAULT_ESP_V2 = "aes_gcm256"
# IKEv1 has no AEAD for the IKE SA.
#: Libreswan's retransmit-timeout (4.x and 5.x): also how long IKEv2 liveness waits before the peer is dead
DEFAULT_RETRANSMIT_TIMEOUT = 60
DEFAULT_IKE_V1 = "aes256-sha2_256;modp2048"
DEFAULT_ESP_V1 = "aes256-sha2_256"

# the one home of a tunnel's name and option-key patterns: the controller's model (plugin_utils/_model.py)
# checks against these before any host is touched, the gateway code again on arrival (\Z: no trailing newline)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}\Z")
OPTION_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]*\Z")


def conf_path(name):
    return "%s/%s.conf" % (CONF_DIR, name)


def secrets_path(name):
    return "%s/%s.secrets" % (CONF_DIR, name)


def _yes(value):
    return "yes" if value else "no"


def _subnet_lines(side, subnets):
    if len(subnets) == 1:
        return ["%ssubnet=%s" % (side, subnets[0])]
    # several subnets: pluto builds one sub-connection per pair, NAME/1x1, NAME/1x2, ...
    return ["%ssubnets=%s" % (side, ",".join(subnets))]


def quoted_id(ident):
    """An IKE ID as ipsec.conf and swanctl.conf take it: a subject DN (commas, spaces) in double quotes."""
    return '"%s"' % ident if ident and "=" in ident else ident


def _side_lines(tunnel, side, local):
    end = tunnel[side]
    address = end["address"]
    if side == local and end.get("local_address"):
        address = end["local_address"]   # behind NAT: the address on the box
    lines = ["%s=%s" % (side, address), "%sid=%s" % (side, quoted_id(end["id"]))]
    if is_route_based(tunnel):
        # route-based: the widest selectors of the tunnel's family (or the given ones); routes into the
        # interface choose what goes in
        lines += _subnet_lines(side, selectors(tunnel, side))
    else:
        lines += _subnet_lines(side, end["subnets"])
    if tunnel["auth"] == "rsasig":
        lines.append("%srsasigkey=%s" % (side, end["pubkey"]))
    elif tunnel["auth"] == "cert" and side == local:
        # our certificate (NSS nickname), sent whole: the peer needs only the CA to check it
        lines += ["%scert=%s" % (side, cert_nickname(tunnel)), "%ssendcert=always" % side]
    elif tunnel["auth"] == "cert":
        # the peer's certificate must come from the CA that issued ours (the one the collection keeps), named:
        # pluto resolves %same when the conn is added, so a new CA would not reach a conn that is only
        # reread (measured on 5.2 during a CA rotation: "no certificate matched"); a named CA changes the
        # conn itself, which is then replaced
        ca = end.get("ca_dn") or (tunnel[local].get("cert") or {}).get("ca_dn")   # the peer's own CA, or ours
        lines.append('%sca="%s"' % (side, ca) if ca and '"' not in ca else "%sca=%%same" % side)
    if end.get("nexthop"):
        lines.append("%snexthop=%s" % (side, end["nexthop"]))
    if end.get("sourceip"):
        lines.append("%ssourceip=%s" % (side, end["sourceip"]))
    if side == local and (tunnel.get("updown_disabled") or is_route_based(tunnel)):
        lines.append("%supdown=%%disabled" % side)
    return lines


GIVEN_CERT_NICKNAME = "sitevpn-gateway"


def cert_nickname(tunnel, side=None):
    """NSS nickname of this end's certificate for *tunnel*: one certificate per tunnel and end, or the one
    the gateway brings for all its tunnels (``given_cert``)."""
    side = side or tunnel.get("local")
    if side and (tunnel.get(side) or {}).get("given_cert"):
        return GIVEN_CERT_NICKNAME
    return "sitevpn-%s" % tunnel["name"]


AUTHBY = {"psk": "secret", "rsasig": "rsasig"}
CERT_AUTHBY = {"ec": "ecdsa", "rsa": "rsasig"}   # 4.10 cannot sign with an EC key under authby=rsasig


def authby(tunnel):
    if tunnel["auth"] == "cert":
        return CERT_AUTHBY[tunnel.get("cert_key_type") or "ec"]
    return AUTHBY[tunnel["auth"]]


CERT_LINE = "# Certificate "


def certificate_only(old, new):
    """Whether two texts of a conn differ in the certificate's serial line alone (a renewed certificate)."""
    if old is None or new is None or old == new:
        return False

    def rest(text):
        return [line for line in text.splitlines() if not line.startswith(CERT_LINE)]
    return rest(old) == rest(new)


def is_route_based(tunnel):
    return tunnel.get("mode") == "route"


def interface_name(tunnel):
    """The XFRM interface of a route-based tunnel (Libreswan's ``ipsec-interface=N`` is device ``ipsecN``)."""
    return "ipsec%d" % tunnel["interface_id"]


def wide_selector(tunnel):
    """``0.0.0.0/0`` or ``::/0``: the family of the tunnel's subnets (one family per tunnel)."""
    subnets = tunnel["left"]["subnets"] + tunnel["right"]["subnets"]
    return "::/0" if any(":" in subnet for subnet in subnets) else "0.0.0.0/0"


def selectors(tunnel, side):
    """The traffic selectors a route-based tunnel offers on *side*: ``left_selectors``/``right_selectors``
    when given (a hub's tunnels narrow the spoke's side), else ``0.0.0.0/0`` or ``::/0``."""
    return (tunnel.get("selectors") or {}).get(side) or [wide_selector(tunnel)]


def updown_needed(tunnel, routes):
    """Why this end needs Libreswan's ``_updown`` (a sentence), or None when pluto can go without it.

    For a conn without a source IP, MTU, VTI, NFLOG or mode config (``updown: auto`` knows the keys),
    the stock script only reads state - unless the route to the peer's subnet is refused ("No route to
    host": an unreachable route), then it adds one via the next hop. Yet pluto forks it three times
    per Child SA and waits for it. So it stays off only where a shorter unicast route (the default
    route, a summary) carries every remote subnet and no refusing route covers one. Routes of exactly
    the remote prefix are left out of the decision: they may be the script's own, and counting them
    would flip the decision on the next run. ``routes`` is :func:`_routes.parse_routes` of the main table.
    """
    if tunnel.get("updown", "auto") != "auto":
        return "updown: %s" % tunnel.get("updown")
    if is_route_based(tunnel):
        return None     # the firewall module keeps the interface and its routes
    local = tunnel["local"]
    if tunnel[local].get("sourceip"):
        return "a source IP (the script adds the address and the route)"
    remote = tunnel["right" if local == "left" else "left"]
    for subnet in remote.get("subnets") or []:
        net = ipaddress.ip_network(u"%s" % subnet, strict=False)
        covering = [(kind, prefix) for kind, prefix in routes
                    if prefix.version == net.version and net.subnet_of(prefix)]
        refusing = [(kind, prefix) for kind, prefix in covering if kind != "unicast"]
        if refusing:
            return "the %s route %s covers %s" % (refusing[0][0], refusing[0][1], subnet)
        if not any(prefix.prefixlen < net.prefixlen for kind, prefix in covering):
            return "no route on this gateway carries %s" % subnet
    return None


def render_conn(tunnel, major):
    """The ``conn`` section for Libreswan ``major`` (4 or 5), as one string."""
    v1 = int(tunnel.get("ike_version", 2)) == 1
    lines = _side_lines(tunnel, "left", tunnel["local"]) + _side_lines(tunnel, "right", tunnel["local"])
    lines.append("authby=%s" % authby(tunnel))
    if major >= 5:
        lines.append("keyexchange=%s" % ("ikev1" if v1 else "ikev2"))
    else:
        lines.append("ikev2=%s" % _yes(not v1))
    lines.append("ike=%s" % (tunnel.get("ike") or (DEFAULT_IKE_V1 if v1 else DEFAULT_IKE_V2)))
    lines.append("esp=%s" % (tunnel.get("esp") or (DEFAULT_ESP_V1 if v1 else DEFAULT_ESP_V2)))
    lines.append("pfs=%s" % _yes(tunnel.get("pfs", True)))
    dpd = tunnel.get("dpd") or {}
    options = tunnel.get("options") or {}
    if dpd.get("delay"):
        lines.append("dpddelay=%s" % dpd["delay"])
        timeout = dpd.get("timeout", 60)
        if v1:
            lines.append("dpdtimeout=%s" % timeout)
        elif timeout != DEFAULT_RETRANSMIT_TIMEOUT and "retransmit-timeout" not in options:
            # IKEv2 liveness declares the peer dead after retransmit-timeout (4.10 warns "dpdtimeout= ignored")
            lines.append("retransmit-timeout=%ss" % timeout)
        if major < 5:     # 5.x: "obsolete keyword ignored: dpdaction"
            lines.append("dpdaction=%s" % dpd.get("action", "restart"))
    if is_route_based(tunnel):
        # the firewall module created the interface before pluto (at boot: sitevpn-ipsec-routes.service);
        # pluto uses a device that exists and leaves it in place when it stops
        lines.append("ipsec-interface=%d" % tunnel["interface_id"])
    for key in sorted(tunnel.get("options") or {}):
        lines.append("%s=%s" % (key, tunnel["options"][key]))
    lines.append("auto=%s" % tunnel.get("auto", "start"))
    peer = tunnel["right" if tunnel["local"] == "left" else "left"]
    header = [
        '%s: tunnel "%s" (%s <-> %s).' % (MARKER, tunnel["name"], tunnel["left"].get("host") or tunnel["left"]["address"],
                                          tunnel["right"].get("host") or tunnel["right"]["address"]),
        "# Written for Libreswan %d.x on this host; the peer %s holds the same conn. Edits are overwritten."
        % (major, peer.get("host") or peer["address"]),
    ]
    cert = tunnel[tunnel["local"]].get("cert") if tunnel["auth"] == "cert" else None
    if cert:
        # a renewed certificate changes this line, so the conn is replaced and loads the new certificate
        header.append(CERT_LINE + "%s: serial %s, valid until %s." % (
            cert_nickname(tunnel), cert["serial"], cert["not_after"]))
    return "\n".join(header + ["conn %s" % tunnel["name"]] + ["    " + line for line in lines]) + "\n"


def render_secrets(tunnel):
    """``ipsec.secrets`` lines for a PSK tunnel (None for rsasig).

    The key is written base64-encoded (``0s...``): any byte is safe, nothing
    needs quoting, and a casual look at the file does not show it.
    """
    if tunnel["auth"] != "psk":
        return None
    return '%s: tunnel "%s". Mode 0600.\n%s %s : PSK %s\n' % (
        MARKER, tunnel["name"], tunnel["left"]["id"], tunnel["right"]["id"], psk_0s(tunnel["psk"]))


def psk_0s(psk):
    """A PSK in ipsec.secrets' base64 form (``0s...``), which carries any byte."""
    return "0s" + base64.b64encode(psk.encode("utf-8")).decode("ascii")


def sub_connections(tunnel):
    """Names pluto gives the tunnel's connections: NAME, or NAME/1x1 ... for several subnets."""
    left, right = tunnel["left"]["subnets"], tunnel["right"]["subnets"]
    if is_route_based(tunnel):
        left, right = selectors(tunnel, "left"), selectors(tunnel, "right")
    if len(left) == 1 and len(right) == 1:
        return [tunnel["name"]]
    lcount = len(left) if len(left) > 1 else 0
    rcount = len(right) if len(right) > 1 else 0
    names = []
    for i in range(1, lcount + 1) if lcount else [0]:
        for j in range(1, rcount + 1) if rcount else [0]:
            names.append("%s/%dx%d" % (tunnel["name"], i, j))
    return names


def keys_in_conf(text):
    """The RSA public keys a conn file of ours names, by side (``{"left": "0s...", "right": ...}``)."""
    found = re.findall(r"^    (left|right)rsasigkey=(\S+)$", text or "", re.M)
    return dict(found)


def is_managed(text):
    return bool(text) and MARKER in text.split("\n", 1)[0]


def is_initiator(tunnel):
    return tunnel.get("initiator", "left") == tunnel["local"]


def previous_tunnel(current, name, conf_text):
    """The tunnel as a restored conn file describes it (subnets and auto may differ from ``current``)."""
    tunnel = copy.deepcopy(current) if current else {"name": name, "local": "left", "initiator": "left",
                                                     "left": {}, "right": {}}
    for line in conf_text.splitlines():
        key, _sep, value = line.strip().partition("=")
        for side in ("left", "right"):
            if key in (side + "subnet", side + "subnets"):
                tunnel[side] = dict(tunnel.get(side) or {}, subnets=value.split(","))
        if key == "auto":
            tunnel["auto"] = value
    tunnel["state"] = "present"
    return tunnel
