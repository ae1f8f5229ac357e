# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The gateway's kernel settings and filter rules, as text: ``plugins/module_utils/_firewall.py``.

The seed: forwarding on ("Each Linux VPN device needs to have routing or IP forwarding
enabled"), and tunnel traffic exempted from MASQUERADE ("-d ! 10.0.0.0/24"). Here
the rules are read as text; ``tests/integration/test_nft_nat_exemption.py`` shows the
nftables exemption working in a kernel.

The gateway is vpn1 of the seed (198.51.100.10, LAN 172.16.1.0/24) with three tunnels:
the seed's net-to-net to vpn2, a dual-stack one to vpn3 (IPv6 pairs inside IPv4
gateways), and one to an appliance we do not manage.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import re

import pytest

from ansible_collections.sitevpn.ipsec.plugins.filter.host_tunnels import resolve
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _firewall
from ansible_collections.sitevpn.ipsec.plugins.module_utils._routes import route_devices, route_lookup

HOSTVARS = {
    'vpn1': {'sitevpn_public_address': '198.51.100.10', 'sitevpn_hostkey': {'pubkey': '0sAwEAAVPN1'}},
    'vpn2': {'sitevpn_public_address': '203.0.113.10', 'sitevpn_hostkey': {'pubkey': '0sAwEAAVPN2'}},
    'vpn3': {'sitevpn_public_address': '192.0.2.30', 'sitevpn_hostkey': {'pubkey': '0sAwEAAVPN3'}},
}

NET_TO_NET = {'name': 'net-to-net', 'left': 'vpn1', 'right': 'vpn2',
              'left_subnets': '172.16.1.0/24', 'right_subnets': '10.0.0.0/24'}
# a dual-stack site: a tunnel per address family (one Child SA pairs one family)
TO_VPN3 = {'name': 'to-vpn3', 'left': 'vpn1', 'right': 'vpn3',
           'left_subnets': '172.16.2.0/24', 'right_subnets': '10.0.3.0/24'}
TO_VPN3_V6 = {'name': 'to-vpn3-v6', 'left': 'vpn1', 'right': 'vpn3',
              'left_subnets': '2001:db8:1::/64', 'right_subnets': '2001:db8:3::/64'}
APPLIANCE = {'name': 'to-branch', 'left': 'vpn1', 'auth': 'psk', 'psk': 'q7Vd-3mXr9LpZt2Kw8YbNc4J',
             'right': {'address': '203.0.113.50'},
             'left_subnets': '172.16.1.0/24', 'right_subnets': '10.50.0.0/16'}


def gateway_tunnels(*tunnels):
    return resolve(list(tunnels), 'vpn1', HOSTVARS)


ALL = (NET_TO_NET, TO_VPN3, TO_VPN3_V6, APPLIANCE)


def chain(nft_text, name):
    """The lines inside ``chain NAME { ... }`` of an nft script."""
    match = re.search(r'^    chain %s \{\n(.*?)^    \}' % name, nft_text, re.S | re.M)
    assert match, 'no chain %s in:\n%s' % (name, nft_text)
    return [line.strip() for line in match.group(1).splitlines()]


# --- sysctl ----------------------------------------------------------------------------------

def test_sysctls_wanted():
    """Forwarding on; redirects off for all, default and each interface; rp_filter as asked."""
    wanted = _firewall.sysctls(['eth1', 'eth0'], forwarding=True, rp_filter=2)
    assert wanted['net.ipv4.ip_forward'] == '1'
    for scope in ('all', 'default', 'eth0', 'eth1'):
        assert wanted['net.ipv4.conf.%s.send_redirects' % scope] == '0'
        assert wanted['net.ipv4.conf.%s.accept_redirects' % scope] == '0'
        assert wanted['net.ipv4.conf.%s.rp_filter' % scope] == '2'
    assert len(wanted) == 1 + 4 * 3


def test_sysctls_rp_filter_none_is_left_alone_and_forwarding_can_be_off():
    """rp_filter None: not managed. forwarding False: 0 (a host that only terminates tunnels)."""
    wanted = _firewall.sysctls([], forwarding=False, rp_filter=None)
    assert wanted['net.ipv4.ip_forward'] == '0'
    assert not [key for key in wanted if key.endswith('rp_filter')]


def test_sysctl_file_is_sorted_and_marked():
    """The sysctl.d file: marker comment, then `key = value` lines in sorted order."""
    text = _firewall.render_sysctl(_firewall.sysctls(['eth0'], rp_filter=0))
    lines = text.splitlines()
    assert lines[0].startswith(_firewall.MARKER)
    assert lines[1:] == sorted(lines[1:])
    assert 'net.ipv4.ip_forward = 1' in lines


