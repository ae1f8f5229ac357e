# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""From inventory to the text pluto reads: ``plugins/module_utils/_conn.py``.

Tunnels are resolved the way a play resolves them: ``sitevpn_tunnels`` through the
``host_tunnels`` filter's ``resolve`` (which runs ``_model.normalize``) with hostvars
holding the peers' ``sitevpn_hostkey`` facts and the registered PSK result. Then
``render_conn`` / ``render_secrets`` turn one resolved tunnel into file text.

The golden test at the top is the seed HOWTO's ``net-to-net`` conn, as this
collection writes it today; read it to know what lands in /etc/ipsec.d.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import copy

import pytest

from ansible_collections.sitevpn.ipsec.plugins.filter.host_tunnels import PSK_RESULT_VAR, resolve
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _conn
from ansible_collections.sitevpn.ipsec.plugins.module_utils._routes import parse_routes

# The renderer does not look inside keys (the keys role and _keys do): short stand-ins
# keep the expected text readable.
VPN1_KEY = '0sAwEAAVPN1PUBLICKEY'
VPN2_KEY = '0sAwEAAVPN2PUBLICKEY'
PSK = 'Nonebutourselvescanfreeourminds'     # the seed's example, 31 bytes

HOSTVARS = {
    'vpn1': {'sitevpn_public_address': '198.51.100.10', 'sitevpn_hostkey': {'pubkey': VPN1_KEY},
             PSK_RESULT_VAR: {'psks': {'net-to-net-psk': PSK}}},
    'vpn2': {'sitevpn_public_address': '203.0.113.10', 'sitevpn_hostkey': {'pubkey': VPN2_KEY}},
}

NET_TO_NET = {'name': 'net-to-net', 'left': 'vpn1', 'right': 'vpn2',
              'left_subnets': '172.16.1.0/24', 'right_subnets': '10.0.0.0/24'}


def tunnel_for(host, hostvars=None, **changes):
    """The seed's tunnel with ``changes``, resolved for ``host``."""
    raw = dict(NET_TO_NET, **changes)
    resolved = resolve([raw], host, hostvars or HOSTVARS)
    assert len(resolved) == 1
    return resolved[0]


def body(text):
    """The conn without its two header comment lines."""
    lines = text.splitlines()
    assert lines[0].startswith('#') and lines[1].startswith('#') and lines[2].startswith('conn ')
    return lines[2:]


def keys_of(text):
    return [line.strip().split('=', 1)[0] for line in body(text)[1:]]


def value_of(text, key):
    values = [line.strip().split('=', 1)[1] for line in body(text)[1:] if line.strip().split('=', 1)[0] == key]
    assert len(values) <= 1, 'key %s written twice' % key
    return values[0] if values else None


# --- golden --------------------------------------------------------------------------------

SEED_NET_TO_NET_LIBRESWAN_4 = '''\
# Managed by sitevpn.ipsec: tunnel "net-to-net" (vpn1 <-> vpn2).
# Written for Libreswan 4.x on this host; the peer vpn2 holds the same conn. Edits are overwritten.
conn net-to-net
    left=198.51.100.10
    leftid=@net-to-net.vpn1
    leftsubnet=172.16.1.0/24
    leftrsasigkey=0sAwEAAVPN1PUBLICKEY
    leftnexthop=%defaultroute
    right=203.0.113.10
    rightid=@net-to-net.vpn2
    rightsubnet=10.0.0.0/24
    rightrsasigkey=0sAwEAAVPN2PUBLICKEY
    rightnexthop=%defaultroute
    authby=rsasig
    ikev2=yes
    ike=aes_gcm256-sha2_512+sha2_256-dh19+dh20+dh31+dh14
    esp=aes_gcm256
    pfs=yes
    dpddelay=10
    dpdaction=restart
    auto=start
'''


