# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The parsers against output captured live in the lab.

``data/live/<version>/<what>.txt`` holds ``$ command`` and then exactly what the command printed
(stdout, then stderr) on a lab gateway: 4.10 is Debian 12's Libreswan, 5.2 Debian 13's. Both ran
without a terminal, as under Ansible. ``data/live/INDEX.yml`` records each exit code and how many
lines were stdout.

Every capture has an entry in EXPECTED below - a new capture without a verdict fails
``test_every_capture_has_a_verdict`` - and the exit code is asserted too, because several of them
are the reason the modules never trust exit codes alone (4.10 exits 0 on a wrong RSA key).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest
import yaml

from ansible_collections.sitevpn.ipsec.plugins.module_utils import ipsec_output as io_
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _hostkey, _verify

LIVE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'live')

with open(os.path.join(LIVE, 'INDEX.yml')) as _handle:
    INDEX = yaml.safe_load(_handle)


@pytest.fixture(autouse=True, scope='module')
def strict_parsers():
    old = io_._STRICT
    io_._STRICT = True
    yield
    io_._STRICT = old


def read(name):
    """(command, rc, stdout, stderr) of one capture."""
    with open(os.path.join(LIVE, name)) as handle:
        first, rest = handle.read().split('\n', 1)
    lines = rest.splitlines(True)
    split = INDEX[name]['stdout_lines']
    return first[2:], INDEX[name]['rc'], ''.join(lines[:split]), ''.join(lines[split:])


def up(established, kind=None, rc=0, ike_version=2, children=None):
    def check(out, err):
        result = io_.parse_auto_up(out + err)
        assert result['established'] is established
        assert (result['error'] or {}).get('kind') == kind, result['error']
        assert result['ike_version'] == ike_version
        if children is not None:
            assert [child['serial'] for child in result['child_sas']] == children
    return rc, check


def add(name, loaded, kind=None, rc=0):
    def check(out, err):
        result = io_.parse_add(out + err, name=name)
        assert result['loaded'] is loaded
        assert (result['error'] or {}).get('kind') == kind, result['error']
    return rc, check


def down(deleted, serials=(), kind=None, rc=0):
    def check(out, err):
        result = io_.parse_down(out + err)
        assert result['deleted'] is deleted
        assert result['serials'] == list(serials)
        assert (result['error'] or {}).get('kind') == kind
    return rc, check


def status(loaded, established=(), conns=None, routing=None):
    def check(out, err):
        result = io_.parse_status(out + err)
        assert result['totals'].get('loaded') == loaded
        assert io_.established_children(result) == set(established)
        if conns is not None:
            assert sorted(result['connections']) == sorted(conns)
        for name, value in (routing or {}).items():
            assert result['connections'][name]['routing'] == value
        for conn in result['connections'].values():
            assert conn['oriented'] is True and conn['ike_version'] == 2
    return 0, check


def traffic(serials, rc=0):
    def check(out, err):
        assert [sa['serial'] for sa in io_.parse_trafficstatus(out + err)] == list(serials)
    return rc, check


def error(kind, rc):
    def check(out, err):
        assert (io_.detect_error(out + err) or {}).get('kind') == kind
    return rc, check


def keys(count, rc=0, nss_error=None):
    def check(out, err):
        result = io_.parse_showhostkey(out + err)
        assert len(_hostkey.rsa_keys(result['keys'])) == count
        assert (result['error'] or {}).get('kind') == nss_error
    return rc, check


def pubkey(side, keyid):
    def check(out, err):
        result = io_.parse_showhostkey(out + err)
        assert result['side'] == side and result['keyid'] == keyid
        assert result['line'].startswith('%srsasigkey=0sAwEAA' % side)
        assert _hostkey.rsa_bits(result['rsasigkey']) == 3072
    return 0, check


def hostkey_error(kind, rc):
    def check(out, err):
        result = io_.parse_showhostkey(out + err)
        assert result['rsasigkey'] is None
        assert (result['error'] or {}).get('kind') == kind
    return rc, check


def generated(ok, rc=0):
    def check(out, err):
        assert out == '' or not ok          # the key pair report is on stderr only
        assert bool(_hostkey.generated_ckaid(out + err)) is ok
    return rc, check


def version(major, minor):
    def check(out, err):
        result = io_.parse_version(out + err)
        assert (result['product'], result['major'], result['minor']) == ('libreswan', major, minor)
    return 0, check


def verify(failed, rc):
    def check(out, err):
        assert not _verify.verify_missing(out + err)
        result = io_.parse_verify(out)
        assert result['failed'] == failed
        assert all(check['remedy'] for check in result['checks'] if not check['ok'])
    return rc, check


def verify_missing(rc):
    def check(out, err):
        assert _verify.verify_missing(out + err)
    return rc, check


