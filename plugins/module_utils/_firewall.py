# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the gateway's packet filter and kernel settings for its tunnels, as text.

Pure functions: from the resolved tunnels of a gateway to

- the sysctl settings Libreswan needs (forwarding on, ICMP redirects off,
  reverse-path filter as configured),
- one shell script that installs the filter rules with the chosen backend.
  The same script runs now (from the module) and at every boot (from the
  ``sitevpn-ipsec-firewall`` unit), so what was tested is what boots.

The rules: IKE (UDP 500, 4500) and ESP accepted from the peers, forwarding of
the tunnels' subnet pairs accepted when IPsec-protected and dropped when not
(the leak guard: while pluto is down, at boot or after a crash, traffic
between the sites must not go out in clear), and the seed's NAT
exemption (``-d ! remote`` on the MASQUERADE rule, "done properly"): traffic
from a local subnet to a remote subnet of a tunnel is never masqueraded,
whatever MASQUERADE rules the host has, because it is decided first:

- nftables: an identity SNAT in our own table at priority srcnat-50; once a
  connection has a NAT binding, later NAT chains (any MASQUERADE) are skipped;
- iptables: our chain jumped to from position 1 of nat POSTROUTING, ACCEPTing
  the pair before any rule below it (any MASQUERADE) is reached.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import re

# the same marker as _conn.MARKER (a unit test says so): this file stays self-contained, the nftables
# integration test loads it by path
MARKER = "# Managed by sitevpn.ipsec"

SYSCTL_FILE = "/etc/sysctl.d/60-sitevpn-ipsec.conf"
SCRIPT = "/usr/local/sbin/sitevpn-ipsec-firewall"
UNIT = "/etc/systemd/system/sitevpn-ipsec-firewall.service"
ROUTES_SCRIPT = "/usr/local/sbin/sitevpn-ipsec-routes"
ROUTES_UNIT = "/etc/systemd/system/sitevpn-ipsec-routes.service"
NFT_TABLE = "sitevpn_ipsec"


def _family(cidr):
    return 6 if ":" in cidr else 4


def remote_end(tunnel):
    """The end of a resolved tunnel that is not this gateway."""
    return tunnel["right" if tunnel["local"] == "left" else "left"]


def exempt_interfaces(tunnels):
    """(tunnel, interface, family) of each present route-based tunnel: what leaves by its interface is exempt
    from NAT, also for subnets routed into it later (a routing daemon's)."""
    interfaces, found = route_interfaces(tunnels), {}
    for name, lnet, _rnet, _peer in pairs(tunnels):
        if name in interfaces:
            found.setdefault(name, (name, interfaces[name], _family(lnet)))
    return list(found.values())


def pairs(tunnels):
    """(tunnel, local subnet, remote subnet, peer address) for every present tunnel."""
    result = []
    for tunnel in tunnels:
        if tunnel.get("state", "present") == "absent":
            continue
        local = tunnel[tunnel["local"]]
        remote = remote_end(tunnel)
        for lnet in local["subnets"]:
            for rnet in remote["subnets"]:
                if _family(lnet) == _family(rnet):
                    result.append((tunnel["name"], lnet, rnet, remote["address"]))
    return result


def route_interface(tunnel):
    """``ipsec<N>`` of a route-based tunnel (as :func:`_conn.interface_name`), None for a policy-based one."""
    return "ipsec%d" % tunnel["interface_id"] if tunnel.get("mode") == "route" else None


def route_interfaces(tunnels):
    """Tunnel name -> its XFRM interface, for the present route-based tunnels."""
    return dict((t["name"], route_interface(t)) for t in tunnels
                if t.get("state", "present") != "absent" and route_interface(t))


def peers(tunnels):
    found = []
    for tunnel in tunnels:
        if tunnel.get("state", "present") == "absent":
            continue
        remote = remote_end(tunnel)
        if remote["address"] and remote["address"] not in found:
            found.append(remote["address"])
    return found