def test_golden_seed_net_to_net_on_libreswan_4():
    """The seed's net-to-net (RSA keys, IKEv2 defaults) as vpn1 writes it for Libreswan 4."""
    assert _conn.render_conn(tunnel_for('vpn1'), 4) == SEED_NET_TO_NET_LIBRESWAN_4


def test_golden_differs_on_libreswan_5_only_in_dialect():
    """Libreswan 5: keyexchange=ikev2 instead of ikev2=yes; no dpdaction (obsolete there)."""
    expected = (SEED_NET_TO_NET_LIBRESWAN_4
                .replace('Libreswan 4.x', 'Libreswan 5.x')
                .replace('    ikev2=yes\n', '    keyexchange=ikev2\n')
                .replace('    dpdaction=restart\n', ''))
    assert _conn.render_conn(tunnel_for('vpn1'), 5) == expected


# --- Libreswan dialects ---------------------------------------------------------------------

def test_libreswan_4_dialect():
    """4.x: ikev2=yes, DPD with its action; no dpdtimeout for IKEv2 (4.10: "IKEv2 liveness uses
    retransmit-timeout=, dpdtimeout= ignored"), whose default of 60 s is the tunnel's default."""
    text = _conn.render_conn(tunnel_for('vpn1'), 4)
    assert value_of(text, 'ikev2') == 'yes'
    assert value_of(text, 'keyexchange') is None
    assert (value_of(text, 'dpddelay'), value_of(text, 'dpdtimeout'), value_of(text, 'dpdaction')) == \
        ('10', None, 'restart')
    assert value_of(text, 'retransmit-timeout') is None


def test_libreswan_5_dialect():
    """5.x: keyexchange=ikev2, no dpdaction (removed), no dpdtimeout (IKEv2 uses retransmit-timeout)."""
    text = _conn.render_conn(tunnel_for('vpn1'), 5)
    assert value_of(text, 'keyexchange') == 'ikev2'
    assert value_of(text, 'ikev2') is None
    assert value_of(text, 'dpddelay') == '10'
    assert value_of(text, 'dpdaction') is None
    assert value_of(text, 'dpdtimeout') is None


def test_dpd_action_and_times_are_rendered_as_set():
    """dpd_delay/dpd_timeout/dpd_action of the tunnel reach the 4.x conn; IKEv2's timeout is
    retransmit-timeout, on 4.x and 5.x alike."""
    text = _conn.render_conn(tunnel_for('vpn1', dpd_delay=20, dpd_timeout=120, dpd_action='hold'), 4)
    assert (value_of(text, 'dpddelay'), value_of(text, 'retransmit-timeout'), value_of(text, 'dpdaction')) == \
        ('20', '120s', 'hold')
    assert value_of(text, 'dpdtimeout') is None
    text = _conn.render_conn(tunnel_for('vpn1', dpd_delay=20, dpd_timeout=120), 5)
    assert value_of(text, 'retransmit-timeout') == '120s'


def test_a_retransmit_timeout_in_the_options_is_not_written_twice():
    text = _conn.render_conn(tunnel_for('vpn1', dpd_timeout=120, options={'retransmit-timeout': '90s'}), 4)
    assert text.count('retransmit-timeout=') == 1 and value_of(text, 'retransmit-timeout') == '90s'


def test_dpd_delay_zero_turns_dpd_off():
    """dpd_delay: 0 writes no DPD keys at all."""
    text = _conn.render_conn(tunnel_for('vpn1', dpd_delay=0), 4)
    assert not [k for k in keys_of(text) if k.startswith('dpd')]


