# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sitevpn.ipsec.psk, case by case: see test_psk.yaml and helper.py."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.sitevpn.ipsec.plugins.modules import psk
from ansible_collections.sitevpn.ipsec.plugins.module_utils._conn import render_secrets
from ansible_collections.sitevpn.ipsec.tests.unit.plugins.modules.helper import load_cases, run_case

CASES = load_cases(__file__)


@pytest.mark.parametrize('case', CASES, ids=[case['id'] for case in CASES])
def test_psk(case, tmp_path, capsys, monkeypatch):
    run_case(psk, case, tmp_path, capsys, monkeypatch)


@pytest.mark.parametrize('key', ['simple', u'non-ascii \u00e9\u00e8 "quoted" key', 'x' * 200])
def test_reads_back_what_conns_writes(key, tmp_path):
    tunnel = {'name': 't1', 'auth': 'psk', 'psk': key, 'left': {'id': '@vpn1'}, 'right': {'id': '@vpn2'}}
    path = tmp_path / 't1.secrets'
    path.write_text(render_secrets(tunnel), encoding='utf-8')
    assert psk.read_managed_key(str(path)) == (key, None)


def test_two_runs_with_the_file_written_in_between_agree(tmp_path, capsys, monkeypatch):
    """The contract with conns: generate, conns writes the file, the next run returns the same key."""
    case = {'input': {'tunnels': ['t1']}, 'no_log': True, 'patch': {'CONF_DIR': str(tmp_path)}}
    first = run_case(psk, dict(case, output={'changed': True, 'generated': ['t1']}), tmp_path, capsys, monkeypatch)
    key = first['psks']['t1']
    tunnel = {'name': 't1', 'auth': 'psk', 'psk': key, 'left': {'id': '@vpn1'}, 'right': {'id': '@vpn2'}}
    (tmp_path / 't1.secrets').write_text(render_secrets(tunnel))
    run_case(psk, dict(case, output={'changed': False, 'generated': [], 'psks': {'t1': key}}),
             tmp_path, capsys, monkeypatch)


def test_why_the_keys_are_not_added_to_no_log_values(capsys):
    """Ansible masks no_log_values in the *returned data* too: a registered result would hold
    'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' instead of the key (and both ends would happily agree on
    that as their PSK). Hence the module
    returns the keys unmasked and refuses to run unless the task itself has no_log."""
    import json
    from ansible.module_utils.basic import AnsibleModule
    from ansible.module_utils.testing import patch_module_args
    with patch_module_args({}):
        module = AnsibleModule(argument_spec={})
        module.no_log_values.add('the-generated-key')
        with pytest.raises(SystemExit):
            module.exit_json(psks={'t1': 'the-generated-key'})
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result['psks'] == {'t1': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'}
