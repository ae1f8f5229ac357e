# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sitevpn.ipsec.preflight, case by case: see test_preflight.yaml.

preflight is an action plugin (plugins/action/preflight.py; plugins/modules/preflight.py holds only its
documentation): it runs on the controller, has no ``main()`` and runs no command, so helper.run_case cannot
drive it. This runs the action as a task instead, with the case's ``input`` as the task's arguments and
``vars`` as its variables (``hostvars`` among them), and compares the result - or, when it fails, the
``AnsibleActionFail`` result (``msg``, ``problems``) - with helper.assert_subset. Other case keys:
``check_mode``, ``failed``, ``output``, ``warnings_shown`` (what went to the display, exactly) and
``not_in_output``. tests/unit/plugins/action/test_preflight.py has the templating cases.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.sitevpn.ipsec.plugins.action import preflight
from ansible_collections.sitevpn.ipsec.tests.unit.plugins.modules.helper import assert_subset, load_cases

CASES = load_cases(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'test_preflight.yaml'))


def run_action(case):
    """(result, what the action showed as warnings); a failure's result carries ``failed`` and ``msg``."""
    task = mock.MagicMock()
    task.args = dict(case.get('input') or {})
    task.async_val = 0
    task.check_mode = bool(case.get('check_mode'))
    connection = mock.MagicMock()
    connection._shell.tmpdir = '/tmp/not-used'
    variables = dict(case.get('vars') or {})
    loader = DataLoader()
    action = preflight.ActionModule(task=task, connection=connection, play_context=mock.MagicMock(), loader=loader,
                                    templar=Templar(loader=loader, variables=variables), shared_loader_obj=None)
    action._display = mock.MagicMock()
    try:
        result = action.run(task_vars=variables)
    except AnsibleActionFail as exc:
        result = dict(exc.result, failed=True, msg=str(exc))
    return result, [call.args[0] for call in action._display.warning.call_args_list]


@pytest.mark.parametrize('case', CASES, ids=[case['id'] for case in CASES])
def test_preflight_case(case):
    result, shown = run_action(case)
    assert bool(result.get('failed')) == bool(case.get('failed')), \
        'failed=%r, expected %r: %s' % (result.get('failed'), case.get('failed'), result.get('msg'))
    assert_subset(case.get('output') or {}, result)
    assert shown == (case.get('warnings_shown') or []), 'warnings shown: %r' % (shown,)
    printed = json.dumps(result, default=str)
    for secret in case.get('not_in_output') or []:
        assert secret not in printed, 'secret %r appears in the result' % secret
