# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sitevpn.ipsec.verify_info, case by case: see test_verify_info.yaml and helper.py."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.sitevpn.ipsec.plugins.modules import verify_info
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _verify
from ansible_collections.sitevpn.ipsec.tests.unit.plugins.modules.helper import live_capture, load_cases, run_case

CASES = load_cases(__file__)


@pytest.mark.parametrize('case', CASES, ids=[case['id'] for case in CASES])
def test_verify_info(case, tmp_path, capsys, monkeypatch):
    run_case(verify_info, case, tmp_path, capsys, monkeypatch)


@pytest.mark.parametrize('capture, missing', [
    ('5.2/verify.txt', True),
    ('4.10/verify.txt', False),
    ('4.10/checkconfig-5spelling.txt', False),   # another unknown command is not "verify is missing"
])
def test_verify_missing(capture, missing):
    rc, out, err = live_capture(capture)
    assert _verify.verify_missing(out + err) is missing


def test_listening_ports_reads_live_proc_net_udp(tmp_path):
    (tmp_path / 'net').mkdir()
    (tmp_path / 'net' / 'udp').write_text(live_capture('5.2/proc-net-udp.txt')[1])
    (tmp_path / 'net' / 'udp6').write_text(live_capture('5.2/proc-net-udp6.txt')[1])
    assert {500, 4500} <= _verify.listening_ports(str(tmp_path))
    assert _verify.listening_ports(str(tmp_path / 'nowhere')) == set()