# --- pairs and peers --------------------------------------------------------------------------

def test_pairs_are_local_remote_of_one_family():
    """Every local x remote subnet pair of the same family; mixed-family pairs do not exist."""
    pairs = _firewall.pairs(gateway_tunnels(*ALL))
    assert pairs == [
        ('net-to-net', '172.16.1.0/24', '10.0.0.0/24', '203.0.113.10'),
        ('to-vpn3', '172.16.2.0/24', '10.0.3.0/24', '192.0.2.30'),
        ('to-vpn3-v6', '2001:db8:1::/64', '2001:db8:3::/64', '192.0.2.30'),
        ('to-branch', '172.16.1.0/24', '10.50.0.0/16', '203.0.113.50'),
    ]


def test_pairs_are_seen_from_the_local_side():
    """On vpn2 (right end) local is 10.0.0.0/24 and the peer is vpn1."""
    on_vpn2 = resolve([NET_TO_NET], 'vpn2', HOSTVARS)
    assert _firewall.pairs(on_vpn2) == [('net-to-net', '10.0.0.0/24', '172.16.1.0/24', '198.51.100.10')]
    assert _firewall.peers(on_vpn2) == ['198.51.100.10']


def test_peers_are_listed_once():
    """Two tunnels to the same peer give one peer address."""
    second = dict(NET_TO_NET, name='net-to-net-2', left_subnets='172.16.9.0/24', right_subnets='10.0.9.0/24')
    assert _firewall.peers(gateway_tunnels(NET_TO_NET, second)) == ['203.0.113.10']


# --- nftables ------------------------------------------------------------------------------------

def test_nft_replaces_its_own_table_atomically():
    """Create-then-delete-then-define: one nft -f transaction, no window without rules, no other table touched."""
    lines = _firewall.render_nft(gateway_tunnels(*ALL)).splitlines()
    assert lines[:3] == ['table inet sitevpn_ipsec', 'delete table inet sitevpn_ipsec', 'table inet sitevpn_ipsec {']
    assert not [line for line in lines if line.startswith('table') and 'sitevpn_ipsec' not in line]


def test_nft_accepts_ike_and_esp_from_each_peer():
    """Input: UDP 500/4500 and ESP from every peer, and nothing else."""
    rules = chain(_firewall.render_nft(gateway_tunnels(*ALL)), 'input')
    assert rules[0] == 'type filter hook input priority filter - 10; policy accept;'
    for peer in ('203.0.113.10', '192.0.2.30', '203.0.113.50'):
        assert 'ip saddr %s udp dport { 500, 4500 } accept comment "IKE and NAT-T from peer"' % peer in rules
        assert 'ip saddr %s meta l4proto esp accept comment "ESP from peer"' % peer in rules
    assert len(rules) == 1 + 2 * 3


def test_nft_forwards_each_pair_only_when_ipsec_protected():
    """Forward: in from the remote subnet when it came through IPsec, out when it will go through it."""
    rules = chain(_firewall.render_nft(gateway_tunnels(*ALL)), 'forward')
    assert 'ip saddr 10.0.0.0/24 ip daddr 172.16.1.0/24 meta ipsec exists accept comment "net-to-net"' in rules
    assert 'ip saddr 172.16.1.0/24 ip daddr 10.0.0.0/24 rt ipsec exists accept comment "net-to-net"' in rules
    assert 'ip6 saddr 2001:db8:3::/64 ip6 daddr 2001:db8:1::/64 meta ipsec exists accept comment "to-vpn3-v6"' in rules
    assert len([r for r in rules if r.endswith('"') and ' accept ' in r]) == 2 * 4


def test_nft_leak_guard_drops_each_pair_in_clear_after_the_ipsec_accepts():
    """While pluto is down nothing between the sites may be forwarded in clear: each pair is
    dropped, both ways, after the accepts that need IPsec. leak_guard=False leaves only the accepts."""
    rules = chain(_firewall.render_nft(gateway_tunnels(NET_TO_NET)), 'forward')[1:]
    assert rules == [
        'ip saddr 10.0.0.0/24 ip daddr 172.16.1.0/24 meta ipsec exists accept comment "net-to-net"',
        'ip saddr 172.16.1.0/24 ip daddr 10.0.0.0/24 rt ipsec exists accept comment "net-to-net"',
        'ip saddr 10.0.0.0/24 ip daddr 172.16.1.0/24 drop comment "net-to-net: never in clear"',
        'ip saddr 172.16.1.0/24 ip daddr 10.0.0.0/24 drop comment "net-to-net: never in clear"',
    ]
    unguarded = chain(_firewall.render_nft(gateway_tunnels(NET_TO_NET), leak_guard=False), 'forward')[1:]
    assert unguarded == rules[:2]