def quiet(rc=0):
    """Prints nothing at all (checkconfig that finds nothing, whack replies 4.10 keeps to a terminal)."""
    def check(out, err):
        assert out == '' and err == ''
    return rc, check


def stderr_only(rc, text):
    def check(out, err):
        assert out == '' and text in err
    return rc, check


def stdout_has(text, rc=0):
    def check(out, err):
        assert text in out
    return rc, check


def udp_ports(*ports):
    def check(out, err, tmp=None):
        lines = out.splitlines()[1:]
        found = set(int(line.split()[1].rsplit(':', 1)[1], 16) for line in lines)
        assert set(ports) <= found
    return 0, check


SEED_LOADED = ['proposal', 'psk', 'rsa', 'unreachable', 'wrongpsk', 'wrongrsa']
SEED_NO_PSK = ['proposal', 'rsa', 'unreachable', 'wrongpsk', 'wrongrsa']

EXPECTED = {
    # -- Libreswan 4.10 (Debian 12, vpn1, left end) -------------------------------------
    '4.10/version.txt': version(4, 10),
    '4.10/up-psk.txt': up(True, children=[2]),
    '4.10/up-rsa.txt': up(True, children=[2]),
    '4.10/up-wrongpsk.txt': up(False, 'auth_failed', rc=36),
    '4.10/up-wrongrsa.txt': up(False, 'auth_failed', rc=0),          # exit 0 on a wrong RSA key!
    '4.10/up-proposal.txt': up(False, 'no_proposal', rc=0),         # Child SA refused, exit 0
    '4.10/up-proposal-ike.txt': up(False, 'no_proposal', rc=31),    # IKE refused, then the 60 s timeout
    '4.10/up-unreachable.txt': up(False, 'timeout', rc=31),
    '4.10/up-unknown.txt': up(False, 'no_connection', rc=21, ike_version=None),
    '4.10/up-pluto-down.txt': up(False, 'not_loaded', rc=33, ike_version=None),
    '4.10/add-psk.txt': add('psk', None),                          # nothing printed without a terminal
    '4.10/add-bad.txt': add('bad', False, 'config', rc=0),         # exit 0 although it did not load
    '4.10/add-unknown.txt': add('nosuch', False, 'no_connection', rc=21),
    '4.10/add-empty-rsasigkey.txt': add('rsa', None),              # 4.10 loads it (status shows it)
    '4.10/replace-psk.txt': add('psk', None),                      # complaints about conn 'bad' only
    '4.10/down-psk.txt': down(True, [1, 2]),
    '4.10/down-rsa.txt': down(True, [1, 2]),
    '4.10/down-notup.txt': down(False),
    '4.10/down-unknown.txt': quiet(),
    '4.10/down-wrongpsk.txt': down(False),
    '4.10/down-wrongrsa.txt': down(True, [5]),
    '4.10/down-proposal.txt': down(True, [7]),
    '4.10/down-proposal-ike.txt': down(True, [15]),
    '4.10/down-unreachable.txt': down(True, [10]),
    '4.10/delete-psk.txt': down(False),
    '4.10/delete-unknown.txt': quiet(),                            # --delete of an unknown conn: exit 0, silent
    '4.10/status-established.txt': status(6, ['psk'], SEED_LOADED, {'psk': 'erouted', 'rsa': 'unrouted'}),
    '4.10/status-loaded.txt': status(6, [], SEED_LOADED),
    '4.10/status-no-psk.txt': status(5, [], SEED_NO_PSK),
    '4.10/status-after-empty-add.txt': stdout_has('"rsa": 172.16.1.0/24===198.51.100.10[@vpn1]'),
    '4.10/status-pluto-down.txt': error('not_loaded', 33),
    '4.10/trafficstatus-established.txt': traffic([2]),
    '4.10/trafficstatus-empty.txt': traffic([]),
    '4.10/trafficstatus-pluto-down.txt': error('not_loaded', 33),
    '4.10/showhostkey-list-empty.txt': keys(0),
    '4.10/showhostkey-list-fresh.txt': keys(0),
    '4.10/showhostkey-list-one.txt': keys(1),
    '4.10/showhostkey-list-two.txt': keys(2),
    '4.10/showhostkey-list-uninit.txt': keys(0, rc=1, nss_error='nss_not_initialised'),
    '4.10/showhostkey-list-nodir.txt': keys(0, rc=1, nss_error='nss_not_initialised'),
    '4.10/showhostkey-left-ckaid.txt': pubkey('left', 'AwEAAbSE0'),
    '4.10/showhostkey-right-ckaid.txt': pubkey('right', 'AwEAAbSE0'),
    '4.10/showhostkey-left-second.txt': pubkey('left', 'AwEAAZPNS'),
    '4.10/showhostkey-ckaid-unknown.txt': hostkey_error('no_keys', 20),
    '4.10/showhostkey-left-nokey.txt': hostkey_error('other', 1),
    '4.10/newhostkey-3072.txt': generated(True),
    '4.10/newhostkey-4096.txt': generated(True),
    '4.10/newhostkey-second.txt': generated(True),
    '4.10/newhostkey-2048.txt': stderr_only(1, 'requested RSA key size (2048) is too small - use 2192 or more'),
    '4.10/newhostkey-2200.txt': stderr_only(1, 'is not a multiple of 16'),
    '4.10/newhostkey-uninit.txt': generated(False, rc=255),        # on stdout, exit 255
    '4.10/initnss-already.txt': stdout_has('NSS database already initialised', rc=42),
    '4.10/initnss-fresh.txt': stdout_has('Initializing NSS database'),
    '4.10/verify.txt': verify(['ICMP default/send_redirects', 'ICMP default/accept_redirects'], rc=2),
    '4.10/checkconfig.txt': quiet(),
    '4.10/checkconfig-bad.txt': stderr_only(0, 'bad subnet leftsubnet=172.16.999.0/24'),   # exit 0!
    '4.10/checkconfig-syntax-error.txt': stderr_only(3, 'syntax error'),
    '4.10/checkconfig-5spelling.txt': stderr_only(1, 'unknown IPsec command "checkconfig"'),
    # the conns module's 4.x dry run: conns built against a control socket nobody listens on
    '4.10/addconn-dry-run.txt': stderr_only(255, 'connect(pluto_ctl) failed'),
    '4.10/addconn-dry-run-dpdtimeout.txt': stderr_only(255, 'dpdtimeout= ignored'),
    '4.10/systemctl-active.txt': stdout_has('active'),
    '4.10/systemctl-inactive.txt': stdout_has('inactive', rc=3),
    '4.10/systemctl-enabled.txt': stdout_has('disabled', rc=1),
    '4.10/os-release.txt': stdout_has('VERSION_ID="12"'),

    # -- Libreswan 5.2 (Debian 13, vpn2, right end) ---------------------------------------
    '5.2/version.txt': version(5, 2),
    '5.2/help.txt': stdout_has('checkconfig'),
    '5.2/up-psk.txt': up(True, children=[30]),
    '5.2/up-rsa.txt': up(True, children=[32]),
    '5.2/up-wrongpsk.txt': up(False, 'auth_failed', rc=56),
    '5.2/up-wrongrsa.txt': up(False, 'auth_failed', rc=56),
    '5.2/up-proposal.txt': up(False, 'no_proposal', rc=0),
    '5.2/up-proposal-ike.txt': up(False, 'no_proposal', rc=51),
    '5.2/up-unreachable.txt': up(False, 'timeout', rc=51),
    '5.2/up-unknown.txt': up(False, 'no_connection', rc=21, ike_version=None),
    '5.2/auto-up-unknown.txt': up(False, 'no_connection', rc=21, ike_version=None),  # + deprecation on stderr
    '5.2/up-pluto-down.txt': up(False, 'not_loaded', rc=33, ike_version=None),
    '5.2/add-psk.txt': add('psk', True),                           # 5.x prints it without a terminal
    '5.2/add-bad.txt': add('bad', False, 'config', rc=56),
    '5.2/add-unknown.txt': add('nosuch', False, 'no_connection', rc=21),
    '5.2/add-empty-rsasigkey.txt': add('rsa', False, 'config', rc=134),   # addconn assertion failure
    '5.2/replace-psk.txt': add('psk', True),
    '5.2/down-psk.txt': down(True, [29, 30]),
    '5.2/down-rsa.txt': down(True, [31, 32]),
    '5.2/down-notup.txt': quiet(),
    '5.2/down-unknown.txt': down(False, kind='no_connection', rc=21),
    '5.2/down-wrongpsk.txt': quiet(),
    '5.2/down-wrongrsa.txt': quiet(),
    '5.2/down-proposal.txt': down(True, [14, 16]),
    '5.2/down-proposal-ike.txt': down(True, [28]),             # the revival attempt's IKE SA
    '5.2/down-unreachable.txt': down(True, [13]),
    '5.2/delete-psk.txt': quiet(),
    '5.2/delete-unknown.txt': down(False, kind='no_connection', rc=21),
    '5.2/status-established.txt': status(6, ['psk'], SEED_LOADED, {'psk': 'routed-tunnel', 'rsa': 'unrouted'}),
    '5.2/status-loaded.txt': status(6, [], SEED_LOADED),
    '5.2/status-no-psk.txt': status(5, [], SEED_NO_PSK),
    '5.2/status-pluto-down.txt': error('not_loaded', 33),
    '5.2/trafficstatus-established.txt': traffic([30]),
    '5.2/trafficstatus-empty.txt': traffic([]),
    '5.2/trafficstatus-pluto-down.txt': error('not_loaded', 33),
    '5.2/showhostkey-list-empty.txt': keys(0),
    '5.2/showhostkey-list-fresh.txt': keys(0),
    '5.2/showhostkey-list-one.txt': keys(1),
    '5.2/showhostkey-list-two.txt': keys(2),
    '5.2/showhostkey-list-uninit.txt': keys(0, rc=1, nss_error='nss_not_initialised'),
    '5.2/showhostkey-list-nodir.txt': keys(0, rc=1, nss_error='nss_not_initialised'),
    '5.2/showhostkey-left-ckaid.txt': pubkey('left', 'AwEAAcu3o'),
    '5.2/showhostkey-right-ckaid.txt': pubkey('right', 'AwEAAcu3o'),
    '5.2/showhostkey-right-second.txt': pubkey('right', 'AwEAAawzt'),
    '5.2/showhostkey-ckaid-unknown.txt': hostkey_error('no_keys', 20),
    '5.2/showhostkey-left-nokey.txt': hostkey_error('other', 1),
    '5.2/newhostkey-3072.txt': generated(True),
    '5.2/newhostkey-4096.txt': generated(True),
    '5.2/newhostkey-second.txt': generated(True),
    '5.2/newhostkey-2048.txt': stderr_only(1, 'requested RSA key size (2048) is too small - use 2192 or more'),
    '5.2/newhostkey-uninit.txt': generated(False, rc=255),
    '5.2/initnss-already.txt': stdout_has('NSS database already initialised', rc=42),
    '5.2/initnss-fresh.txt': stdout_has('Initializing NSS database'),
    '5.2/verify.txt': verify_missing(rc=2),
    '5.2/checkconfig.txt': quiet(),
    '5.2/checkconfig-bad.txt': quiet(),                             # 5.2 does not see the bad subnet
    '5.2/checkconfig-bad-config.txt': quiet(),
    '5.2/addconn-checkconfig-bad.txt': quiet(),
    '5.2/checkconfig-syntax-error.txt': stderr_only(3, 'syntax error'),
    '5.2/checkconfig-obsolete.txt': stderr_only(0, 'obsolete keyword ignored: dpdaction=hold'),   # exit 0
    '5.2/add-fragmentation-force.txt': add('voice', True),        # loaded, with pluto's warning
    '5.2/systemctl-active.txt': stdout_has('active'),
    '5.2/systemctl-inactive.txt': stdout_has('inactive', rc=3),
    '5.2/systemctl-enabled.txt': stdout_has('disabled', rc=1),
    '5.2/os-release.txt': stdout_has('VERSION_ID="13"'),
    '5.2/proc-net-udp.txt': udp_ports(500, 4500),
    '5.2/proc-net-udp6.txt': udp_ports(4500),
}


