# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sitevpn.ipsec.gateway_info: the checks of three steps in one call, on the steps' own test gateways.

A gateway in the state where the libreswan, firewall and hostkey modules' own cases say "changed: false"
(test_libreswan.yaml, test_firewall.yaml, test_hostkey.yaml: same files, same command outputs) is one where
gateway_info says no step would change - and the host key fact is there for the peer. Drift in one step's
part of the gateway makes that step, and only that step, one to run. Nothing is ever changed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import os

import pytest

from ansible_collections.sitevpn.ipsec.plugins.filter.host_tunnels import host_tunnels, resolve
from ansible_collections.sitevpn.ipsec.plugins.module_utils.ipsec_output import parse_showhostkey
from ansible_collections.sitevpn.ipsec.plugins.modules import conns, gateway_info
from ansible_collections.sitevpn.ipsec.tests.unit.plugins.modules.helper import conn_dirs, live_capture, load_cases, run_case

HERE = os.path.dirname(os.path.abspath(__file__))
CKAID = 'd8496f84115c9d908072ef0318739872cf51f357'


def _unchanged_case(step, case_id):
    cases = load_cases(os.path.join(HERE, 'test_%s.yaml' % step))
    case = [c for c in cases if c['id'] == case_id][0]
    assert case['output']['changed'] is False
    return case


# each step's own "nothing to change" case: its options, its files, the commands it runs (all read-only)
STEPS = {
    'install': _unchanged_case('libreswan', 'a_second_run_with_the_same_config_setup_changes_nothing_and_restarts_nothing_410'),
    'firewall': _unchanged_case('firewall', 'a_second_run_finds_everything_in_place_and_changes_nothing'),
    'hostkey': _unchanged_case('hostkey', 'existing_recorded_key_is_left_alone_410'),
}


def gateway_as_left(**edits):
    """One case of all three steps on a gateway as the last run left it; *edits* are its files changed by hand."""
    case = {'input': {}, 'patch': {}, 'files': {}, 'run_command_calls': []}
    for step, own in STEPS.items():
        case['input'][step] = copy.deepcopy(own['input'])
        case['patch'].update(own.get('patch') or {})
        case['files'].update(own.get('files') or {})
        calls = own['run_command_calls']
        if step == 'install':
            calls = calls[:3]       # in check mode the module does not ask is-active again after acting
        case['run_command_calls'] += copy.deepcopy(calls)
    case['files'].update(edits)
    return case


def run(case, tmp_path, capsys, monkeypatch):
    case.setdefault('output', {})['changed'] = False
    return run_case(gateway_info, case, tmp_path, capsys, monkeypatch)


def test_a_gateway_as_the_last_run_left_it_needs_none_of_the_three_steps(tmp_path, capsys, monkeypatch):
    case = gateway_as_left()
    case['output'] = {'steps': {'install': {'would_change': False, 'changes': []},
                                'firewall': {'would_change': False, 'changes': []},
                                'hostkey': {'would_change': False, 'changes': []}},
                      'ansible_facts': {'sitevpn_hostkey': {'ckaid': CKAID, 'keyid': 'AwEAAbSE0', 'bits': 3072,
                                                            'pubkey': 're:^0sAwEAAbSE0'}}}
    run(case, tmp_path, capsys, monkeypatch)


def test_forwarding_turned_off_by_hand_makes_the_firewall_step_one_to_run_and_is_left_off(tmp_path, capsys, monkeypatch):
    forwarding_off = {'{tmp}/proc/sys/net/ipv4/ip_forward': '0\n'}
    case = gateway_as_left(**forwarding_off)
    case['output'] = {'steps': {'install': {'would_change': False},
                                'firewall': {'would_change': True, 'changes': ['sysctl']},
                                'hostkey': {'would_change': False}}}
    case['files_after'] = forwarding_off
    run(case, tmp_path, capsys, monkeypatch)


def test_pluto_stopped_makes_the_install_step_one_to_run_and_the_host_key_waits_for_it(tmp_path, capsys, monkeypatch):
    case = gateway_as_left()
    case['run_command_calls'][2]['rc'] = 3          # systemctl is-active ipsec: inactive
    del case['run_command_calls'][-2:]              # no showhostkey: the key is read after pluto runs
    case['output'] = {'steps': {'install': {'would_change': True, 'changes': ['started']},
                                'firewall': {'would_change': False},
                                'hostkey': {'would_change': True, 'error': 'checked after the install step'}}}
    result = run(case, tmp_path, capsys, monkeypatch)
    assert 'ansible_facts' not in result            # no fact from a key that was not read


def test_a_step_that_cannot_be_checked_is_one_to_run_and_the_call_still_answers_for_the_others(tmp_path, capsys, monkeypatch):
    case = gateway_as_left()
    del case['input']['install']
    case['run_command_calls'] = case['run_command_calls'][3:4]     # the firewall's only question
    case['bins'] = {'ipsec': None}                                 # Libreswan gone: no showhostkey
    case['output'] = {'steps': {'firewall': {'would_change': False},
                                'hostkey': {'would_change': True, 'error': 're:ipsec'}}}
    result = run(case, tmp_path, capsys, monkeypatch)
    assert 'install' not in result['steps']                        # not asked, not checked


# -- the load step (conns): checked with the keys its conn files hold ------------------------------------------

IPSEC = '/usr/sbin/ipsec'
ROUTES = {'argv': ['/usr/sbin/ip', '-o', 'route', 'show', 'table', 'main'],
          'out': 'default via 198.51.100.1 dev eth0 \n172.16.1.0/24 dev eth1 proto kernel scope link src 172.16.1.1 \n'}