def test_nft_nat_exemption_is_an_identity_snat_before_any_masquerade():
    """The seed's `-d ! remote`, done in our own chain at srcnat - 50: `snat ip to ip saddr` binds
    the connection to its own address, so a later MASQUERADE chain is never consulted."""
    rules = chain(_firewall.render_nft(gateway_tunnels(*ALL)), 'postrouting')
    assert 'type nat hook postrouting priority srcnat - 50; policy accept;' in rules
    snat = [r for r in rules if ' snat ' in r]
    assert snat == [
        'ip saddr 172.16.1.0/24 ip daddr 10.0.0.0/24 snat ip to ip saddr comment "net-to-net: NAT exemption"',
        'ip saddr 172.16.2.0/24 ip daddr 10.0.3.0/24 snat ip to ip saddr comment "to-vpn3: NAT exemption"',
        'ip6 saddr 2001:db8:1::/64 ip6 daddr 2001:db8:3::/64 snat ip6 to ip6 saddr comment "to-vpn3-v6: NAT exemption"',
        'ip saddr 172.16.1.0/24 ip daddr 10.50.0.0/16 snat ip to ip saddr comment "to-branch: NAT exemption"',
    ]


def test_nft_switches():
    """allow_ike=False leaves input empty; nat_exemption=False leaves postrouting empty."""
    text = _firewall.render_nft(gateway_tunnels(*ALL), allow_ike=False, nat_exemption=False)
    assert chain(text, 'input') == ['type filter hook input priority filter - 10; policy accept;']
    assert [r for r in chain(text, 'postrouting') if not r.startswith('#')] == [
        'type nat hook postrouting priority srcnat - 50; policy accept;']
    assert len([r for r in chain(text, 'forward') if ' accept ' in r]) == 2 * 4    # forwarding stays


def test_nft_ipv6_peer():
    """An IPv6 peer is matched with ip6 saddr."""
    hv = {'gw6a': {'sitevpn_public_address': '2001:db8:ff::a'}, 'gw6b': {'sitevpn_public_address': '2001:db8:ff::b'}}
    tunnels = resolve([{'name': 'v6', 'left': 'gw6a', 'right': 'gw6b', 'auth': 'psk',
                        'psk': 'q7Vd-3mXr9LpZt2Kw8YbNc4J',
                        'left_subnets': '2001:db8:a::/48', 'right_subnets': '2001:db8:b::/48'}], 'gw6a', hv)
    rules = chain(_firewall.render_nft(tunnels), 'input')
    assert 'ip6 saddr 2001:db8:ff::b meta l4proto esp accept comment "ESP from peer"' in rules


def test_absent_tunnels_contribute_nothing():
    """A tunnel being removed leaves no rule behind, in either backend."""
    absent = dict(TO_VPN3_V6, state='absent')
    present = gateway_tunnels(NET_TO_NET)
    with_absent = gateway_tunnels(NET_TO_NET, absent)
    assert len(with_absent) == 2
    assert _firewall.render_nft(with_absent) == _firewall.render_nft(present)
    assert _firewall.render_iptables(with_absent) == _firewall.render_iptables(present)
    assert _firewall.pairs(with_absent) == _firewall.pairs(present)
    assert _firewall.peers(with_absent) == _firewall.peers(present)


# --- iptables ------------------------------------------------------------------------------------

def test_iptables_declares_its_three_chains():
    """iptables-restore --noflush input: declaring a chain flushes only that chain."""
    lines = _firewall.render_iptables(gateway_tunnels(*ALL)).splitlines()
    assert lines[:3] == ['*filter', ':SITEVPN-INPUT - [0:0]', ':SITEVPN-FORWARD - [0:0]']
    assert lines.count('COMMIT') == 2
    assert lines[lines.index('*nat') + 1] == ':SITEVPN-POSTROUTING - [0:0]'
    # only our chains are written to
    assert set(re.findall(r'^-A (\S+)', '\n'.join(lines), re.M)) == {
        'SITEVPN-INPUT', 'SITEVPN-FORWARD', 'SITEVPN-POSTROUTING'}


def test_iptables_nat_exemption_accepts_the_pair():
    """-A SITEVPN-POSTROUTING -s LOCAL -d REMOTE ... -j ACCEPT: decided before any MASQUERADE below."""
    text = _firewall.render_iptables(gateway_tunnels(*ALL))
    assert ('-A SITEVPN-POSTROUTING -s 172.16.1.0/24 -d 10.0.0.0/24 -m comment --comment '
            '"net-to-net: NAT exemption" -j ACCEPT') in text.splitlines()
    assert re.search(r'^-A SITEVPN-POSTROUTING -s 172\.16\.1\.0/24 -d 10\.50\.0\.0/16 .*-j ACCEPT$', text, re.M)


