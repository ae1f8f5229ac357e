# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""status_table: what playbooks/status.yml prints - configured versus established, per tunnel and gateway."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.sitevpn.ipsec.plugins.filter.status_table import status_table

TUNNELS = [
    {'name': name, 'left': 'vpn1', 'right': 'vpn2', 'auth': 'psk', 'left_subnets': left, 'right_subnets': right}
    for name, left, right in (('net-to-net', '172.16.1.0/24', '10.0.0.0/24'),
                              ('voice', '172.16.21.0/24', '10.0.21.0/24'),
                              ('backup', '172.16.22.0/24', '10.0.22.0/24'))]


def status(established, loaded=('net-to-net', 'voice', 'backup'), extra=()):
    return {'connections': dict((n, {'established': n in established}) for n in list(loaded) + list(extra)),
            'sas': [{'name': n, 'in_bytes': 84, 'out_bytes': 168} for n in established]}


def hostvars(vpn1, vpn2):
    return {'vpn1': {'sitevpn_public_address': '198.51.100.10', '__sitevpn_status': vpn1},
            'vpn2': {'sitevpn_public_address': '203.0.113.10', '__sitevpn_status': vpn2}}


def test_one_tunnel_down_shows_as_configured_not_established_and_nothing_else():
    both = status(['net-to-net', 'backup'])
    table = status_table(TUNNELS, ['vpn1', 'vpn2'], hostvars(both, both))
    not_up = [(r['gateway'], r['tunnel'], r['state']) for r in table['rows'] if r['state'] != 'up']
    assert not_up == [('vpn1', 'voice', 'configured-not-established'), ('vpn2', 'voice', 'configured-not-established')]
    assert table['summary'] == {'up': 4, 'configured-not-established': 2}
    assert table['lines'][0].split() == ['GATEWAY', 'TUNNEL', 'PEER', 'STATE', 'SAS', 'IN', 'OUT']
    assert 'vpn1     net-to-net  vpn2  up' in table['lines'][1]


def test_not_loaded_not_configured_and_unreachable_are_told_apart():
    vpn1 = status(['net-to-net'], loaded=('net-to-net', 'voice'), extra=('by-hand',))
    table = status_table(TUNNELS, ['vpn1', 'vpn2'], hostvars(vpn1, {'unreachable': True}))
    states = dict(((r['gateway'], r['tunnel']), r['state']) for r in table['rows'])
    assert states[('vpn1', 'backup')] == 'not-loaded'
    assert states[('vpn1', 'by-hand')] == 'not-configured'
    assert states[('vpn2', 'net-to-net')] == 'unreachable'


def test_sub_connections_count_one_by_one():
    tunnels = [dict(TUNNELS[0], left_subnets=['172.16.1.0/24', '172.16.31.0/24'])]
    half = status(['net-to-net/1x0'], loaded=('net-to-net/1x0', 'net-to-net/2x0'))
    row = status_table(tunnels, ['vpn1'], hostvars(half, half))['rows'][0]
    assert (row['state'], row['established'], row['connections']) == ('configured-not-established', 1, 2)
