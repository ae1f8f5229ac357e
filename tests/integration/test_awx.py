# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""awx/configure.yml without an AWX: syntax, and the data it would send, checked.

The variables of awx/vars.yml are rendered by Ansible itself (a throwaway
playbook that loads them and dumps them as JSON), together with the task of
configure.yml that builds the PSK credential type, so what is checked here is
what the awx.awx modules would receive. The survey checks follow what the AWX
API accepts for a survey spec.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
AWX = os.path.join(REPO, 'awx')
BIN = os.path.dirname(sys.executable)
IDENTIFIER = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*$')
SURVEY_TYPES = ('text', 'textarea', 'password', 'integer', 'float', 'multiplechoice', 'multiselect')
DUMPED = ('sitevpn_awx_job_templates', 'sitevpn_awx_tunnels', 'sitevpn_awx_hosts', 'sitevpn_awx_groups',
          'sitevpn_awx_psk_tunnels', '__sitevpn_awx_psk_fields', '__sitevpn_awx_psk_injectors')


def ansible_env():
    return dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
                ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.venv', 'collections'))


def run(argv, cwd=REPO):
    proc = subprocess.run(argv, cwd=cwd, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300, check=False)
    assert proc.returncode == 0, '%s\n%s' % (' '.join(argv), proc.stdout[-3000:])
    return proc.stdout


def configure_tasks():
    with open(os.path.join(AWX, 'configure.yml')) as handle:
        plays = yaml.safe_load(handle)
    assert len(plays) == 1
    return plays[0]['tasks']


@pytest.fixture(scope='module')
def rendered(tmp_path_factory):
    """awx/vars.yml as Ansible renders it, plus the PSK credential type configure.yml builds."""
    work = tmp_path_factory.mktemp('awx')
    builders = [task for task in configure_tasks() if 'ansible.builtin.set_fact' in task]
    assert builders, 'configure.yml has no task that builds the PSK credential type'
    dump = '{{ {%s} | to_json }}' % ', '.join("'%s': %s | default(None)" % (name, name) for name in DUMPED)
    playbook = [{
        'name': 'Render awx/vars.yml', 'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
        'vars_files': [os.path.join(AWX, 'vars.yml')],
        'tasks': builders + [{'name': 'Dump', 'ansible.builtin.copy': {
            'content': dump,
            'dest': str(work / 'rendered.json'), 'mode': '0600'}}],
    }]
    (work / 'render.yml').write_text(yaml.safe_dump(playbook, sort_keys=False))
    run([os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-e', 'ansible_python_interpreter=' + sys.executable,
         str(work / 'render.yml')], cwd=str(work))
    return json.loads((work / 'rendered.json').read_text())


def test_configure_yml_passes_the_syntax_check():
    run([os.path.join(BIN, 'ansible-playbook'), '--syntax-check', '-i', 'localhost,',
         os.path.join(AWX, 'configure.yml')])


def test_every_job_template_runs_a_playbook_of_the_project(rendered):
    templates = rendered['sitevpn_awx_job_templates']
    names = [t['name'] for t in templates]
    assert len(names) == len(set(names))
    playbooks = set(t['playbook'] for t in templates)
    assert {'playbooks/site_to_site.yml', 'playbooks/diagnose.yml', 'playbooks/remove_tunnel.yml'} <= playbooks
    missing = sorted(p for p in playbooks if not os.path.isfile(os.path.join(REPO, p)))
    assert missing == [], 'job templates name playbooks the project does not have: %s' % missing


@pytest.mark.parametrize('playbook', ['playbooks/site_to_site.yml', 'playbooks/remove_tunnel.yml', 'playbooks/diagnose.yml'])
def test_the_playbooks_of_the_job_templates_pass_the_syntax_check(playbook):
    run([os.path.join(BIN, 'ansible-playbook'), '--syntax-check', '-i', 'localhost,',
         os.path.join(REPO, playbook)])


def read_or_empty(path):
    if not os.path.isfile(path):
        return ''
    with open(path) as handle:
        return handle.read()