def test_iptables_input_and_forward():
    """IKE/ESP per peer as /32; forward per pair with the IPsec policy match."""
    lines = _firewall.render_iptables(gateway_tunnels(NET_TO_NET)).splitlines()
    assert ('-A SITEVPN-INPUT -s 203.0.113.10/32 -p udp -m multiport --dports 500,4500 -m comment --comment '
            '"IKE and NAT-T from peer" -j ACCEPT') in lines
    assert '-A SITEVPN-INPUT -s 203.0.113.10/32 -p esp -m comment --comment "ESP from peer" -j ACCEPT' in lines
    assert ('-A SITEVPN-FORWARD -s 10.0.0.0/24 -d 172.16.1.0/24 -m policy --dir in --pol ipsec '
            '-m comment --comment "net-to-net" -j ACCEPT') in lines
    assert ('-A SITEVPN-FORWARD -s 172.16.1.0/24 -d 10.0.0.0/24 -m policy --dir out --pol ipsec '
            '-m comment --comment "net-to-net" -j ACCEPT') in lines
    # the leak guard, after the accepts
    drops = [line for line in lines if line.endswith('-j DROP')]
    assert drops == [
        '-A SITEVPN-FORWARD -s 10.0.0.0/24 -d 172.16.1.0/24 -m comment --comment "net-to-net: never in clear" -j DROP',
        '-A SITEVPN-FORWARD -s 172.16.1.0/24 -d 10.0.0.0/24 -m comment --comment "net-to-net: never in clear" -j DROP',
    ]
    assert lines.index(drops[0]) > max(i for i, line in enumerate(lines) if line.endswith('-j ACCEPT')
                                       and 'SITEVPN-FORWARD' in line)


def test_iptables_skips_ipv6_pairs_and_peers():
    """iptables is IPv4: the dual-stack tunnel's IPv6 pair (and any IPv6 peer) is left out."""
    text = _firewall.render_iptables(gateway_tunnels(*ALL))
    assert '2001:db8' not in text
    assert '-s 172.16.2.0/24 -d 10.0.3.0/24' in text


def test_iptables_tag_is_a_final_return():
    """The tag rides on a RETURN at the end of SITEVPN-INPUT: it never decides anything."""
    lines = _firewall.render_iptables(gateway_tunnels(NET_TO_NET), tag='sitevpn rules abc').splitlines()
    tagged = lines.index('-A SITEVPN-INPUT -m comment --comment "sitevpn rules abc" -j RETURN')
    assert lines[tagged + 1] == 'COMMIT'


# --- the install script -----------------------------------------------------------------------------

@pytest.mark.parametrize('backend', ['nftables', 'iptables'])
def test_script_is_deterministic(backend):
    """Same tunnels, same script and tag: the module can compare what runs with what is wanted."""
    first = _firewall.render_script(backend, gateway_tunnels(*ALL))
    second = _firewall.render_script(backend, copy.deepcopy(gateway_tunnels(*ALL)))
    assert first == second
    script, tag = first
    assert re.match(r'^sitevpn rules [0-9a-f]{16}$', tag)
    assert tag in script
    assert script.startswith('#!/bin/sh\n' + _firewall.MARKER)
    assert '\nset -e\n' in script


@pytest.mark.parametrize('backend', ['nftables', 'iptables'])
def test_changed_tunnel_changes_the_tag(backend):
    """One subnet changed: another tag, so the live rules are seen to be stale."""
    before = _firewall.render_script(backend, gateway_tunnels(NET_TO_NET))[1]
    after = _firewall.render_script(backend, gateway_tunnels(dict(NET_TO_NET, right_subnets='10.0.1.0/24')))[1]
    assert before != after


def test_tag_depends_on_backend_and_binary():
    """Switching backend, or iptables to iptables-legacy, is a change too."""
    tunnels = gateway_tunnels(NET_TO_NET)
    tags = {_firewall.render_script('nftables', tunnels)[1], _firewall.render_script('iptables', tunnels)[1],
            _firewall.render_script('iptables', tunnels, iptables='iptables-legacy')[1]}
    assert len(tags) == 3


def test_nft_script_feeds_the_tagged_ruleset_to_nft():
    """nftables: one heredoc into `nft -f -` with the table comment carrying the tag."""
    script, tag = _firewall.render_script('nftables', gateway_tunnels(NET_TO_NET))
    assert "nft -f - <<'EOF'\n" in script and script.endswith('\nEOF\n')
    assert '    comment "%s"' % tag in script


