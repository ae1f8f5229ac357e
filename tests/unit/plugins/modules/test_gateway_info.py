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

from ansible_collections.sitevpn.ipsec.plugins.modules import gateway_info
from ansible_collections.sitevpn.ipsec.tests.unit.plugins.modules.helper import load_cases, run_case

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
