# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sitevpn.ipsec.tunnel, case by case: see test_tunnel.yaml and helper.py."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.sitevpn.ipsec.plugins.modules import tunnel
from ansible_collections.sitevpn.ipsec.plugins.module_utils.ipsec_output import parse_status
from ansible_collections.sitevpn.ipsec.tests.unit.plugins.modules.helper import live_capture, load_cases, run_case

CASES = load_cases(__file__)


@pytest.mark.parametrize('case', CASES, ids=[case['id'] for case in CASES])
def test_tunnel(case, tmp_path, capsys, monkeypatch):
    run_case(tunnel, case, tmp_path, capsys, monkeypatch)


def test_failed_up_returns_what_pluto_printed(tmp_path, capsys, monkeypatch):
    result = run_case(tunnel, {
        'input': {'name': 'wrongpsk'},
        'run_command_calls': [
            {'argv': ['/usr/sbin/ipsec', '--version'], 'capture': '4.10/version.txt'},
            {'argv': ['/usr/sbin/ipsec', 'status'], 'capture': '4.10/status-loaded.txt'},
            {'argv': ['/usr/bin/timeout', '--kill-after=5', '30', '/usr/sbin/ipsec', 'auto', '--up', 'wrongpsk'],
             'capture': '4.10/up-wrongpsk.txt'},
            {'argv': ['/usr/sbin/ipsec', 'auto', '--down', 'wrongpsk'], 'capture': '4.10/down-wrongpsk.txt'},
        ],
        'failed': True,
    }, tmp_path, capsys, monkeypatch)
    assert len(result['output']) == 10
    assert result['output'][-4].endswith('AUTHENTICATION_FAILED')
    # the down ran: pluto must stop retrying
    assert result['commands'][-1]['argv'][-2:] == ['--down', 'wrongpsk']


@pytest.mark.parametrize('capture, name, expected', [
    ('4.10/status-loaded.txt', 'wrongpsk', {
        'local': 'left',
        'left': {'address': '198.51.100.10', 'id': '@vpn1-wp', 'subnets': ['172.16.12.0/24']},
        'right': {'address': '203.0.113.10', 'id': '@vpn2-wp', 'subnets': ['10.0.12.0/24']}}),
    ('5.2/status-loaded.txt', 'psk', {
        # no conn file found: this end is reported as the left one
        'local': 'left',
        'left': {'address': '203.0.113.10', 'id': '@vpn2', 'subnets': ['10.0.0.0/24']},
        'right': {'address': '198.51.100.10', 'id': '@vpn1', 'subnets': ['172.16.1.0/24']}}),
])
def test_tunnel_from_status(capture, name, expected, monkeypatch, tmp_path):
    monkeypatch.setattr(tunnel, 'IPSEC_CONF', str(tmp_path / 'none.conf'))
    monkeypatch.setattr(tunnel, 'IPSEC_D', str(tmp_path))
    conn = parse_status(live_capture(capture)[1])['connections'][name]
    got = tunnel.tunnel_from_status(name, conn)
    for key, value in expected.items():
        assert got[key] == value