def _pubkey(capture):
    return parse_showhostkey(live_capture(capture)[1])['rsasigkey']


# the lab's two host keys (4.10's vpn1, 5.2's vpn2); the tunnel's name is the one pluto's captures know
KEYS = {'vpn1': _pubkey('4.10/showhostkey-left-ckaid.txt'), 'vpn2': _pubkey('5.2/showhostkey-left-ckaid.txt')}
TUNNEL = {'name': 'psk', 'left': 'vpn1', 'right': 'vpn2', 'left_subnets': '172.16.14.0/24',
          'right_subnets': '10.0.14.0/24', 'auth': 'rsasig'}


def _hostvars(keys=True):
    return {'vpn1': dict({'sitevpn_public_address': '198.51.100.10'},
                         **({'sitevpn_hostkey': {'pubkey': KEYS['vpn1']}} if keys else {})),
            'vpn2': dict({'sitevpn_public_address': '203.0.113.10'},
                         **({'sitevpn_hostkey': {'pubkey': KEYS['vpn2']}} if keys else {}))}


@pytest.fixture
def loaded_before(tmp_path, monkeypatch, capsys):
    """vpn1 after a run of the conns module that wrote and loaded the RSA tunnel (its keys in the conn)."""
    conf_dir, check = conn_dirs(tmp_path, monkeypatch)
    main = os.path.join(check, 'ipsec.conf')
    run_case(conns, {'input': {'tunnels': resolve([TUNNEL], 'vpn1', _hostvars())}, 'run_command_calls': [
        {'argv': [IPSEC, '--version'], 'capture': '4.10/version.txt'},
        {'argv': [IPSEC, 'status'], 'capture': '4.10/status-after-empty-add.txt'}, ROUTES,
        {'argv': [IPSEC, 'addconn', '--checkconfig', '--config', main], 'capture': '4.10/checkconfig.txt'},
        {'argv': [IPSEC, 'addconn', '--ctlsocket', os.path.join(check, 'nobody.ctl'), '--config', main, 'psk'],
         'capture': '4.10/addconn-dry-run.txt'},
        {'argv': [IPSEC, 'addconn', '--config', '/etc/ipsec.conf', 'psk']},
        {'argv': [IPSEC, 'status'], 'capture': '4.10/status-loaded.txt'}]}, tmp_path, capsys, monkeypatch)
    assert KEYS['vpn2'] in (conf_dir / 'psk.conf').read_text()
    return conf_dir / 'psk.conf'


RERUN_READS = [{'argv': [IPSEC, '--version'], 'capture': '4.10/version.txt'},
               {'argv': [IPSEC, 'status'], 'capture': '4.10/status-loaded.txt'}, ROUTES,
               {'argv': [IPSEC, 'trafficstatus'], 'capture': '4.10/trafficstatus-established.txt'}]


def test_before_the_keys_are_known_the_load_check_uses_the_conns_keys_and_says_which(loaded_before, tmp_path, capsys, monkeypatch):
    written = loaded_before.read_text()
    case = {'input': {'conns': {'tunnels': resolve([TUNNEL], 'vpn1', _hostvars(keys=False), require_keys=False)}},
            'run_command_calls': RERUN_READS,
            'output': {'steps': {'conns': {'would_change': False, 'changes': [],
                                           'pubkeys': {'left': [KEYS['vpn1']], 'right': [KEYS['vpn2']]}}}}}
    result = run(case, tmp_path, capsys, monkeypatch)
    # what the load step would have returned: nothing changed, the tunnel up with its SA - the role skips both
    loaded = result['steps']['conns']['loaded']
    assert loaded['changed'] is False and loaded['ready'] is True and loaded['changed_tunnels'] == []
    assert loaded['tunnels']['psk']['child_sas'] == [{'serial': 2, 'in_bytes': 0, 'out_bytes': 0}]
    assert loaded_before.read_text() == written


def test_a_conn_edited_on_the_gateway_makes_the_load_step_one_to_run(loaded_before, tmp_path, capsys, monkeypatch):
    loaded_before.write_text(loaded_before.read_text().replace('10.0.14.0/24', '10.0.99.0/24'))
    case = {'input': {'conns': {'tunnels': resolve([TUNNEL], 'vpn1', _hostvars(keys=False), require_keys=False)}},
            'run_command_calls': RERUN_READS[:3],       # no trafficstatus: the step will run and read it
            'output': {'steps': {'conns': {'would_change': True, 'changes': ['psk']}}}}
    result = run(case, tmp_path, capsys, monkeypatch)
    assert result['steps']['conns']['loaded']['ready'] is False


def test_psk_tunnels_are_left_to_the_load_step_their_keys_come_later(tmp_path, capsys, monkeypatch):
    tunnel = dict(TUNNEL, auth='psk', psk='a-pre-shared-key-for-the-unit-tests-0123')
    case = {'input': {'conns': {'tunnels': host_tunnels([tunnel], 'vpn1', _hostvars(), secrets=False)}},
            'output': {'steps': {'conns': {'would_change': True, 'error': 're:PSKs and certificates of psk'}}}}
    run(case, tmp_path, capsys, monkeypatch)


def test_a_check_that_breaks_does_not_stop_the_run_its_step_runs_and_reports(tmp_path, capsys, monkeypatch):
    def broken(view):
        raise KeyError('left')
    monkeypatch.setattr(gateway_info, 'CHECKS', (('firewall', {}, broken),))
    case = {'input': {'firewall': {}},
            'output': {'steps': {'firewall': {'would_change': True, 'error': "the check failed: KeyError: 'left'"}}}}
    run(case, tmp_path, capsys, monkeypatch)
