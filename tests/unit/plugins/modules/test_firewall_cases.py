# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sitevpn.ipsec.firewall, case by case: see test_firewall.yaml and helper.py (test_firewall_module.py has the rest).

The file is not named test_firewall.py: tests/unit/plugins/module_utils has one, and pytest imports test files
by their base name.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.sitevpn.ipsec.plugins.modules import firewall
from ansible_collections.sitevpn.ipsec.tests.unit.plugins.modules.helper import fixed_temp_path, load_cases, run_case

CASES = load_cases(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'test_firewall.yaml'))


@pytest.mark.parametrize('case', CASES, ids=[case['id'] for case in CASES])
def test_firewall_case(case, tmp_path, capsys, monkeypatch):
    # the ruleset the nft dry run checks gets a known name: {tmp}/probe.nft
    fixed_temp_path(monkeypatch, firewall, 'sitevpn-nft-', str(tmp_path / 'probe.nft'))
    run_case(firewall, case, tmp_path, capsys, monkeypatch)
