# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sitevpn.ipsec.libreswan, case by case: see test_libreswan.yaml and helper.py (test_libreswan.py has the rest)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.sitevpn.ipsec.plugins.modules import libreswan
from ansible_collections.sitevpn.ipsec.tests.unit.plugins.modules.helper import fixed_temp_path, load_cases, run_case

CASES = load_cases(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'test_libreswan.yaml'))


@pytest.mark.parametrize('case', CASES, ids=[case['id'] for case in CASES])
def test_libreswan_case(case, tmp_path, capsys, monkeypatch):
    # the staged ipsec.conf that `ipsec addconn --checkconfig` reads gets a known name
    (tmp_path / 'etc').mkdir()
    fixed_temp_path(monkeypatch, libreswan, '.ipsec.conf.', str(tmp_path / 'etc' / '.ipsec.conf.new'))
    run_case(libreswan, case, tmp_path, capsys, monkeypatch)
