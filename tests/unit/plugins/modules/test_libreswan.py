# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sitevpn.ipsec.libreswan: the seed's install step, `config setup`, and the service.

Every command is listed in order (helper.py checks each argv); ``ipsec --version`` and
``/etc/os-release`` are live captures of the lab's Debian 12 gateway. Files go under the test's
temporary directory. The lab installs Libreswan for real on every run of site-to-site.yml.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.sitevpn.ipsec.plugins.modules import libreswan
from ansible_collections.sitevpn.ipsec.tests.unit.plugins.modules.helper import fixed_temp_path, run_case

IPSEC = '/usr/sbin/ipsec'
APT = '/usr/bin/apt-get'
SYSTEMCTL = '/usr/bin/systemctl'
VERSION = {'argv': [IPSEC, '--version'], 'capture': '4.10/version.txt'}
NOT_INSTALLED = {'argv': [IPSEC, '--version'], 'rc': 127, 'err': 'ipsec: not found'}
APT_INSTALL = [APT, '-q', '-y', '-o', 'DPkg::Lock::Timeout=120', 'install', 'libreswan']


def systemctl(*args, **result):
    return dict({'argv': [SYSTEMCTL] + list(args)}, **result)


# systemd has loaded the package's unit: `enable` needs no reload of everything
LOADED = systemctl('show', '--property=LoadState', '--value', 'ipsec', out='loaded\n')


RUNNING = [systemctl('is-enabled', '--quiet', 'ipsec'), systemctl('is-active', '--quiet', 'ipsec'),
           systemctl('is-active', '--quiet', 'ipsec')]


@pytest.fixture
def gw(tmp_path, monkeypatch, capsys):
    etc = tmp_path / 'etc'
    etc.mkdir()
    (etc / 'os-release').write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n')
    paths = dict(IPSEC_CONF=str(etc / 'ipsec.conf'), OS_RELEASE=str(etc / 'os-release'),
                 OPENSWAN_SECRETS=str(etc / 'ipsec.secrets'), KLIPS_FILES=(str(tmp_path / 'ipsec_eroute'),))
    staged = fixed_temp_path(monkeypatch, libreswan, '.ipsec.conf.', str(etc / '.ipsec.conf.new'))

    class Gateway(object):
        conf = etc / 'ipsec.conf'
        checkconfig = [IPSEC, 'addconn', '--checkconfig', '--config', staged]
        staged_path = staged

        def run(self, calls, failed=False, bins=None, diff=False, check_mode=False, **params):
            case = {'input': params, 'patch': paths, 'run_command_calls': calls, 'failed': failed, 'diff': diff,
                    'check_mode': check_mode, 'bins': dict({'apt-get': APT}, **(bins or {}))}
            return run_case(libreswan, case, tmp_path, capsys, monkeypatch)

        def installed(self, config_setup=None):
            self.conf.write_text(libreswan.render_ipsec_conf(config_setup or {}))
    return Gateway()


def test_a_unit_systemd_does_not_know_yet_is_enabled_with_systemds_reload(gw):
    gw.installed()
    result = gw.run([VERSION, systemctl('is-enabled', '--quiet', 'ipsec', rc=1), systemctl('is-active', '--quiet', 'ipsec'),
                     systemctl('show', '--property=LoadState', '--value', 'ipsec', out='not-found\n'),
                     systemctl('enable', 'ipsec'), systemctl('is-active', '--quiet', 'ipsec')])
    assert result['changes'] == ['enabled']


def test_a_bare_debian_gateway_gets_libreswan_its_config_and_a_running_enabled_service(gw):
    result = gw.run([NOT_INSTALLED, {'argv': APT_INSTALL}, VERSION, {'argv': gw.checkconfig},
                     systemctl('is-enabled', '--quiet', 'ipsec', rc=1), systemctl('is-active', '--quiet', 'ipsec', rc=3),
                     LOADED, systemctl('enable', '--no-reload', 'ipsec'), systemctl('start', 'ipsec'),
                     systemctl('is-active', '--quiet', 'ipsec')],
                    config_setup={'uniqueids': True})
    assert result['changes'] == ['installed', gw.conf.__str__(), 'enabled', 'started']
    assert result['version'] == '4.10' and result['os_family'] == 'Debian' and result['service']['active'] is True
    text = gw.conf.read_text()
    assert 'config setup\n    uniqueids=yes\n' in text and 'include /etc/ipsec.d/*.conf' in text
    assert oct(os.stat(str(gw.conf)).st_mode & 0o777) == '0o644'