def sysctls(interfaces, forwarding=True, rp_filter=0, ipv6_wan=None):
    """Wanted kernel settings: {key: value} (keys as under /proc/sys, dots).

    *ipv6_wan*: None when no tunnel of the gateway carries IPv6 subnets (IPv6 is left alone), else the
    interfaces toward the peers. IPv6 forwarding is then turned on too, and on those interfaces router
    advertisements stay accepted (``accept_ra = 2``): a host that forwards ignores them otherwise, and a
    WAN configured by SLAAC would lose its IPv6 default route.
    """
    wanted = {"net.ipv4.ip_forward": "1" if forwarding else "0"}
    for scope in ["all", "default"] + sorted(interfaces):
        wanted["net.ipv4.conf.%s.send_redirects" % scope] = "0"
        wanted["net.ipv4.conf.%s.accept_redirects" % scope] = "0"
        if rp_filter is not None:
            wanted["net.ipv4.conf.%s.rp_filter" % scope] = str(rp_filter)
    if ipv6_wan is not None:
        wanted["net.ipv6.conf.all.forwarding"] = "1" if forwarding else "0"
        for scope in ["all", "default"]:
            wanted["net.ipv6.conf.%s.accept_redirects" % scope] = "0"
        if forwarding:
            for interface in sorted(ipv6_wan):
                wanted["net.ipv6.conf.%s.accept_ra" % interface] = "2"
    return wanted


# ESP in tunnel mode, per cipher of a proposal: (IV bytes, block the padding rounds up to, ICV bytes of an AEAD
# cipher); RFC 4303 (ESP), 4106 (AES-GCM), 4309 (AES-CCM), 7634 (ChaCha20-Poly1305), 3686 (AES-CTR), 3602 (CBC)
_AEAD = (("chacha20_poly1305", 8, 4, 16), ("aes_gcm_a", 8, 4, 8), ("aes_gcm_b", 8, 4, 12), ("aes_ccm_a", 8, 4, 8),
         ("aes_ccm_b", 8, 4, 12), ("aes_gcm", 8, 4, 16), ("aes_ccm", 8, 4, 16))
_CIPHERS = (("aes_ctr", 8, 4), ("3des", 8, 8), ("null", 0, 4), ("aes", 16, 16), ("camellia", 16, 16))
# ICV of the integrity algorithm (truncated HMACs, RFC 4868 for SHA-2)
_INTEG = (("sha2_512", 32), ("sha2_384", 24), ("sha2", 16), ("sha1", 12), ("sha", 12), ("md5", 12),
          ("aes_xcbc", 12), ("aes_cmac", 12))
#: what the collection proposes when a tunnel has no ``esp`` (_conn.DEFAULT_ESP_V2 and _V1; a test ties them)
DEFAULT_ESP = "aes_gcm256"
DEFAULT_ESP_V1 = "aes256-sha2_256"


def _esp_sizes(proposal):
    """(IV, block, ICV) of one ESP proposal ('aes_gcm256', 'aes256-sha2_512;modp3072'); the largest that
    Libreswan could pick for what it does not know."""
    algorithms = proposal.split(";")[0].strip().lower().split("-")
    cipher, integ = algorithms[0], algorithms[1] if len(algorithms) > 1 else ""
    for prefix, iv, block, icv in _AEAD:
        if cipher.startswith(prefix):
            return iv, block, icv
    iv, block = next(((i, b) for prefix, i, b in _CIPHERS if cipher.startswith(prefix)), (16, 16))
    icv = next((size for prefix, size in _INTEG if integ.startswith(prefix)), 32)
    return iv, block, icv