def test_iptables_script_puts_our_chains_first():
    """iptables: restore with --noflush, then make our jumps rule 1 of INPUT, FORWARD, nat POSTROUTING."""
    script, _tag = _firewall.render_script('iptables', gateway_tunnels(NET_TO_NET), iptables='iptables-legacy')
    assert 'IPT=iptables-legacy\n' in script
    assert "$IPT-restore -w --noflush <<'EOF'" in script
    assert script.rstrip('\n').splitlines()[-3:] == [
        'ensure_first filter INPUT SITEVPN-INPUT',
        'ensure_first filter FORWARD SITEVPN-FORWARD',
        'ensure_first nat POSTROUTING SITEVPN-POSTROUTING',
    ]


def test_backend_none_and_unknown():
    """backend none installs nothing (but still has a tag); an unknown backend is a ValueError."""
    script, tag = _firewall.render_script('none', gateway_tunnels(NET_TO_NET))
    assert ': nothing to install' in script and tag.startswith('sitevpn rules ')
    with pytest.raises(ValueError, match='unknown firewall backend'):
        _firewall.render_script('pf', [])


def test_unit_reinstalls_rules_before_ipsec():
    """The boot unit runs the same script before ipsec starts, and follows nftables restarts."""
    unit = _firewall.render_unit('nftables')
    assert 'ExecStart=%s' % _firewall.SCRIPT in unit
    assert 'Before=ipsec.service' in unit and 'PartOf=nftables.service' in unit
    assert 'PartOf' not in _firewall.render_unit('iptables')


def test_route_devices_are_read_from_one_batch_of_lookups_without_lo():
    """The interfaces the tunnels use, from one `ip -o -force -batch -` of `route get` lines."""
    out = ('203.0.113.10 via 198.51.100.1 dev eth0 src 198.51.100.10 uid 0 \\    cache \n'
           '172.16.1.0 dev eth1 src 172.16.1.1 uid 0 \\    cache \n'
           'local 198.51.100.10 dev lo table local src 198.51.100.10 uid 0 \\    cache <local> \n')
    assert route_devices(route_lookup(out)) == ['eth0', 'eth1']
    assert route_devices(route_lookup('')) == []


# -- IPv6 subnets: forwarding and the routes no other route provides ----------------------------------------

V6 = {'name': 'v6', 'local': 'left', 'left': {'address': '198.51.100.10', 'subnets': ['2001:db8:1::/64']},
      'right': {'address': '203.0.113.10', 'subnets': ['2001:db8:2::/64']}}


def test_ipv6_is_left_alone_without_ipv6_tunnels():
    assert not [key for key in _firewall.sysctls(['eth0']) if 'ipv6' in key]


def test_ipv6_subnets_turn_ipv6_forwarding_on_and_keep_router_advertisements_on_the_wan():
    wanted = _firewall.sysctls(['eth0', 'eth1'], ipv6_wan=['eth0'])
    assert wanted['net.ipv6.conf.all.forwarding'] == '1'
    assert wanted['net.ipv6.conf.eth0.accept_ra'] == '2'          # SLAAC on the WAN survives forwarding
    assert 'net.ipv6.conf.eth1.accept_ra' not in wanted           # the LAN side is ours to advertise on
    assert wanted['net.ipv6.conf.all.accept_redirects'] == '0'
    off = _firewall.sysctls([], forwarding=False, ipv6_wan=['eth0'])
    assert off['net.ipv6.conf.all.forwarding'] == '0' and 'net.ipv6.conf.eth0.accept_ra' not in off


def lookup(**devs):
    """{address: parsed route} as `ip -o route get` answers (None: Network is unreachable)."""
    return dict((address, {'dev': dev}) for address, dev in devs.items() if dev)


def test_a_remote_ipv6_subnet_nothing_routes_gets_a_route_toward_the_peer():
    found = lookup(**{'203.0.113.10': 'eth0', '2001:db8:2::': None})
    assert _firewall.wanted_routes([V6], found, {}) == {'2001:db8:2::/64': 'eth0'}


def test_a_remote_subnet_the_host_already_routes_is_left_to_that_route():
    found = lookup(**{'203.0.113.10': 'eth0', '2001:db8:2::': 'eth2'})      # a default route, a routing daemon
    assert _firewall.wanted_routes([V6], found, {}) == {}