@pytest.mark.parametrize('major, version_line', [(4, 'ikev2=no'), (5, 'keyexchange=ikev1')])
def test_ikev1_defaults(major, version_line):
    """IKEv1: no AEAD for the IKE SA, so AES-CBC + SHA-2 and MODP2048; 5.x keeps dpdtimeout for IKEv1."""
    text = _conn.render_conn(tunnel_for('vpn1', ike_version=1), major)
    assert '    %s\n' % version_line in text
    assert value_of(text, 'ike') == _conn.DEFAULT_IKE_V1 == 'aes256-sha2_256;modp2048'
    assert value_of(text, 'esp') == _conn.DEFAULT_ESP_V1 == 'aes256-sha2_256'
    assert value_of(text, 'dpdtimeout') == '60'
    assert (value_of(text, 'dpdaction') is None) == (major >= 5)


def test_explicit_proposals_replace_the_defaults():
    """ike/esp/pfs/auto of the tunnel are written as given."""
    text = _conn.render_conn(tunnel_for('vpn1', ike='aes256-sha2_256-dh14', esp='aes256-sha2_256',
                                        auto='add'), 4)
    assert value_of(text, 'ike') == 'aes256-sha2_256-dh14'
    assert value_of(text, 'esp') == 'aes256-sha2_256'
    assert value_of(text, 'auto') == 'add'


# --- both ends write the same conn -------------------------------------------------------------

@pytest.mark.parametrize('major', [4, 5])
def test_both_ends_render_the_same_conn(major):
    """The seed: "the net-to-net subsections must be the same ... for both" sides. Only the header differs."""
    on_vpn1 = _conn.render_conn(tunnel_for('vpn1'), major)
    on_vpn2 = _conn.render_conn(tunnel_for('vpn2'), major)
    assert body(on_vpn1) == body(on_vpn2)
    # each end says only whether its own pluto runs the updown script
    off1 = _conn.render_conn(dict(tunnel_for('vpn1'), updown_disabled=True), major)
    off2 = _conn.render_conn(dict(tunnel_for('vpn2'), updown_disabled=True), major)
    assert [k for k in keys_of(off1) if 'updown' in k] == ['leftupdown']
    assert [k for k in keys_of(off2) if 'updown' in k] == ['rightupdown']
    assert on_vpn1 != on_vpn2
    assert 'the peer vpn2 holds' in on_vpn1 and 'the peer vpn1 holds' in on_vpn2


def test_nated_end_writes_its_own_local_address_and_the_peer_its_public_one():
    """Behind NAT, vpn1 must find its own address on the box (sitevpn_local_address); vpn2 talks
    to the public one. That is the only line that differs."""
    hv = copy.deepcopy(HOSTVARS)
    hv['vpn1']['sitevpn_local_address'] = '192.168.0.10'
    on_vpn1 = body(_conn.render_conn(tunnel_for('vpn1', hv), 4))
    on_vpn2 = body(_conn.render_conn(tunnel_for('vpn2', hv), 4))
    differing = [(a, b) for a, b in zip(on_vpn1, on_vpn2) if a != b]
    assert differing == [('    left=192.168.0.10', '    left=198.51.100.10')]
    assert len(on_vpn1) == len(on_vpn2)


def test_is_initiator_follows_the_local_side():
    """The left end initiates by default; with initiator: right, vpn2 does."""
    assert _conn.is_initiator(tunnel_for('vpn1')) is True
    assert _conn.is_initiator(tunnel_for('vpn2')) is False
    assert _conn.is_initiator(tunnel_for('vpn2', initiator='right')) is True


# --- several subnets ------------------------------------------------------------------------------

def test_several_subnets_use_subnets_and_sub_connections():
    """Two subnets per side: leftsubnets=a,b and pluto's sub-connections NAME/1x1 ... NAME/2x2."""
    tunnel = tunnel_for('vpn1', left_subnets=['172.16.1.0/24', '172.16.2.0/24'],
                        right_subnets=['10.0.0.0/24', '10.0.1.0/24'])
    text = _conn.render_conn(tunnel, 4)
    assert value_of(text, 'leftsubnets') == '172.16.1.0/24,172.16.2.0/24'
    assert value_of(text, 'rightsubnets') == '10.0.0.0/24,10.0.1.0/24'
    assert value_of(text, 'leftsubnet') is None
    assert _conn.sub_connections(tunnel) == ['net-to-net/1x1', 'net-to-net/1x2', 'net-to-net/2x1', 'net-to-net/2x2']


