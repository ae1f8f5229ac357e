# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tunnel role rolls a failed change back in the order it applies one: every end first.

A rollback that restored and brought up in one call per gateway raced: the initiator could offer the
previous proposals to a peer that still had the failed ones loaded (NO_PROPOSAL_CHOSEN, seen in the lab's
test_60 once commands started faster). Ansible runs a task on every host before the next task starts
(linear strategy), so two tasks - put back and reload, then bring up - order the two ends. The lab proves
the rollback itself (tests/lab/test_60_safe_changes.py); this keeps the order from being merged away.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..'))


def _rollback_block():
    with open(os.path.join(REPO, 'roles', 'tunnel', 'tasks', 'main.yml')) as handle:
        tasks = yaml.safe_load(handle)
    blocks = [t for t in tasks if 'block' in t and any(
        s.get('sitevpn.ipsec.conns', {}).get('state') == 'rolled_back' for s in t['block'])]
    assert len(blocks) == 1
    return blocks[0]['block']


def test_every_end_puts_the_previous_files_back_before_any_end_brings_a_tunnel_up():
    steps = _rollback_block()
    conns = [(i, s['sitevpn.ipsec.conns']) for i, s in enumerate(steps) if 'sitevpn.ipsec.conns' in s]
    assert len(conns) == 2
    (put_back_at, put_back), (up_at, up) = conns
    assert put_back_at < up_at
    assert put_back.get('establish', False) is False and put_back.get('restore', True) is True
    assert up['establish'] is True and up['restore'] is False
    # the same tunnels and the same run's backups in both calls
    assert put_back['names'] == up['names'] and put_back['run_id'] == up['run_id']


def test_the_filter_rules_go_back_before_the_previous_tunnels_come_up():
    steps = _rollback_block()
    modules = [next(k for k in s if k.startswith('sitevpn.ipsec.')) for s in steps]
    assert modules == ['sitevpn.ipsec.conns', 'sitevpn.ipsec.firewall', 'sitevpn.ipsec.conns']


def test_the_site_to_site_play_keeps_the_linear_strategy_the_order_relies_on():
    with open(os.path.join(REPO, 'playbooks', 'site_to_site.yml')) as handle:
        plays = yaml.safe_load(handle)
    assert all(play.get('strategy', 'linear') == 'linear' for play in plays)
