# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tunnel_report: every run says, for each tunnel, whether it is up and whether traffic was proven to
cross it - with a probe or without one."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.sitevpn.ipsec.plugins.filter.host_probes import host_probes
from ansible_collections.sitevpn.ipsec.plugins.filter.host_tunnels import resolve
from ansible_collections.sitevpn.ipsec.plugins.filter.tunnel_report import tunnel_report

HOSTVARS = {'vpn1': {'sitevpn_public_address': '198.51.100.10'},
            'vpn2': {'sitevpn_public_address': '203.0.113.10'},
            'server1': {}, 'server2': {'ansible_host': '10.0.0.105'}}
PROBED = {'name': 'net-to-net', 'left': 'vpn1', 'right': 'vpn2', 'auth': 'psk', 'psk': 'q7Vd-3mXr9LpZt2Kw8YbNc4J',
          'left_subnets': '172.16.1.0/24', 'right_subnets': '10.0.0.0/24', 'probe': {'from': 'server1', 'to': 'server2'}}
SILENT = dict(PROBED, name='voice', left_subnets='172.16.21.0/24', right_subnets='10.0.21.0/24', probe=None)
UP = {'net-to-net': {'action': 'created', 'established': True, 'child_sas': [{'serial': 2}]},
      'voice': {'action': 'unchanged', 'established': True, 'child_sas': [{'serial': 4}, {'serial': 5}]}}
PROOF = {'tunnels': {'net-to-net': {'ping': True, 'bytes_before': 0, 'bytes_after': 624}}, 'failed_tunnels': []}


def report(host, established, proof, *raw):
    raw = [dict((k, v) for k, v in t.items() if v is not None) for t in raw]
    return tunnel_report(resolve(raw, host, HOSTVARS, require_keys=False), host, established,
                         host_probes(raw, host, HOSTVARS), proof)


def test_the_initiator_reports_each_tunnel_once_probed_or_not():
    lines = report('vpn1', UP, PROOF, PROBED, SILENT)
    assert lines == [
        'tunnel net-to-net: up, Child SA #2 (created); proven: server1 -> 10.0.0.105 answered, ESP bytes 0 -> 624',
        'tunnel voice: up, Child SA #4, #5 (unchanged); not proven: it has no probe (add probe: {from: <a LAN host '
        'behind vpn1>, to: <a host or address behind the peer>} to prove that traffic crosses it encrypted)',
    ]


def test_the_responder_leaves_the_report_to_the_initiator():
    assert report('vpn2', UP, PROOF, PROBED, SILENT) == []


def test_a_failed_proof_and_a_tunnel_not_up_say_so():
    proof = {'tunnels': {'net-to-net': {'ping': False, 'bytes_before': 0, 'bytes_after': 0}},
             'failed_tunnels': ['net-to-net']}
    down = {'net-to-net': dict(UP['net-to-net']), 'voice': {'action': 'updated', 'established': False}}
    lines = report('vpn1', down, proof, PROBED, SILENT)
    assert lines[0].endswith('NOT proven: see the failure below')
    assert lines[1].startswith('tunnel voice: NOT up (updated); not proven: it has no probe')


def test_check_mode_and_auto_add_are_named():
    lines = report('vpn1', {'voice': {'action': 'would_establish', 'established': False}}, {},
                   dict(PROBED, auto='add'), SILENT)
    assert lines[0].startswith('tunnel net-to-net: loaded, not brought up (auto=add); not proven in this run')
    assert lines[1].startswith('tunnel voice: would be brought up (check mode)')
