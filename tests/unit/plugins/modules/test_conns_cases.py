# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sitevpn.ipsec.conns, case by case: see test_conns.yaml and helper.py (test_conns.py has the rest)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.sitevpn.ipsec.plugins.module_utils import _conn
from ansible_collections.sitevpn.ipsec.plugins.modules import conns
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _gateway
from ansible_collections.sitevpn.ipsec.tests.unit.plugins.modules.helper import fixed_temp_path, load_cases, run_case

CASES = load_cases(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'test_conns.yaml'))


@pytest.mark.parametrize('case', CASES, ids=[case['id'] for case in CASES])
def test_conns_case(case, tmp_path, capsys, monkeypatch):
    # the conn files go to {tmp}/ipsec.d (_conn builds their paths, conns lists the folder)
    conf_dir = str(tmp_path / 'ipsec.d')
    os.mkdir(conf_dir)
    monkeypatch.setattr(_conn, 'CONF_DIR', conf_dir)
    monkeypatch.setattr(_gateway, 'CONF_DIR', conf_dir)
    # the folder `ipsec addconn --checkconfig` reads gets a known name: {tmp}/check
    fixed_temp_path(monkeypatch, _gateway, 'sitevpn-check-', str(tmp_path / 'check'), directory=True)
    run_case(conns, case, tmp_path, capsys, monkeypatch)