def test_several_subnets_on_one_side_only():
    """leftsubnets= with a single rightsubnet=: pluto counts the single side as 0 (NAME/1x0, NAME/2x0)."""
    tunnel = tunnel_for('vpn1', left_subnets=['172.16.1.0/24', '172.16.2.0/24'])
    text = _conn.render_conn(tunnel, 5)
    assert value_of(text, 'leftsubnets') == '172.16.1.0/24,172.16.2.0/24'
    assert value_of(text, 'rightsubnet') == '10.0.0.0/24'
    assert _conn.sub_connections(tunnel) == ['net-to-net/1x0', 'net-to-net/2x0']


def test_one_subnet_each_is_one_connection():
    """The plain case: the connection is the tunnel's name."""
    assert _conn.sub_connections(tunnel_for('vpn1')) == ['net-to-net']


# --- PSK -----------------------------------------------------------------------------------------------

def test_psk_conn_says_secret_and_has_no_rsasigkey():
    """The seed's PSK variant: authby=secret, no rsasigkey lines."""
    text = _conn.render_conn(tunnel_for('vpn2', name='net-to-net-psk', auth='psk'), 4)
    assert value_of(text, 'authby') == 'secret'
    assert 'rsasigkey' not in text


def test_psk_secrets_line_is_ids_and_base64_and_decodes_back():
    """`@vpn1 @vpn2 : PSK 0s<base64>`: the generated PSK from vpn1's registered result, on both ends."""
    for host in ('vpn1', 'vpn2'):
        secrets = _conn.render_secrets(tunnel_for(host, name='net-to-net-psk', auth='psk'))
        header, line = secrets.splitlines()
        assert _conn.is_managed(secrets) and 'Mode 0600' in header
        ids, _colon, encoded = line.partition(' : PSK 0s')
        assert ids == '@net-to-net-psk.vpn1 @net-to-net-psk.vpn2'
        assert base64.b64decode(encoded).decode('utf-8') == PSK


def test_psk_with_quotes_and_non_ascii_needs_no_quoting():
    """A given PSK with quotes, '#' and non-ASCII is safe: only base64 reaches the file."""
    psk = u'Schl\u00fcssel "mit" #Zeichen und Leerzeichen'
    secrets = _conn.render_secrets(tunnel_for('vpn1', auth='psk', psk=psk))
    line = secrets.splitlines()[1]
    assert '"' not in line and '#' not in line
    assert base64.b64decode(line.split(' : PSK 0s')[1]).decode('utf-8') == psk


def test_rsasig_tunnel_has_no_secrets_file():
    """RSA tunnels keep their private key in NSS: no .secrets text."""
    assert _conn.render_secrets(tunnel_for('vpn1')) is None


# --- layout -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize('major', [4, 5])
def test_conn_at_column_0_keys_indented_no_blank_lines(major):
    """The seed insists: keep the indentation before each parameter; no blank line inside the section."""
    tunnel = tunnel_for('vpn1', left_subnets=['172.16.1.0/24', '172.16.2.0/24'], options={'mtu': 1400})
    lines = _conn.render_conn(tunnel, major).splitlines()
    conn_at = [i for i, line in enumerate(lines) if line.startswith('conn ')]
    assert conn_at == [2]
    for line in lines[3:]:
        assert line.startswith('    ') and line.strip(), repr(line)
        assert '=' in line and ' = ' not in line
    assert all(line.startswith('#') for line in lines[:2])