def test_a_tunnel_that_leaves_route_mode_gets_its_route_toward_the_peer_in_the_same_run():
    """Route-based before, policy-based now: the lookup still finds the subnet routed - into our interface,
    which this run removes. That route does not count, or the subnet ends the run routed nowhere (seen in
    the lab: test_45, IPv6 LANs over the IPv4 WAN switched route -> policy, the probe lost, rolled back)."""
    found = lookup(**{'203.0.113.10': 'eth0', '2001:db8:2::': 'ipsec6374'})
    assert _firewall.wanted_routes([V6], found, {'2001:db8:2::/64': 'ipsec6374'}) == {'2001:db8:2::/64': 'eth0'}
    # an XFRM interface of someone else's that carries it is the host's own routing: left alone
    assert _firewall.wanted_routes([V6], found, {}) == {}


def test_a_route_a_previous_run_installed_stays_while_its_tunnel_does():
    found = lookup(**{'203.0.113.10': 'eth0', '2001:db8:2::': 'eth0'})      # routed now: by our own route
    assert _firewall.wanted_routes([V6], found, {'2001:db8:2::/64': 'eth0'}) == {'2001:db8:2::/64': 'eth0'}
    gone = dict(V6, state='absent')
    assert _firewall.wanted_routes([gone], found, {'2001:db8:2::/64': 'eth0'}) == {}


def test_ipv4_tunnels_get_no_routes_from_the_collection():
    v4 = dict(V6, left={'address': '198.51.100.10', 'subnets': ['172.16.1.0/24']},
              right={'address': '203.0.113.10', 'subnets': ['10.0.0.0/24']})
    assert _firewall.wanted_routes([v4], lookup(**{'203.0.113.10': 'eth0'}), {}) == {}


def test_the_routes_script_reads_back_what_it_wrote():
    routes = {'2001:db8:2::/64': 'eth0', '2001:db8:3::/64': 'eth0'}
    script = _firewall.render_routes_script(routes)
    assert script.startswith('#!/bin/sh\n# Managed by sitevpn.ipsec.')
    assert 'ip -6 route replace 2001:db8:2::/64 dev eth0 || rc=1' in script
    assert _firewall.parse_routes_script(script) == routes
    assert 'ExecStart=/usr/local/sbin/sitevpn-ipsec-routes' in _firewall.render_routes_unit(_firewall.ROUTES_SCRIPT)


def test_the_marker_is_the_one_of_the_conn_files():
    from ansible_collections.sitevpn.ipsec.plugins.module_utils import _conn
    assert _firewall.MARKER == _conn.MARKER


def test_the_default_esp_proposals_are_the_ones_the_conns_get():
    from ansible_collections.sitevpn.ipsec.plugins.module_utils import _conn
    assert (_firewall.DEFAULT_ESP, _firewall.DEFAULT_ESP_V1) == (_conn.DEFAULT_ESP_V2, _conn.DEFAULT_ESP_V1)


# --- MTU and TCP MSS ------------------------------------------------------------------------------
# "Small packets work, big ones hang": a LAN host sends 1500-byte packets, ESP makes them bigger than the
# WAN can carry, and the ICMP that should tell the host so is lost on the way. The forwarded SYNs get an
# MSS that fits the tunnel instead.

@pytest.mark.parametrize('esp, wan_mtu, family, mtu', [
    # outer IPv4 20 + UDP 8 + ESP 8 + IV 8 + ICV 16, the payload with its 2-byte trailer padded to 4 bytes
    (None, 1500, 4, 1438),
    ('aes_gcm256', 1500, 6, 1418),                 # outer IPv6 header: 40 bytes
    ('aes_gcm256', 1492, 4, 1430),                 # PPPoE
    ('chacha20_poly1305', 1500, 4, 1438),
    ('aes_gcm_a128', 1500, 4, 1446),               # 8-byte ICV
    # AES-CBC: IV 16, padded to 16-byte blocks, ICV of the HMAC (SHA2-256: 16, SHA2-512: 32)
    ('aes256-sha2_256', 1500, 4, 1422),
    ('aes256-sha2_512;modp3072', 1500, 4, 1406),
    ('aes256-sha2', 1500, 4, 1422),
    ('3des-sha1', 1500, 4, 1438),
    # several proposals: the one that leaves least room, whichever the peer picks
    ('aes_gcm256,aes256-sha2_512', 1500, 4, 1406),
    # something unknown counts as the largest overhead (16-byte IV and blocks, 32-byte ICV)
    ('serpent-whirlpool', 1500, 4, 1406),
])
def test_the_tunnel_mtu_is_what_fits_into_one_wan_packet_after_esp(esp, wan_mtu, family, mtu):
    assert _firewall.inner_mtu(esp, wan_mtu, family) == mtu


