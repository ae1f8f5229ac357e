# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sitevpn.ipsec.diagnose_info, case by case: see test_diagnose_info.yaml and helper.py."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.sitevpn.ipsec.plugins.modules import diagnose_info
from ansible_collections.sitevpn.ipsec.tests.unit.plugins.modules.helper import load_cases, run_case

CASES = load_cases(__file__)


@pytest.mark.parametrize('case', CASES, ids=[case['id'] for case in CASES])
def test_diagnose_info(case, tmp_path, capsys, monkeypatch):
    run_case(diagnose_info, case, tmp_path, capsys, monkeypatch)