def inner_mtu(esp, wan_mtu, wan_family=4):
    """The largest packet that crosses a tunnel whose ESP (any of the proposals in *esp*) must fit into one
    packet of *wan_mtu* bytes on a WAN of *wan_family*: outer IP header, UDP encapsulation (NAT-T, counted
    always: NAT can appear on the path any day), ESP header, IV, payload padded to the cipher's block with
    the 2-byte trailer, ICV."""
    worst = None
    for proposal in (esp or DEFAULT_ESP).split(","):
        iv, block, icv = _esp_sizes(proposal)
        room = wan_mtu - (20 if wan_family == 4 else 40) - 8 - 8 - iv - icv
        fits = (room // block) * block - 2
        worst = fits if worst is None else min(worst, fits)
    return worst


def mss(mtu, family):
    """The TCP MSS of an *mtu* packet: minus the IP and TCP headers (20 + 20, or 40 + 20 with IPv6)."""
    return mtu - (40 if family == 4 else 60)


def tunnel_mtus(tunnels, wan_mtus):
    """Tunnel name -> its MTU, for the present tunnels that clamp the TCP MSS: the ``mtu`` a user gave, else
    what :func:`inner_mtu` makes of *wan_mtus* (peer address -> MTU of the interface toward it; 1500 where
    unknown) and the tunnel's ESP proposals (the defaults of its IKE version when it has none)."""
    return dict((tunnel["name"], tunnel_mtu(tunnel, wan_mtus)) for tunnel in tunnels
                if tunnel.get("state", "present") != "absent" and tunnel.get("mss_clamping", True))


def tunnel_mtu(tunnel, wan_mtus):
    """One tunnel's MTU: the ``mtu`` a user gave, else :func:`inner_mtu` of its ESP proposals over the WAN."""
    if tunnel.get("mtu"):
        return tunnel["mtu"]
    peer = remote_end(tunnel)["address"]
    esp = tunnel.get("esp") or (DEFAULT_ESP_V1 if tunnel.get("ike_version") == 1 else DEFAULT_ESP)
    return inner_mtu(esp, wan_mtus.get(peer) or 1500, _family(peer or "0.0.0.0"))


def ipv6_pairs(tunnels):
    """The (tunnel, local subnet, remote subnet, peer) of :func:`pairs` whose subnets are IPv6."""
    return [pair for pair in pairs(tunnels) if _family(pair[1]) == 6]


def first_address(cidr):
    """The address ``ip route get`` is asked for, for a subnet: its network address, as ``ip`` prints it."""
    return str(ipaddress.ip_network(u"%s" % cidr, strict=False).network_address)


def wanted_routes(tunnels, lookup, recorded, policy_ipv6=True):
    """{remote subnet: interface} of the routes this gateway keeps for its tunnels.

    A route-based tunnel's remote subnets are routed into its XFRM interface: that route is what sends a
    packet into the tunnel. Policy-based IPsec only sees a packet the kernel routed: an IPv6 remote subnet
    that no route carries ("Network is unreachable", usual for IPv6 LANs behind an IPv4-only WAN) never
    meets the tunnel's policy, and Libreswan's ``_updown`` adds no route then. Such a subnet gets a route
    through the interface toward the peer, and only where nothing else routes it: a route of the host (a
    default route, a routing daemon's) is left to do its job. *lookup* is {address: parsed ``ip route
    get``} (absent when unreachable), *recorded* the routes a previous run installed ({subnet: interface}),
    which stay wanted while their tunnel does (they are why the subnet is routed now).
    """
    wanted = {}
    interfaces = route_interfaces(tunnels)
    for name, _lnet, rnet, peer in pairs(tunnels):
        if name in interfaces:
            wanted[rnet] = interfaces[name]
            continue
        if _family(rnet) != 6 or not policy_ipv6:
            continue
        toward_peer = (lookup.get(peer) or {}).get("dev")
        if not toward_peer:
            continue
        carried = (lookup.get(first_address(rnet)) or {}).get("dev")
        if carried and recorded.get(rnet) == carried:
            carried = None      # our own route is not the host's (e.g. into the interface of a tunnel that was route-based)
        if (rnet in recorded and not recorded[rnet].startswith("ipsec")) or not carried:
            wanted[rnet] = toward_peer
    return wanted


def wanted_links(tunnels, lookup, wan_mtus):
    """{interface: {if_id, dev, mtu}} of the XFRM interfaces of the route-based tunnels: bound to the interface
    toward the peer, as big as the tunnel's MTU (so the gateway itself answers "fragmentation needed")."""
    links = {}
    for tunnel in tunnels:
        name = route_interface(tunnel)
        if tunnel.get("state", "present") == "absent" or not name:
            continue
        dev = (lookup.get(remote_end(tunnel)["address"]) or {}).get("dev")
        links[name] = {"if_id": tunnel["interface_id"], "dev": dev, "mtu": tunnel_mtu(tunnel, wan_mtus)}
    return links


def render_routes_script(routes, links=None):
    lines = ["#!/bin/sh",
             "%s. The XFRM interfaces of route-based tunnels and the routes into them, and routes toward" % MARKER,
             "# remote IPv6 subnets that no other route carries (policy-based IPsec needs a route to see the packet).",
             "# Run at boot before ipsec by sitevpn-ipsec-routes.service, and by the firewall module.",
             "rc=0"]
    for name in sorted(links or {}):
        link = links[name]
        dev = " dev %s" % link["dev"] if link.get("dev") else ""
        lines.append("[ -e /sys/class/net/%s ] || ip link add %s type xfrm%s if_id %d || rc=1"
                     % (name, name, dev, link["if_id"]))
        lines.append("ip link set %s mtu %d up || rc=1" % (name, link["mtu"]))
    for subnet in sorted(routes):
        lines.append("ip -%d route replace %s dev %s || rc=1" % (_family(subnet), subnet, routes[subnet]))
    return "\n".join(lines + ["exit $rc"]) + "\n"


def parse_routes_script(text):
    """{subnet: interface} of a script :func:`render_routes_script` wrote."""
    found = {}
    for line in (text or "").splitlines():
        match = re.match(r"^ip -[46] route replace (\S+) dev (\S+) ", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def parse_links_script(text):
    """{interface: {if_id, dev, mtu}} of a script :func:`render_routes_script` wrote."""
    found = {}
    for line in (text or "").splitlines():
        match = re.match(r"^\[ -e /sys/class/net/\S+ \] \|\| ip link add (\S+) type xfrm(?: dev (\S+))? if_id (\d+) ", line)
        if match:
            found[match.group(1)] = {"if_id": int(match.group(3)), "dev": match.group(2), "mtu": None}
        match = re.match(r"^ip link set (\S+) mtu (\d+) up ", line)
        if match and match.group(1) in found:
            found[match.group(1)]["mtu"] = int(match.group(2))
    return found


def render_routes_unit(script):
    return _oneshot_unit("Puts back the tunnels' XFRM interfaces and routes at boot, before ipsec.", [
        "Description=sitevpn.ipsec routes toward remote subnets no other route carries",
        "Wants=network-online.target", "After=network-online.target", "Before=ipsec.service"], script)


def _oneshot_unit(comment, unit_section, exec_start):
    """A unit that runs a script once at boot and stays active (so a restart of what it is part of reruns it)."""
    return "\n".join(["%s. %s" % (MARKER, comment), "[Unit]"] + unit_section + [
        "", "[Service]", "Type=oneshot", "RemainAfterExit=yes", "ExecStart=%s" % exec_start,
        "", "[Install]", "WantedBy=multi-user.target", ""])


def render_sysctl(wanted):
    lines = ["%s. Forwarding and redirect settings Libreswan needs; applied at boot by systemd-sysctl." % MARKER]
    lines += ["%s = %s" % (key, wanted[key]) for key in sorted(wanted)]
    return "\n".join(lines) + "\n"


def _comment(text):
    return text.replace('"', "'")[:250]


def render_nft(tunnels, allow_ike=True, nat_exemption=True, tag=None, leak_guard=True, mtus=None):
    """An nft script that replaces our table atomically. *mtus*: tunnel name -> the largest packet that
    crosses it, for the tunnels whose forwarded TCP SYNs get their MSS clamped to fit."""
    rules_in, rules_fwd, rules_nat = [], [], []
    interfaces = route_interfaces(tunnels)
    if nat_exemption:
        for name, interface, family in exempt_interfaces(tunnels):
            fam = "ip" if family == 4 else "ip6"
            rules_nat.append('oifname "%s" snat %s to %s saddr comment "%s: NAT exemption (interface)"'
                             % (interface, fam, fam, _comment(name)))
    for peer in peers(tunnels):
        fam = "ip" if _family(peer) == 4 else "ip6"
        if allow_ike:
            rules_in.append('%s saddr %s udp dport { 500, 4500 } accept comment "IKE and NAT-T from peer"' % (fam, peer))
            rules_in.append('%s saddr %s meta l4proto esp accept comment "ESP from peer"' % (fam, peer))
    for name, lnet, rnet, _peer in pairs(tunnels):
        fam = "ip" if _family(lnet) == 4 else "ip6"
        if name in (mtus or {}):
            # SYN and SYN-ACK both ways, lowered only (a smaller MSS a host asked for stays)
            value = mss(mtus[name], _family(lnet))
            for src, dst in ((lnet, rnet), (rnet, lnet)):
                rules_fwd.append('%s saddr %s %s daddr %s tcp flags & (syn | rst) == syn tcp option maxseg size %d-65535 '
                                 'tcp option maxseg size set %d comment "%s: TCP MSS"'
                                 % (fam, src, fam, dst, value + 1, value, _comment(name)))
        if name in interfaces:
            # route-based: decrypted packets come out of the tunnel's interface, and what goes into it is encrypted
            rules_fwd.append('iifname "%s" %s saddr %s %s daddr %s accept comment "%s"'
                             % (interfaces[name], fam, rnet, fam, lnet, _comment(name)))
            rules_fwd.append('oifname "%s" %s saddr %s %s daddr %s accept comment "%s"'
                             % (interfaces[name], fam, lnet, fam, rnet, _comment(name)))
        else:
            rules_fwd.append('%s saddr %s %s daddr %s meta ipsec exists accept comment "%s"'
                             % (fam, rnet, fam, lnet, _comment(name)))
            rules_fwd.append('%s saddr %s %s daddr %s rt ipsec exists accept comment "%s"'
                             % (fam, lnet, fam, rnet, _comment(name)))
        if leak_guard:
            for src, dst in ((rnet, lnet), (lnet, rnet)):
                rules_fwd.append('%s saddr %s %s daddr %s drop comment "%s: never in clear"'
                                 % (fam, src, fam, dst, _comment(name)))
        if nat_exemption:
            rules_nat.append('%s saddr %s %s daddr %s snat %s to %s saddr comment "%s: NAT exemption"'
                             % (fam, lnet, fam, rnet, fam, fam, _comment(name)))
    body = ["table inet %s {" % NFT_TABLE] + (['    comment "%s"' % tag] if tag else []) + [
        "    chain input {",
        "        type filter hook input priority filter - 10; policy accept;",
    ] + ["        " + r for r in rules_in] + [
        "    }",
        "    chain forward {",
        "        type filter hook forward priority filter - 10; policy accept;",
    ] + ["        " + r for r in rules_fwd] + [
        "    }",
        "    chain postrouting {",
        "        # before any MASQUERADE: once a connection has a NAT binding, later NAT chains are skipped",
        "        type nat hook postrouting priority srcnat - 50; policy accept;",
    ] + ["        " + r for r in rules_nat] + ["    }", "}"]
    return "\n".join(["table inet %s" % NFT_TABLE, "delete table inet %s" % NFT_TABLE] + body) + "\n"


def render_iptables(tunnels, allow_ike=True, nat_exemption=True, tag=None, leak_guard=True, mtus=None):
    """iptables-restore --noflush input for our three chains (declaring a chain flushes it); *mtus* as for
    :func:`render_nft` (TCPMSS --set-mss never raises an MSS)."""
    lines = ["*filter", ":SITEVPN-INPUT - [0:0]", ":SITEVPN-FORWARD - [0:0]"]
    interfaces = route_interfaces(tunnels)
    for peer in peers(tunnels):
        if _family(peer) != 4:
            continue
        if allow_ike:
            lines.append('-A SITEVPN-INPUT -s %s/32 -p udp -m multiport --dports 500,4500 -m comment --comment '
                         '"IKE and NAT-T from peer" -j ACCEPT' % peer)
            lines.append('-A SITEVPN-INPUT -s %s/32 -p esp -m comment --comment "ESP from peer" -j ACCEPT' % peer)
    for name, lnet, rnet, _peer in pairs(tunnels):
        if _family(lnet) != 4:
            continue
        if name in (mtus or {}):
            for src, dst in ((lnet, rnet), (rnet, lnet)):
                lines.append('-A SITEVPN-FORWARD -s %s -d %s -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment '
                             '"%s: TCP MSS" -j TCPMSS --set-mss %d' % (src, dst, _comment(name), mss(mtus[name], 4)))
        if name in interfaces:
            lines.append('-A SITEVPN-FORWARD -i %s -s %s -d %s -m comment --comment "%s" -j ACCEPT'
                         % (interfaces[name], rnet, lnet, _comment(name)))
            lines.append('-A SITEVPN-FORWARD -o %s -s %s -d %s -m comment --comment "%s" -j ACCEPT'
                         % (interfaces[name], lnet, rnet, _comment(name)))
        else:
            lines.append('-A SITEVPN-FORWARD -s %s -d %s -m policy --dir in --pol ipsec -m comment --comment "%s" '
                         '-j ACCEPT' % (rnet, lnet, _comment(name)))
            lines.append('-A SITEVPN-FORWARD -s %s -d %s -m policy --dir out --pol ipsec -m comment --comment "%s" '
                         '-j ACCEPT' % (lnet, rnet, _comment(name)))
        if leak_guard:
            for src, dst in ((rnet, lnet), (lnet, rnet)):
                lines.append('-A SITEVPN-FORWARD -s %s -d %s -m comment --comment "%s: never in clear" -j DROP'
                             % (src, dst, _comment(name)))
    if tag:
        # last in the chain, so it never decides anything; it tells which rules are live
        lines.append('-A SITEVPN-INPUT -m comment --comment "%s" -j RETURN' % tag)
    lines += ["COMMIT", "*nat", ":SITEVPN-POSTROUTING - [0:0]"]
    if nat_exemption:
        for name, interface, family in exempt_interfaces(tunnels):
            if family == 4:
                lines.append('-A SITEVPN-POSTROUTING -o %s -m comment --comment "%s: NAT exemption (interface)" '
                             '-j ACCEPT' % (interface, _comment(name)))
        for name, lnet, rnet, _peer in pairs(tunnels):
            if _family(lnet) == 4:
                lines.append('-A SITEVPN-POSTROUTING -s %s -d %s -m comment --comment "%s: NAT exemption" -j ACCEPT'
                             % (lnet, rnet, _comment(name)))
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


# (table, built-in chain, our chain): our chain is jumped to from position 1
IPTABLES_JUMPS = (("filter", "INPUT", "SITEVPN-INPUT"), ("filter", "FORWARD", "SITEVPN-FORWARD"),
                  ("nat", "POSTROUTING", "SITEVPN-POSTROUTING"))


_ENSURE_FIRST = r"""ensure_first() {
    # exactly one jump to our chain, and it is rule 1: ahead of any MASQUERADE or DROP of the host
    table=$1 chain=$2 target=$3
    first=$($IPT -w -t "$table" -S "$chain" 1 2>/dev/null || true)
    count=$($IPT -w -t "$table" -S "$chain" | grep -cx -- "-A $chain -j $target" || true)
    [ "$first" = "-A $chain -j $target" ] && [ "$count" = 1 ] && return 0
    $IPT -w -t "$table" -I "$chain" 1 -j "$target"
    $IPT -w -t "$table" -L "$chain" -n --line-numbers |
        awk -v t="$target" 'NR > 2 && $2 == t && $1 > 1 { print $1 }' | sort -rn |
        while read -r n; do $IPT -w -t "$table" -D "$chain" "$n"; done
}"""


def render_script(backend, tunnels, allow_ike=True, nat_exemption=True, iptables="iptables", leak_guard=True,
                  mtus=None):
    """The script that installs the rules; run by the module and by the boot unit. Idempotent.

    Returns (script, digest): the digest of the rules is also written into the live
    ruleset, so the module can tell whether what runs is what is wanted.
    """
    render = {"nftables": render_nft, "iptables": render_iptables}.get(backend)
    if render is None and backend != "none":
        raise ValueError("unknown firewall backend %r" % backend)
    untagged = render(tunnels, allow_ike, nat_exemption, None, leak_guard, mtus) if render else ""
    digest = hashlib.sha256((backend + iptables + untagged).encode("utf-8")).hexdigest()[:16]
    tag = "sitevpn rules %s" % digest
    head = ["#!/bin/sh", "%s. Installs the IPsec rules of this gateway (backend: %s)." % (MARKER, backend),
            "# Run at boot by sitevpn-ipsec-firewall.service and by the sitevpn.ipsec.firewall module.", "set -e"]
    if backend == "nftables":
        body = ["nft -f - <<'EOF'", render(tunnels, allow_ike, nat_exemption, tag, leak_guard, mtus).rstrip("\n"), "EOF"]
    elif backend == "iptables":
        body = ["IPT=%s" % iptables, _ENSURE_FIRST, "$IPT-restore -w --noflush <<'EOF'",
                render(tunnels, allow_ike, nat_exemption, tag, leak_guard, mtus).rstrip("\n"), "EOF"]
        body += ["ensure_first %s %s %s" % jump for jump in IPTABLES_JUMPS]
    else:
        body = [": nothing to install"]
    return "\n".join(head + body) + "\n", tag


def render_unit(backend):
    # before the network comes up (so the leak guard is in place before any packet is forwarded),
    # after whatever loads the host's own ruleset (so it does not flush ours)
    after = "systemd-sysctl.service nftables.service netfilter-persistent.service firewalld.service"
    part_of = "\nPartOf=nftables.service" if backend == "nftables" else ""
    return _oneshot_unit("Re-installs the IPsec filter rules at boot (and after nftables restarts).", [
        "Description=sitevpn.ipsec filter rules (IKE/ESP from peers, NAT exemption)", "After=%s" % after,
        "Before=ipsec.service network-pre.target", "Wants=network-pre.target%s" % part_of], SCRIPT)