def test_the_mss_leaves_room_for_the_ip_and_tcp_headers():
    assert (_firewall.mss(1438, 4), _firewall.mss(1438, 6)) == (1398, 1378)


def test_each_tunnel_clamps_to_its_given_mtu_or_to_what_its_wan_and_proposals_allow():
    ikev1 = dict(TO_VPN3, ike_version=1)
    given = dict(APPLIANCE, mtu=1300)
    off = dict(TO_VPN3_V6, mss_clamping=False)
    tunnels = gateway_tunnels(NET_TO_NET, ikev1, given, off)
    assert _firewall.tunnel_mtus(tunnels, {'203.0.113.10': 1492}) == {
        'net-to-net': 1430,          # PPPoE toward vpn2, AES-GCM
        'to-vpn3': 1422,             # the MTU toward vpn3 unknown: 1500; IKEv1's default ESP is AES-CBC with SHA2-256
        'to-branch': 1300,           # given by the user
    }


def test_nft_clamps_the_mss_of_syns_both_ways_before_the_accepts_and_only_lowers_it():
    tunnels = gateway_tunnels(NET_TO_NET, TO_VPN3_V6)
    rules = chain(_firewall.render_nft(tunnels, mtus={'net-to-net': 1438, 'to-vpn3-v6': 1418}), 'forward')[1:]
    clamp = 'tcp flags & (syn | rst) == syn tcp option maxseg size %d-65535 tcp option maxseg size set %d'
    assert rules[:3] == [
        'ip saddr 172.16.1.0/24 ip daddr 10.0.0.0/24 %s comment "net-to-net: TCP MSS"' % (clamp % (1399, 1398)),
        'ip saddr 10.0.0.0/24 ip daddr 172.16.1.0/24 %s comment "net-to-net: TCP MSS"' % (clamp % (1399, 1398)),
        'ip saddr 10.0.0.0/24 ip daddr 172.16.1.0/24 meta ipsec exists accept comment "net-to-net"',
    ]
    assert 'ip6 saddr 2001:db8:1::/64 ip6 daddr 2001:db8:3::/64 %s comment "to-vpn3-v6: TCP MSS"' \
        % (clamp % (1359, 1358)) in rules
    # a tunnel without an MTU here (mss_clamping: false) gets no clamp
    assert not [r for r in chain(_firewall.render_nft(tunnels, mtus={'net-to-net': 1438}), 'forward') if 'to-vpn3-v6: TCP' in r]
    assert not [r for r in chain(_firewall.render_nft(tunnels), 'forward') if 'maxseg' in r]


def test_iptables_clamps_with_tcpmss_which_never_raises_an_mss():
    tunnels = gateway_tunnels(NET_TO_NET, TO_VPN3_V6)
    lines = _firewall.render_iptables(tunnels, mtus={'net-to-net': 1438, 'to-vpn3-v6': 1418}).splitlines()
    forward = [line for line in lines if line.startswith('-A SITEVPN-FORWARD')]
    assert forward[:2] == [
        '-A SITEVPN-FORWARD -s 172.16.1.0/24 -d 10.0.0.0/24 -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment '
        '"net-to-net: TCP MSS" -j TCPMSS --set-mss 1398',
        '-A SITEVPN-FORWARD -s 10.0.0.0/24 -d 172.16.1.0/24 -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment '
        '"net-to-net: TCP MSS" -j TCPMSS --set-mss 1398',
    ]
    assert not [line for line in lines if '2001:db8' in line]


@pytest.mark.parametrize('backend', ['nftables', 'iptables'])
def test_a_changed_mtu_changes_the_tag(backend):
    tunnels = gateway_tunnels(NET_TO_NET)
    tags = set(_firewall.render_script(backend, tunnels, mtus=mtus)[1]
               for mtus in ({'net-to-net': 1438}, {'net-to-net': 1300}, None))
    assert len(tags) == 3


# --- route-based tunnels: an XFRM interface, routes into it, rules by interface -----------------------

ROUTED = dict(V6, name='routed', mode='route', interface_id=42,
              left={'address': '198.51.100.10', 'subnets': ['172.16.1.0/24']},
              right={'address': '203.0.113.10', 'subnets': ['10.0.0.0/24', '10.0.9.0/24']})


def test_the_remote_subnets_of_a_route_based_tunnel_are_routed_into_its_interface_whatever_else_routes_them():
    found = lookup(**{'203.0.113.10': 'eth0', '10.0.0.0': 'eth0'})        # the default route carries it too
    assert _firewall.wanted_routes([ROUTED], found, {}) == {'10.0.0.0/24': 'ipsec42', '10.0.9.0/24': 'ipsec42'}
    assert _firewall.wanted_routes([dict(ROUTED, state='absent')], found, {'10.0.0.0/24': 'ipsec42'}) == {}