def test_header_marker_is_recognised():
    """is_managed: our files start with the marker; a hand-written conn or a later marker is not ours."""
    assert _conn.is_managed(_conn.render_conn(tunnel_for('vpn1'), 4))
    assert not _conn.is_managed('conn net-to-net\n    left=97.158.253.25\n')
    assert not _conn.is_managed('# my notes\n%s\n' % _conn.MARKER)
    assert not _conn.is_managed('')
    assert not _conn.is_managed(None)


def test_options_are_rendered_sorted_before_auto():
    """Extra keys come in sorted order (stable files, stable diffs), after the model's keys, before auto."""
    text = _conn.render_conn(tunnel_for('vpn1', options={'mtu': 1400, 'fragmentation': True,
                                                         'ikelifetime': '8h', 'encapsulation': 'auto'}), 4)
    keys = keys_of(text)
    assert keys[-5:] == ['encapsulation', 'fragmentation', 'ikelifetime', 'mtu', 'auto']
    assert value_of(text, 'fragmentation') == 'yes'
    assert value_of(text, 'mtu') == '1400'


def test_sourceip_is_written_for_its_side():
    """left_sourceip becomes leftsourceip (the gateway's address inside its subnet)."""
    text = _conn.render_conn(tunnel_for('vpn1', left_sourceip='172.16.1.1'), 4)
    assert value_of(text, 'leftsourceip') == '172.16.1.1'
    assert value_of(text, 'rightsourceip') is None


# --- Libreswan's _updown: off where it has nothing to do -----------------------------------------

LAB_ROUTES = parse_routes(
    'default via 198.51.100.1 dev eth0 \n'
    '172.16.1.0/24 dev eth1 proto kernel scope link src 172.16.1.1 \n'
    '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n')


def test_routes_are_read_with_their_kind_and_default_is_slash_0():
    routes = parse_routes('default via 198.51.100.1 dev eth0\nunreachable 10.0.0.0/8 \n'
                          'blackhole 192.168.0.0/16\n10.1.2.3 via 198.51.100.1 dev eth0\n')
    assert [(kind, str(net)) for kind, net in routes] == [
        ('unicast', '0.0.0.0/0'), ('unreachable', '10.0.0.0/8'), ('blackhole', '192.168.0.0/16'),
        ('unicast', '10.1.2.3/32')]
    assert [str(net) for kind, net in parse_routes('default via fe80::1 dev eth0 metric 1024\n', 6)] == ['::/0']


def test_a_gateway_with_a_default_route_needs_no_updown_and_writes_its_own_end_only():
    """The stock script would only read state: pluto is told not to fork it (three times per Child SA)."""
    tunnel = tunnel_for('vpn1')
    assert _conn.updown_needed(tunnel, LAB_ROUTES) is None
    text = _conn.render_conn(dict(tunnel, updown_disabled=True), 4)
    assert value_of(text, 'leftupdown') == '%disabled'
    assert value_of(text, 'rightupdown') is None


@pytest.mark.parametrize('routes, why', [
    ('172.16.1.0/24 dev eth1\n', 'no route on this gateway carries 10.0.0.0/24'),
    # a route of exactly the remote subnet may be the one the script itself added: it does not count
    ('10.0.0.0/24 via 198.51.100.1 dev eth0\n', 'no route on this gateway carries 10.0.0.0/24'),
    ('default via 198.51.100.1 dev eth0\nunreachable 10.0.0.0/8\n', 'the unreachable route 10.0.0.0/8 covers'),
    ('default via 198.51.100.1 dev eth0\nprohibit 10.0.0.0/16\n', 'the prohibit route 10.0.0.0/16 covers'),
])
def test_the_script_stays_where_routing_to_the_peer_needs_it(routes, why):
    """No shorter route carries the remote subnet, or a refusing route covers it: Libreswan's script decides."""
    assert why in _conn.updown_needed(tunnel_for('vpn1'), parse_routes(routes))


