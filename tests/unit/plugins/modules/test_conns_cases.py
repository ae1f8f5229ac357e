# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sitevpn.ipsec.conns, case by case: see test_conns.yaml and helper.py (test_conns.py has the rest)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.sitevpn.ipsec.plugins.modules import conns
from ansible_collections.sitevpn.ipsec.tests.unit.plugins.modules.helper import conn_dirs, load_cases, run_case

CASES = load_cases(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'test_conns.yaml'))


@pytest.mark.parametrize('case', CASES, ids=[case['id'] for case in CASES])
def test_conns_case(case, tmp_path, capsys, monkeypatch):
    # the conn files go to {tmp}/ipsec.d; the folder `ipsec addconn --checkconfig` reads is {tmp}/check
    conn_dirs(tmp_path, monkeypatch)
    run_case(conns, case, tmp_path, capsys, monkeypatch)