def test_a_second_run_changes_nothing_and_restarts_nothing(gw):
    gw.installed({'uniqueids': True})
    result = gw.run([VERSION] + RUNNING, config_setup={'uniqueids': True})
    assert result['changed'] is False and result['changes'] == []


def test_only_a_config_setup_change_restarts_pluto(gw):
    gw.installed()
    result = gw.run([VERSION, {'argv': gw.checkconfig}, systemctl('is-enabled', '--quiet', 'ipsec'),
                     systemctl('is-active', '--quiet', 'ipsec'), systemctl('restart', 'ipsec'),
                     systemctl('is-active', '--quiet', 'ipsec')], config_setup={'plutodebug': 'none'}, diff=True)
    assert result['changes'] == [str(gw.conf), 'restarted']
    assert 'plutodebug' not in result['diff']['before'] and 'plutodebug=none' in result['diff']['after']


def test_a_config_setup_libreswan_rejects_is_never_installed(gw):
    gw.installed()
    before = gw.conf.read_text()
    result = gw.run([VERSION, {'argv': gw.checkconfig, 'err': "unrecognized config setup keyword 'plutodebugg'"}],
                    config_setup={'plutodebugg': 'none'}, failed=True)
    assert result['msg'] == ("the new config setup is rejected by Libreswan (nothing changed): "
                             "unrecognized config setup keyword 'plutodebugg'")
    assert gw.conf.read_text() == before and not os.path.exists(gw.staged_path)


def test_a_stale_package_list_is_refreshed_once(gw):
    gw.installed()
    result = gw.run([NOT_INSTALLED, {'argv': APT_INSTALL, 'rc': 100, 'err': 'E: Unable to locate package libreswan'},
                     {'argv': [APT, '-q', '-o', 'DPkg::Lock::Timeout=120', 'update']}, {'argv': APT_INSTALL},
                     VERSION] + RUNNING)
    assert result['changes'] == ['installed']


@pytest.mark.parametrize('where', ['version', 'secrets', 'klips'])
def test_an_openswan_installation_is_named_and_not_replaced_unless_asked(gw, where, tmp_path):
    calls = [VERSION]
    if where == 'version':
        calls = [{'argv': [IPSEC, '--version'], 'out': 'Linux Openswan U2.6.51/K(no kernel code presently loaded)\n'}]
    elif where == 'secrets':
        (tmp_path / 'etc' / 'ipsec.secrets').write_text(': RSA {\n\tModulus: 0x00\n\t}\n')
    else:
        (tmp_path / 'ipsec_eroute').write_text('')
    result = gw.run(calls, failed=True)
    assert result['msg'].startswith('An Openswan installation is on this host')
    assert 'sitevpn_replace_openswan: true' in result['msg'] and len(result['openswan']) == 1


def test_openswan_is_removed_first_when_asked(gw):
    gw.installed()
    openswan = {'argv': [IPSEC, '--version'], 'out': 'Linux Openswan U2.6.51/K(no kernel code presently loaded)\n'}
    result = gw.run([openswan, {'argv': [APT, '-q', '-y', '-o', 'DPkg::Lock::Timeout=120', 'purge', 'openswan']},
                     NOT_INSTALLED, {'argv': APT_INSTALL}, VERSION] + RUNNING, replace_openswan=True)
    assert result['changes'] == ['openswan removed', 'installed']


def test_an_os_it_does_not_know_gets_told_to_install_libreswan_itself(gw, tmp_path):
    (tmp_path / 'etc' / 'os-release').write_text('ID=alpine\n')
    result = gw.run([NOT_INSTALLED], failed=True)
    assert result['msg'].startswith('do not know how to install libreswan on this OS')


def test_check_mode_says_what_it_would_do_and_does_nothing(gw):
    result = gw.run([NOT_INSTALLED, systemctl('is-enabled', '--quiet', 'ipsec', rc=1),
                     systemctl('is-active', '--quiet', 'ipsec', rc=3)], check_mode=True)
    assert result['changed'] is True and result['changes'] == ['installed', str(gw.conf), 'enabled', 'started']
    assert not gw.conf.exists()