def test_the_script_stays_for_a_source_ip_and_when_asked_for():
    assert 'source IP' in _conn.updown_needed(tunnel_for('vpn1', left_sourceip='172.16.1.1'), LAB_ROUTES)
    assert _conn.updown_needed(tunnel_for('vpn1', updown='libreswan'), LAB_ROUTES) == 'updown: libreswan'
    # the peer's source IP is the peer's business
    assert _conn.updown_needed(tunnel_for('vpn1', right_sourceip='10.0.0.1'), LAB_ROUTES) is None


def test_a_summary_route_carries_the_remote_subnet_like_a_default_route():
    routes = parse_routes('10.0.0.0/8 via 198.51.100.1 dev eth0\n')
    assert _conn.updown_needed(tunnel_for('vpn1'), routes) is None


def test_file_paths():
    """One file per tunnel under /etc/ipsec.d."""
    assert _conn.conf_path('net-to-net') == '/etc/ipsec.d/net-to-net.conf'
    assert _conn.secrets_path('net-to-net') == '/etc/ipsec.d/net-to-net.secrets'


# --- route-based tunnels (mode: route) --------------------------------------------------------------


@pytest.mark.parametrize('major', [4, 5])
def test_a_route_based_tunnel_is_one_wide_child_sa_on_its_interface_without_updown(major):
    """0.0.0.0/0 both ways, ipsec-interface=N, no _updown on this end: routes into ipsecN decide."""
    tunnel = tunnel_for('vpn1', mode='route', interface_id=42)
    text = _conn.render_conn(tunnel, major)
    assert value_of(text, 'leftsubnet') == value_of(text, 'rightsubnet') == '0.0.0.0/0'
    assert value_of(text, 'ipsec-interface') == '42'
    assert value_of(text, 'leftupdown') == '%disabled' and value_of(text, 'rightupdown') is None
    assert _conn.interface_name(tunnel) == 'ipsec42'
    assert _conn.updown_needed(tunnel, []) is None     # no route carries 10.0.0.0/24 yet: the interface's will
    assert '172.16.1.0/24' not in text and '10.0.0.0/24' not in text


def test_subnets_of_a_route_based_tunnel_do_not_change_its_conn():
    """Adding subnets is a matter of routes: the conn (and so the SAs) stays as it was; one connection."""
    one = tunnel_for('vpn1', mode='route')
    more = tunnel_for('vpn1', mode='route', left_subnets=['172.16.1.0/24', '172.16.2.0/24'],
                      right_subnets=['10.0.0.0/24', '10.0.9.0/24'])
    assert _conn.render_conn(one, 4) == _conn.render_conn(more, 4)
    assert _conn.sub_connections(more) == ['net-to-net']


def test_given_selectors_are_what_a_route_based_tunnel_offers_and_several_make_sub_connections():
    """A hub's tunnel narrows the spoke's side; several selectors are pairs of selectors, as subnets are."""
    narrow = tunnel_for('vpn1', mode='route', right_selectors='10.0.0.0/16')
    text = _conn.render_conn(narrow, 4)
    assert value_of(text, 'leftsubnet') == '0.0.0.0/0' and value_of(text, 'rightsubnet') == '10.0.0.0/16'
    assert _conn.sub_connections(narrow) == ['net-to-net']
    two = tunnel_for('vpn1', mode='route', right_subnets=['10.0.0.0/24', '10.9.0.0/24'],
                     right_selectors=['10.0.0.0/24', '10.9.0.0/24'])
    assert value_of(_conn.render_conn(two, 4), 'rightsubnets') == '10.0.0.0/24,10.9.0.0/24'
    assert _conn.sub_connections(two) == ['net-to-net/0x1', 'net-to-net/0x2']


def test_a_route_based_ipv6_tunnel_selects_all_of_ipv6():
    tunnel = tunnel_for('vpn1', mode='route', left_subnets='2001:db8:1::/64', right_subnets='2001:db8:2::/64')
    assert value_of(_conn.render_conn(tunnel, 5), 'rightsubnet') == '::/0'
