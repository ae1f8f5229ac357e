# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sitevpn.ipsec.status_info, case by case: see test_status_info.yaml and helper.py."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.sitevpn.ipsec.plugins.modules import status_info
from ansible_collections.sitevpn.ipsec.tests.unit.plugins.modules.helper import load_cases, run_case

CASES = load_cases(__file__)


@pytest.mark.parametrize('case', CASES, ids=[case['id'] for case in CASES])
def test_status_info(case, tmp_path, capsys, monkeypatch):
    run_case(status_info, case, tmp_path, capsys, monkeypatch)


@pytest.mark.parametrize('text, expected', [
    ('ID=debian\nVERSION_ID="12"\n', {'id': 'debian', 'version_id': '12', 'id_like': [], 'os_family': 'Debian'}),
    ('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n', {'id': 'ubuntu', 'id_like': ['debian'], 'os_family': 'Debian'}),
    ('ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n', {'id': 'rocky', 'os_family': 'RedHat'}),
    ('ID=fedora\nVERSION_ID=41\n', {'os_family': 'RedHat'}),
    ('ID=alpine\n', {'os_family': None}),
    (None, {'id': None, 'version_id': None, 'os_family': None}),
])
def test_os_info(text, expected):
    got = status_info.os_info(text)
    for key, value in expected.items():
        assert got[key] == value
