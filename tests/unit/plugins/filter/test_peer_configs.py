# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""peer_configs: the half of a tunnel its unmanaged peer's administrator gets, a PSK line that
Libreswan reads back as exactly the key."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import re

import pytest

from ansible_collections.sitevpn.ipsec.plugins.filter.peer_configs import peer_configs, secrets_psk

HOSTVARS = {'vpn1': {'sitevpn_public_address': '198.51.100.10'}}


def branch(psk):
    return [{'name': 'to-branch', 'left': 'vpn1', 'right': {'name': 'branch', 'address': '203.0.113.50'},
             'auth': 'psk', 'psk': psk, 'left_subnets': '172.16.1.0/24', 'right_subnets': '10.50.0.0/16'}]


def secrets_line(text):
    return [line for line in text.splitlines() if ' : PSK ' in line][0]


def test_a_plain_key_is_written_in_quotes_as_in_the_seed():
    text = peer_configs(branch('q7Vd-3mXr9LpZt2Kw8YbNc4J'), 'vpn1', HOSTVARS)[0]['text']
    assert secrets_line(text) == '@vpn1 203.0.113.50 : PSK "q7Vd-3mXr9LpZt2Kw8YbNc4J"'


@pytest.mark.parametrize('psk', ['q7Vd"3mXr9LpZt2Kw8YbNc4J', 'q7Vd\\3mXr9LpZt2Kw8YbNc4J', ' q7Vd-3mXr9LpZt2Kw8YbNc4J',
                                 'q7Vd-3mXr9LpZt2Kw8Yb{{Nc4J}}', 'q7Vd-3mXr9Lp\u00e9Zt2Kw8YbNc4J'])
def test_a_key_quotes_cannot_carry_is_written_in_base64(psk):
    line = secrets_line(peer_configs(branch(psk), 'vpn1', HOSTVARS)[0]['text'])
    encoded = re.search(r' : PSK (\S+)$', line).group(1)
    if encoded.startswith('0s'):
        assert base64.b64decode(encoded[2:]).decode('utf-8') == psk
    else:   # '{{' is harmless to ipsec.secrets
        assert encoded == '"%s"' % psk


def test_secrets_psk_never_lets_a_quote_end_the_string_early():
    assert secrets_psk('ab"cd') == '0s' + base64.b64encode(b'ab"cd').decode()