def test_every_capture_has_a_verdict():
    on_disk = set()
    for version in os.listdir(LIVE):
        if os.path.isdir(os.path.join(LIVE, version)):
            on_disk.update('%s/%s' % (version, name) for name in os.listdir(os.path.join(LIVE, version)))
    assert on_disk == set(EXPECTED), 'without verdict: %s; verdict without file: %s' % (
        sorted(on_disk - set(EXPECTED)), sorted(set(EXPECTED) - on_disk))
    assert set(INDEX) == on_disk


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_live_capture(name):
    command, rc, out, err = read(name)
    expected_rc, check = EXPECTED[name]
    assert command.startswith(('ipsec ', 'systemctl ', 'cat ', 'mkdir ', 'rm ')), command
    assert rc == expected_rc, '%s: exit %d, expected %d' % (command, rc, expected_rc)
    check(out, err)


# -- keywords read and not used: what the conns module refuses (issue 16) --------------------------------

@pytest.mark.parametrize('name, keyword, conn, path', [
    ('4.10/addconn-dry-run-dpdtimeout.txt', 'dpdtimeout', 'voice', None),
    ('5.2/add-fragmentation-force.txt', 'fragmentation', 'voice', None),
    ('5.2/checkconfig-obsolete.txt', 'dpdaction', None, '/tmp/v/t.conf'),
])
def test_a_keyword_libreswan_ignores_is_named(name, keyword, conn, path):
    _command, _rc, out, err = read(name)
    assert [(w['keyword'], w['conn'], w['file']) for w in io_.ignored_keywords(out + err)] == \
        [(keyword, conn, path)]


@pytest.mark.parametrize('name', ['4.10/addconn-dry-run.txt', '4.10/checkconfig.txt', '5.2/checkconfig.txt',
                                  '5.2/add-psk.txt', '4.10/add-psk.txt', '5.2/up-psk.txt'])
def test_clean_output_names_no_ignored_keyword(name):
    _command, _rc, out, err = read(name)
    assert io_.ignored_keywords(out + err) == []