def test_every_survey_spec_is_one_awx_accepts(rendered):
    for template in rendered['sitevpn_awx_job_templates']:
        spec, where = template['survey'], template['name']
        assert isinstance(spec, list) and spec, '%s: a survey needs questions' % where
        variables = [q.get('variable') for q in spec]
        assert len(variables) == len(set(variables)), '%s: a variable asked twice' % where
        for question in spec:
            label = '%s / %s' % (where, question.get('variable'))
            for key in ('question_name', 'variable', 'type', 'required'):
                assert key in question, '%s: no %s' % (label, key)
            assert question['type'] in SURVEY_TYPES, label
            assert isinstance(question['question_name'], str) and question['question_name'].strip(), label
            assert IDENTIFIER.match(question['variable']), label
            assert isinstance(question['required'], bool), label
            default = question.get('default')
            if question['type'] in ('multiplechoice', 'multiselect'):
                choices = question.get('choices')
                assert isinstance(choices, list) and choices, '%s: no choices' % label
                assert all(isinstance(c, str) and c for c in choices), label
                assert len(choices) == len(set(choices)), label
                chosen = default.split('\n') if question['type'] == 'multiselect' and default else [default]
                assert all(c in choices for c in chosen if c not in (None, '')), '%s: default not a choice' % label
            elif question['type'] in ('integer', 'float'):
                lo, hi = question.get('min'), question.get('max')
                if default not in (None, '') and lo is not None and hi is not None:
                    assert lo <= default <= hi, label
            else:
                assert default is None or isinstance(default, str), label


def test_every_survey_variable_is_read_by_the_playbook_or_its_roles(rendered):
    roles = ''.join(read_or_empty(os.path.join(REPO, 'roles', role, part))
                    for role in os.listdir(os.path.join(REPO, 'roles'))
                    for part in ('defaults/main.yml', 'meta/argument_specs.yml'))
    for template in rendered['sitevpn_awx_job_templates']:
        playbook = os.path.join(REPO, template['playbook'])
        if not os.path.isfile(playbook):
            continue    # reported by the test above
        text = read_or_empty(playbook) + roles
        for question in template['survey']:
            assert question['variable'] in text, '%s asks for %s, which nothing reads' % (
                template['name'], question['variable'])


def test_the_remove_survey_offers_exactly_the_tunnels(rendered):
    remove = [t for t in rendered['sitevpn_awx_job_templates'] if t['playbook'] == 'playbooks/remove_tunnel.yml']
    question = [q for q in remove[0]['survey'] if q['variable'] == 'sitevpn_remove_tunnel'][0]
    assert question['choices'] == [t['name'] for t in rendered['sitevpn_awx_tunnels']]
    assert question['required'] is True


def test_the_inventory_has_the_site_groups_of_known_hosts(rendered):
    groups, hosts = rendered['sitevpn_awx_groups'], rendered['sitevpn_awx_hosts']
    assert {'gateways', 'lan_hosts', 'site1', 'site2'} <= set(groups)
    for name, members in groups.items():
        assert set(members) <= set(hosts), name
    for tunnel in rendered['sitevpn_awx_tunnels']:
        assert {tunnel['left'], tunnel['right']} <= set(groups['gateways']), tunnel['name']


def test_the_psk_credential_type_injects_one_secret_extra_var_per_psk_tunnel(rendered):
    fields, injectors = rendered['__sitevpn_awx_psk_fields'], rendered['__sitevpn_awx_psk_injectors']
    psk_tunnels = [t for t in rendered['sitevpn_awx_tunnels'] if t.get('auth') == 'psk']
    assert psk_tunnels and rendered['sitevpn_awx_psk_tunnels'] == [t['name'] for t in psk_tunnels]
    ids = [f['id'] for f in fields]
    assert len(ids) == len(psk_tunnels) == len(set(ids))
    for field in fields:
        assert IDENTIFIER.match(field['id']) and field['id'].startswith('sitevpn_psk_'), field
        assert field['secret'] is True and field['type'] == 'string' and field['label'], field
    # the Jinja2 reaches AWX unrendered: AWX fills in the secret when it launches a job
    assert injectors == dict((i, '{{ %s }}' % i) for i in ids)
    # and each PSK tunnel of the inventory reads the extra var of its own field
    for tunnel, field_id in zip(psk_tunnels, ids):
        assert tunnel['psk'] == '{{ %s }}' % field_id, tunnel['name']


def test_secrets_are_not_logged_by_configure_yml():
    for task in configure_tasks():
        module = [k for k in task if k.startswith('awx.awx.')]
        if module == ['awx.awx.credential'] and task[module[0]].get('credential_type') != 'Machine':
            assert task.get('no_log') is True, task['name']
