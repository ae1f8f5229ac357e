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
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

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
    variables = {'hostvars': HOSTVARS, 'sitevpn_tunnels': [N2N]}
    variables.update(task_vars)
    loader = DataLoader()
    action = preflight.ActionModule(task=task, connection=connection, play_context=mock.MagicMock(),
                                    loader=loader, templar=Templar(loader=loader, variables=variables),
                                    shared_loader_obj=None)
    action._display = mock.MagicMock()
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
    with pytest.raises(AnsibleActionFail, match='field sitevpn_allow_weak_crypto: must be true or false'):
        run(sitevpn_tunnels=[N2N], sitevpn_allow_weak_crypto=value)


def test_an_unknown_argument_is_refused():
    with pytest.raises(AnsibleActionFail, match='Invalid options'):
        run({'tunels': [N2N]})


# --- the values the roles will deploy: templated once, here, as Ansible templates them for the roles ---
# Strings of inventory files are trusted as templates; trust_as_template() is what their loader does.

PSK = 'q7Vd-3mXr9LpZt2Kw8YbNc4J'


def psk_tunnel(psk):
    return dict(N2N, auth='psk', psk=psk)


def test_a_templated_psk_is_judged_by_its_value_not_by_the_template_text():
    dummy, result = run(sitevpn_tunnels=[psk_tunnel(trust_as_template('{{ site_psk }}'))], site_psk=PSK)
    assert result['tunnels'] == ['net-to-net']
    with pytest.raises(AnsibleActionFail) as failure:
        run(sitevpn_tunnels=[psk_tunnel(trust_as_template('{{ site_psk }}'))], site_psk='Tr0ub4dor&3')
    assert 'field psk: the pre-shared key is 11 bytes' in str(failure.value)
    assert 'Tr0ub4dor' not in str(failure.value) + repr(failure.value.result)


def test_templated_subnets_are_the_list_they_render_to():
    tunnel = dict(N2N, left_subnets=trust_as_template('{{ site1_lans }}'))
    dummy, result = run(sitevpn_tunnels=[tunnel], site1_lans=['172.16.1.0/24', '172.16.2.0/24'])
    assert result['tunnels'] == ['net-to-net']


def test_a_psk_template_that_does_not_render_is_named_and_not_quoted():
    secret = 'q7Vd-3mXr9{{LpZt2Kw8YbNc4J'   # meant literally, but read as a template
    with pytest.raises(AnsibleActionFail) as failure:
        run(sitevpn_tunnels=[psk_tunnel(trust_as_template(secret))])
    text = str(failure.value) + repr(failure.value.result)
    assert 'tunnel net-to-net, field psk: could not be templated' in text and 'mark it !unsafe' in text
    assert 'LpZt2Kw8' not in text and str(failure.value).count('field psk') == 1


def test_a_psk_with_a_template_comment_is_refused_not_silently_shortened():
    with pytest.raises(AnsibleActionFail) as failure:
        run(sitevpn_tunnels=[psk_tunnel(trust_as_template('q7Vd-3mXr9{#LpZt2#}Kw8YbNc4J'))])
    assert "field psk: contains '{#'" in str(failure.value)
    assert 'LpZt2' not in str(failure.value)


def test_a_psk_marked_unsafe_is_taken_literally_and_never_templated():
    literal = 'q7Vd-3mXr9{{LpZt2Kw8YbNc4J}}{#x#}'   # !unsafe: a plain (untrusted) string
    dummy, result = run(sitevpn_tunnels=[psk_tunnel(literal)])
    assert result['tunnels'] == ['net-to-net']


def test_a_non_secret_value_that_does_not_render_shows_the_error():
    tunnel = dict(N2N, right_subnets=trust_as_template('{{ site2_lan }}'))
    with pytest.raises(AnsibleActionFail) as failure:
        run(sitevpn_tunnels=[tunnel])
    assert "tunnel net-to-net, field right_subnets: could not be templated: 'site2_lan' is undefined" in \
        str(failure.value)


def test_a_templated_name_labels_the_problems():
    tunnel = dict(N2N, name=trust_as_template('{{ prefix }}-vpn2'), right_subnets='10.0.0.1/24')
    with pytest.raises(AnsibleActionFail) as failure:
        run(sitevpn_tunnels=[tunnel], prefix='hq')
    assert 'tunnel hq-vpn2, field right_subnets' in str(failure.value)


@pytest.mark.parametrize('name, hint', [('sitevpn_tunnel', ' (did you mean sitevpn_tunnels?)'),
                                        ('sitevpn_public_adress', ' (did you mean sitevpn_public_address?)'),
                                        ('sitevpn_frobnicate', '')])
def test_a_sitevpn_variable_the_collection_does_not_read_is_refused(name, hint):
    with pytest.raises(AnsibleActionFail) as failure:
        run(**{name: 'x'})
    assert 'tunnel -, field %s: is not a variable of sitevpn.ipsec%s' % (name, hint) in str(failure.value)


def test_a_misspelt_host_variable_of_a_gateway_is_refused():
    hostvars = dict(HOSTVARS, vpn2={'sitevpn_public_address': '203.0.113.10', 'sitevpn_nexthp': '203.0.113.1'})
    with pytest.raises(AnsibleActionFail) as failure:
        run({'gateways': ['vpn1', 'vpn2']}, hostvars=hostvars)
    assert 'field sitevpn_nexthp (host variable of vpn2): is not a variable of sitevpn.ipsec (did you mean ' \
           'sitevpn_nexthop?)' in str(failure.value)


def test_the_awx_credentials_psk_variables_are_known():
    dummy, result = run(sitevpn_psk_net_to_net=PSK, sitevpn_awx_tunnels=[])
    assert result['tunnels'] == ['net-to-net']


def test_a_certificate_tunnel_needs_a_ca_directory_before_any_host_is_touched(tmp_path):
    cert = dict(N2N, auth='cert')
    with pytest.raises(AnsibleActionFail) as failure:
        run(sitevpn_tunnels=[cert])
    problems = failure.value.result['problems']
    assert [(p['tunnel'], p['field']) for p in problems] == [('net-to-net', 'auth cert, sitevpn_ca_dir of vpn1')]
    assert 'is not set' in problems[0]['problem']
    # a directory that does not exist yet is fine: the keys role makes the CA there
    hostvars = dict((host, dict(values, sitevpn_ca_dir=str(tmp_path / 'ca'))) for host, values in HOSTVARS.items())
    dummy, result = run(sitevpn_tunnels=[cert], hostvars=hostvars)
    assert result['tunnels'] == ['net-to-net']


def test_a_ca_that_cannot_be_read_is_refused_without_showing_its_passphrase(tmp_path):
    from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _ca_store
    _ca_store.ensure(str(tmp_path / 'ca'), passphrase='right-passphrase-1')
    hostvars = dict((host, dict(values, sitevpn_ca_dir=str(tmp_path / 'ca'), sitevpn_ca_passphrase='wrong-passphrase-2'))
                    for host, values in HOSTVARS.items())
    with pytest.raises(AnsibleActionFail) as failure:
        run(sitevpn_tunnels=[dict(N2N, auth='cert')], hostvars=hostvars)
    assert 'the CA key cannot be read' in str(failure.value)
    assert 'passphrase-' not in str(failure.value) and 'passphrase-' not in repr(failure.value.result)
