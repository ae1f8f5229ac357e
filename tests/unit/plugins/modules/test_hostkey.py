# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sitevpn.ipsec.hostkey, case by case: see test_hostkey.yaml and helper.py."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.sitevpn.ipsec.plugins.modules import hostkey
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _hostkey
from ansible_collections.sitevpn.ipsec.tests.unit.plugins.modules.helper import live_capture, load_cases, run_case

CASES = load_cases(__file__)


@pytest.mark.parametrize('case', CASES, ids=[case['id'] for case in CASES])
def test_hostkey(case, tmp_path, capsys, monkeypatch):
    run_case(hostkey, case, tmp_path, capsys, monkeypatch)


@pytest.mark.parametrize('capture, bits', [
    ('4.10/showhostkey-left-ckaid.txt', 3072),
    ('4.10/showhostkey-left-second.txt', 3072),
    ('5.2/showhostkey-right-ckaid.txt', 3072),
])
def test_rsa_bits_of_live_keys(capture, bits):
    from ansible_collections.sitevpn.ipsec.plugins.module_utils.ipsec_output import parse_showhostkey
    _rc, out, _err = live_capture(capture)
    assert _hostkey.rsa_bits(parse_showhostkey(out)['rsasigkey']) == bits


@pytest.mark.parametrize('bits, ok', [(2048, False), (2192, True), (2200, False), (3072, True), (4096, True), (0, False)])
def test_check_bits(bits, ok):
    assert (_hostkey.check_bits(bits) is None) == ok


def test_rsa_bits_rejects_garbage():
    assert _hostkey.rsa_bits(None) is None
    assert _hostkey.rsa_bits('AwEAA') is None
    assert _hostkey.rsa_bits('0s!!!') is None
    assert _hostkey.rsa_bits('0s') is None


def test_generated_ckaid_reads_both_versions():
    for capture in ('4.10/newhostkey-3072.txt', '5.2/newhostkey-3072.txt'):
        _rc, out, err = live_capture(capture)
        assert len(_hostkey.generated_ckaid(out + err)) == 40
    assert _hostkey.generated_ckaid(live_capture('4.10/newhostkey-uninit.txt')[1]) is None