def test_the_interface_is_bound_to_the_wan_toward_the_peer_and_as_big_as_the_tunnel():
    found = lookup(**{'203.0.113.10': 'eth0'})
    assert _firewall.wanted_links([ROUTED], found, {'203.0.113.10': 1500}) == {
        'ipsec42': {'if_id': 42, 'dev': 'eth0', 'mtu': 1438}}
    assert _firewall.wanted_links([dict(ROUTED, mtu=1300)], found, {})['ipsec42']['mtu'] == 1300
    assert _firewall.wanted_links([V6], found, {}) == {}


def test_the_routes_script_creates_the_interfaces_first_and_reads_them_back():
    links = {'ipsec42': {'if_id': 42, 'dev': 'eth0', 'mtu': 1438}}
    routes = {'10.0.0.0/24': 'ipsec42'}
    script = _firewall.render_routes_script(routes, links)
    lines = script.splitlines()
    assert lines.index('[ -e /sys/class/net/ipsec42 ] || ip link add ipsec42 type xfrm dev eth0 if_id 42 || rc=1') < \
        lines.index('ip -4 route replace 10.0.0.0/24 dev ipsec42 || rc=1')
    assert 'ip link set ipsec42 mtu 1438 up || rc=1' in lines
    assert _firewall.parse_links_script(script) == links
    assert _firewall.parse_routes_script(script) == routes
    assert 'Before=ipsec.service' in _firewall.render_routes_unit(_firewall.ROUTES_SCRIPT)


def test_route_based_forwarding_is_accepted_by_interface_and_the_leak_guard_stays():
    forward = chain(_firewall.render_nft([ROUTED]), 'forward')
    assert 'iifname "ipsec42" ip saddr 10.0.0.0/24 ip daddr 172.16.1.0/24 accept comment "routed"' in forward
    assert 'oifname "ipsec42" ip saddr 172.16.1.0/24 ip daddr 10.0.9.0/24 accept comment "routed"' in forward
    assert 'ip saddr 172.16.1.0/24 ip daddr 10.0.0.0/24 drop comment "routed: never in clear"' in forward
    assert not [rule for rule in forward if 'ipsec exists' in rule]
    rules = _firewall.render_iptables([ROUTED])
    assert '-A SITEVPN-FORWARD -i ipsec42 -s 10.0.0.0/24 -d 172.16.1.0/24 -m comment --comment "routed" -j ACCEPT' in rules
    assert '-A SITEVPN-FORWARD -o ipsec42 -s 172.16.1.0/24 -d 10.0.0.0/24 -m comment --comment "routed" -j ACCEPT' in rules
    assert '--pol ipsec' not in rules


def test_what_leaves_by_a_route_based_tunnels_interface_is_exempt_from_nat_whatever_its_subnets():
    """A subnet routed into the interface later (by hand, by a routing daemon) keeps its source address
    too: the exemption names the interface, ahead of the per-pair ones, once per tunnel."""
    nat = [rule for rule in chain(_firewall.render_nft([ROUTED]), 'postrouting') if 'snat' in rule]
    assert nat[0] == 'oifname "ipsec42" snat ip to ip saddr comment "routed: NAT exemption (interface)"'
    assert len([rule for rule in nat if 'oifname' in rule]) == 1
    assert 'ip saddr 172.16.1.0/24 ip daddr 10.0.9.0/24 snat ip to ip saddr comment "routed: NAT exemption"' in nat
    rules = _firewall.render_iptables([ROUTED]).splitlines()
    first = [line for line in rules if line.startswith('-A SITEVPN-POSTROUTING')][0]
    assert first == '-A SITEVPN-POSTROUTING -o ipsec42 -m comment --comment "routed: NAT exemption (interface)" -j ACCEPT'
    assert not [rule for rule in chain(_firewall.render_nft([V6]), 'postrouting') if 'oifname' in rule]
    assert not [rule for rule in chain(_firewall.render_nft([ROUTED], nat_exemption=False), 'postrouting')
                if 'snat' in rule]


def test_an_interface_is_up_down_or_missing_as_sysfs_shows_it(tmp_path):
    from ansible_collections.sitevpn.ipsec.plugins.module_utils._routes import interface_state
    for name, flags in (('ipsec42', '0x1091'), ('ipsec43', '0x1090')):
        (tmp_path / name).mkdir()
        (tmp_path / name / 'flags').write_text(flags + '\n')
    assert [interface_state(name, str(tmp_path)) for name in ('ipsec42', 'ipsec43', 'ipsec44')] == \
        ['up', 'down', 'missing']
