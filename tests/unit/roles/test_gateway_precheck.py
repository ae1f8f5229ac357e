# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The site_to_site playbook's one-call precheck asks the questions the roles' steps would answer.

Its gateway_info task checks the install, firewall and host key steps with options of its own; a step is
then skipped where the check found nothing to change. If the check were given other options than the step
(an option added to a role and forgotten here), a step that would change something could be skipped. So the
options must be the roles' own, expression for expression, and each step must be skipped only on the
check's word.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..'))

# role, module of its step, the options the check does not need (check mode writes no backup);
# the load step (tunnel role, conns) has tests of its own below
STEPS = {
    'install': ('install', 'sitevpn.ipsec.libreswan', ()),
    'firewall': ('firewall', 'sitevpn.ipsec.firewall', ('run_id',)),
    'hostkey': ('keys', 'sitevpn.ipsec.hostkey', ()),
}


def _load(*parts):
    with open(os.path.join(REPO, *parts)) as handle:
        return yaml.safe_load(handle)


def _precheck():
    play = [p for p in _load('playbooks', 'site_to_site.yml') if p.get('roles')][0]
    tasks = [t for t in play['pre_tasks'] if 'sitevpn.ipsec.gateway_info' in t]
    assert len(tasks) == 1
    return play, tasks[0]


def _step_task(role, module):
    tasks = [t for t in _load('roles', role, 'tasks', 'main.yml') if module in t]
    if module == 'sitevpn.ipsec.conns':
        tasks = [t for t in tasks if t['register'] == '__sitevpn_loaded']     # the load step
    assert len(tasks) == 1, (role, module)
    return tasks[0]


def test_the_precheck_runs_before_the_roles_it_checks_and_registers_what_they_read():
    play, task = _precheck()
    roles = [r['role'] for r in play['roles']]
    assert roles[:3] == ['sitevpn.ipsec.install', 'sitevpn.ipsec.firewall', 'sitevpn.ipsec.keys']
    assert task['register'] == '__sitevpn_gateway'


def test_the_install_and_firewall_checks_get_the_options_of_their_steps():
    _play, task = _precheck()
    for step in ('install', 'firewall'):
        role, module, unneeded = STEPS[step]
        options = dict(_step_task(role, module)[module])
        for name in unneeded:
            options.pop(name)
        assert task['sitevpn.ipsec.gateway_info'][step] == options, step


def test_the_host_key_check_gets_the_options_of_its_step_and_only_where_the_step_would_run():
    _play, task = _precheck()
    step = _step_task('keys', 'sitevpn.ipsec.hostkey')
    given = task['sitevpn.ipsec.gateway_info']['hostkey']
    for name, expression in step['sitevpn.ipsec.hostkey'].items():
        # the step writes "{{ x }}", the check builds a dict {'bits': x, ...}
        variable = expression.strip('{} ')
        assert "'%s': %s" % (name, variable) in given, name
    # the step's own condition guards the check: no host key is read on a PSK-only gateway
    assert step['when'][0] in given


def test_each_step_is_skipped_only_where_the_check_found_nothing_to_change():
    for step, (role, module, _unneeded) in STEPS.items():
        when = _step_task(role, module)['when']
        conditions = when if isinstance(when, list) else [when]
        # absent (a role used on its own, or sitevpn_precheck false): the step runs
        assert '__sitevpn_gateway.steps.%s.would_change | default(true)' % step in conditions, step


def test_the_load_check_gets_the_load_steps_tunnels_without_their_keys_and_its_purge():
    _play, task = _precheck()
    given = task['sitevpn.ipsec.gateway_info']['conns']
    options = _step_task('tunnel', 'sitevpn.ipsec.conns')['sitevpn.ipsec.conns']
    assert options['tunnels'] == '{{ __sitevpn_public }}'
    public = _load('roles', 'tunnel', 'vars', 'main.yml')['__sitevpn_public'].strip()
    # the same resolution, except that the keys published by the keys role are not there yet
    assert given['tunnels'] == public.replace('hostvars, secrets=false', 'hostvars, require_keys=false, secrets=false')
    assert given['purge'] == options['purge']
    # what the load step gets besides: the PSKs (the check refuses PSK tunnels) and this run's backup name
    assert set(options) - set(given) == {'psks', 'run_id', 'on_failure'}


def test_the_load_step_is_skipped_only_where_the_check_found_nothing_and_the_keys_it_assumed_are_the_real_ones():
    assert _step_task('tunnel', 'sitevpn.ipsec.conns')['when'] == 'not __sitevpn_load_checked'
    checked = ' '.join(_load('roles', 'tunnel', 'vars', 'main.yml')['__sitevpn_load_checked'].split())
    assert checked.startswith('{{ (__sitevpn_gateway.steps.conns.would_change | default(true)) is false and ')
    for side in ('left', 'right'):
        assert ("__sitevpn_gateway.steps.conns.pubkeys.%s == __sitevpn_public | map(attribute='%s.pubkey', default=none)"
                % (side, side)) in checked
