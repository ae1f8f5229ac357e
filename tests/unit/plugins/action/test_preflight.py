# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The preflight action (``sitevpn.ipsec.preflight``): the whole tunnel list checked on the controller.

It runs nothing on any host; what it refuses stops the play before the first gateway is touched.
The rules themselves are the table in ``plugin_utils/test_model.py``; here is what the action adds:
where its inputs come from, the play's gateways, and what the play sees.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.sitevpn.ipsec.plugins.action import preflight

HOSTVARS = {'vpn1': {'sitevpn_public_address': '198.51.100.10'},
            'vpn2': {'sitevpn_public_address': '203.0.113.10'},
            'vpn3': {'sitevpn_public_address': '192.0.2.30'}}
N2N = {'name': 'net-to-net', 'left': 'vpn1', 'right': 'vpn2', 'left_subnets': '172.16.1.0/24',
       'right_subnets': '10.0.0.0/24'}
BRANCH = {'name': 'branch', 'left': 'vpn1', 'right': 'vpn3', 'left_subnets': '172.16.1.0/24',
          'right_subnets': '10.3.0.0/24'}


def run(args=None, **task_vars):
    """Run the action as a task with *args*; task_vars default to the two-site inventory."""
    task = mock.MagicMock()
    task.args = args or {}
    task.async_val = 0
    task.check_mode = False
    connection = mock.MagicMock()
    connection._shell.tmpdir = '/tmp/not-used'
    action = preflight.ActionModule(task=task, connection=connection, play_context=mock.MagicMock(),
                                    loader=None, templar=None, shared_loader_obj=None)
    action._display = mock.MagicMock()
    variables = {'hostvars': HOSTVARS, 'sitevpn_tunnels': [N2N]}
    variables.update(task_vars)
    return action, action.run(task_vars=variables)


def test_the_inventorys_tunnels_are_checked_and_listed_per_gateway_and_nothing_changes():
    dummy, result = run(sitevpn_tunnels=[N2N, BRANCH])
    assert result['changed'] is False
    assert result['tunnels'] == ['net-to-net', 'branch']
    assert result['gateways'] == {'vpn1': ['net-to-net', 'branch'], 'vpn2': ['net-to-net'], 'vpn3': ['branch']}
    assert result['msg'] == '2 tunnels on 3 gateways, all checked'


def test_a_bad_tunnel_fails_naming_the_tunnel_and_the_field_with_the_problems_as_data():
    broken = dict(N2N, right_subnets='172.16.1.0/25')            # overlaps the left LAN
    with pytest.raises(AnsibleActionFail) as failure:
        run(sitevpn_tunnels=[broken])
    assert 'net-to-net' in str(failure.value) and 'right_subnets' in str(failure.value)
    problems = failure.value.result['problems']
    assert [(p['tunnel'], p['field']) for p in problems] == [('net-to-net', 'right_subnets')]


def test_an_end_outside_the_play_is_refused_before_any_host_is_touched():
    with pytest.raises(AnsibleActionFail) as failure:
        run({'gateways': ['vpn1', 'vpn2']}, sitevpn_tunnels=[N2N, BRANCH])
    assert 'branch' in str(failure.value)
    assert 'host vpn3 is an end of this tunnel but not a target of this play' in str(failure.value)


def test_arguments_override_the_inventory_variables():
    dummy, result = run({'tunnels': [BRANCH]}, sitevpn_tunnels=[N2N])
    assert result['tunnels'] == ['branch']


def test_weak_crypto_is_refused_unless_allowed_and_then_warned_about():
    weak = dict(N2N, esp='3des-md5')
    with pytest.raises(AnsibleActionFail) as failure:
        run(sitevpn_tunnels=[weak])
    assert 'esp' in str(failure.value)
    action, result = run(sitevpn_tunnels=[weak], sitevpn_allow_weak_crypto=True)
    assert result['warnings_found'] and any('3des' in w.lower() or 'md5' in w.lower() for w in result['warnings_found'])
    assert action._display.warning.call_count == len(result['warnings_found'])


@pytest.mark.parametrize('value', ['yes please', 2, None])
def test_allow_weak_must_be_a_boolean(value):
    with pytest.raises(AnsibleActionFail, match='sitevpn_allow_weak_crypto must be true or false'):
        run(sitevpn_tunnels=[N2N], sitevpn_allow_weak_crypto=value)


def test_an_unknown_argument_is_refused():
    with pytest.raises(AnsibleActionFail, match='Invalid options'):
        run({'tunels': [N2N]})
