# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sitevpn.ipsec.firewall: which backend it picks, when it (re)installs the rules, what it records.

Every command the module runs is listed in order (helper.py checks each argv); the files it writes
go under the test's temporary directory. The rules' text itself is tested in
``tests/unit/plugins/module_utils/test_firewall.py``; the lab proves them with ESP.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import os

import pytest

from ansible_collections.sitevpn.ipsec.plugins.modules import firewall
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _firewall as fw
from ansible_collections.sitevpn.ipsec.tests.unit.plugins.modules.helper import fixed_temp_path, run_case

TUNNEL = {'name': 'net-to-net', 'local': 'left',
          'left': {'address': '192.0.2.1', 'subnets': ['10.1.0.0/24']},
          'right': {'address': '198.51.100.1', 'subnets': ['10.2.0.0/24']}}
IP = ['/usr/sbin/ip', '-o', '-force', '-batch', '-']
NFT = '/usr/sbin/nft'
IPT = '/usr/sbin/iptables-legacy'
SYSTEMCTL = '/usr/bin/systemctl'
UNIT_NAME = 'sitevpn-ipsec-firewall.service'


def sha(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


@pytest.fixture
def gw(tmp_path, monkeypatch):
    """A gateway whose kernel settings are already right, with its files under tmp_path."""
    paths = dict(PROC_SYS=str(tmp_path / 'proc' / 'sys'), SYSCTL_FILE=str(tmp_path / 'sysctl.conf'),
                 SCRIPT=str(tmp_path / 'rules.sh'), UNIT=str(tmp_path / UNIT_NAME),
                 LIVE_FILE=str(tmp_path / 'lib' / 'firewall.live'), SYS_NET=str(tmp_path / 'sys' / 'class' / 'net'))
    for key, value in fw.sysctls([]).items():
        path = os.path.join(paths['PROC_SYS'], *key.split('.'))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(value + '\n')
    # the nft dry run reads a temporary file: give it a known name
    probe = fixed_temp_path(monkeypatch, firewall, 'sitevpn-nft-', str(tmp_path / 'probe.nft'))

    class Gateway(object):
        def __init__(self):
            self.paths, self.probe, self.tmp_path = paths, probe, tmp_path

        def script(self, backend, iptables='iptables'):
            # MSS clamping is on by default; `ip route get` answers nothing here, so the WAN counts as 1500 bytes
            return fw.render_script(backend, [TUNNEL], iptables=iptables, mtus=fw.tunnel_mtus([TUNNEL], {}))

        def installed(self, backend, live, iptables='iptables'):
            """As the last run left it: script, unit and the digest of the live rules."""
            script, dummy = self.script(backend, iptables)
            for path, text in ((paths['SCRIPT'], script), (paths['UNIT'], fw.render_unit(backend)),
                               (paths['SYSCTL_FILE'], fw.render_sysctl(fw.sysctls([]))),
                               (paths['LIVE_FILE'], sha(live) + '\n')):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, 'w') as handle:
                    handle.write(text)

        def run(self, calls, output=None, check_mode=False, bins=None, failed=False, **params):
            case = {'input': dict({'tunnels': [TUNNEL]}, **params), 'patch': paths, 'check_mode': check_mode,
                    'run_command_calls': calls, 'output': output or {}, 'failed': failed,
                    'bins': dict({'nft': NFT, 'iptables-legacy': IPT, 'iptables': None, 'iptables-nft': None},
                                 **(bins or {}))}
            return run_case(firewall, case, tmp_path, *self.fixtures)
    return Gateway()


@pytest.fixture(autouse=True)
def _fixtures(gw, capsys, monkeypatch):
    gw.fixtures = (capsys, monkeypatch)


def nft_listing(tag, postrouting_rules=True):
    """What `nft list table inet sitevpn_ipsec` prints (abridged: the module compares, never parses)."""
    nat = ('\t\tip saddr 10.1.0.0/24 ip daddr 10.2.0.0/24 snat ip to ip saddr comment "net-to-net: NAT exemption"\n'
           if postrouting_rules else '')
    return ('table inet sitevpn_ipsec {\n\tcomment "%s"\n\tchain postrouting {\n'
            '\t\ttype nat hook postrouting priority srcnat - 50; policy accept;\n%s\t}\n}\n' % (tag, nat))


def nft_detect(listing):
    return [{'argv': IP, 'out': ''},
            {'argv': [SYSTEMCTL, 'is-active', '--quiet', 'firewalld'], 'rc': 3},
            {'argv': [NFT, '-c', '-f', '{probe}']},
            {'argv': [NFT, 'list', 'table', 'inet', 'sitevpn_ipsec'], 'rc': 0 if listing else 1, 'out': listing,
             'err': '' if listing else 'Error: No such file or directory'}]


def subst(calls, gw):
    for call in calls:
        call['argv'] = [arg.replace('{probe}', gw.probe).replace('{script}', gw.paths['SCRIPT'])
                        for arg in call['argv']]
    return calls


def unit_enabled(enabled=True):
    calls = [{'argv': [SYSTEMCTL, 'is-enabled', '--quiet', UNIT_NAME], 'rc': 0 if enabled else 1}]
    return calls + ([] if enabled else [{'argv': [SYSTEMCTL, 'enable', UNIT_NAME]}])


NO_DROP_POLICIES = [{'argv': [NFT, '-j', 'list', 'chains'], 'out': '{"nftables": []}'}]


def test_a_fresh_gateway_gets_the_rules_the_boot_unit_and_a_record_of_what_is_live(gw):
    dummy, tag = gw.script('nftables')
    live = nft_listing(tag)
    calls = nft_detect('') + [
        {'argv': ['{script}']},
        {'argv': [NFT, 'list', 'table', 'inet', 'sitevpn_ipsec'], 'out': live}] + unit_enabled(False) + NO_DROP_POLICIES
    os.unlink(os.path.join(gw.paths['PROC_SYS'], 'net', 'ipv4', 'ip_forward'))
    open(os.path.join(gw.paths['PROC_SYS'], 'net', 'ipv4', 'ip_forward'), 'w').write('0\n')
    result = gw.run(subst(calls, gw), output={'changed': True, 'backend': 'nftables', 'rules_tag': tag})
    assert result['changes'] == ['sysctl', gw.paths['SYSCTL_FILE'], gw.paths['SCRIPT'], 'rules',
                                 gw.paths['UNIT'], 'enable ' + UNIT_NAME]
    assert result['sysctl']['changed'] == {'net.ipv4.ip_forward': {'before': '0', 'after': '1'}}
    assert open(gw.paths['LIVE_FILE']).read() == sha(live) + '\n'
    assert oct(os.stat(gw.paths['LIVE_FILE']).st_mode & 0o777) == '0o600'
    assert open(gw.paths['SCRIPT']).read() == gw.script('nftables')[0]


def test_a_second_run_finds_its_rules_live_and_changes_nothing(gw):
    dummy, tag = gw.script('nftables')
    gw.installed('nftables', nft_listing(tag))
    calls = nft_detect(nft_listing(tag)) + unit_enabled() + NO_DROP_POLICIES
    result = gw.run(subst(calls, gw), output={'changed': False, 'changes': []})
    assert result['backend'] == 'nftables'


def test_a_boot_unit_rewritten_while_enabled_is_reloaded_and_a_new_one_only_enabled(gw):
    """``systemctl enable`` reloads systemd itself, so the first run above makes no daemon-reload of its own;
    a unit an older release wrote, already enabled, is rewritten and systemd told with one."""
    dummy, tag = gw.script('nftables')
    gw.installed('nftables', nft_listing(tag))
    with open(gw.paths['UNIT'], 'w') as handle:
        handle.write('[Unit]\nDescription=written by an older release\n')
    calls = nft_detect(nft_listing(tag)) + unit_enabled() + [{'argv': [SYSTEMCTL, 'daemon-reload']}] + NO_DROP_POLICIES
    result = gw.run(subst(calls, gw), output={'changed': True, 'changes': [gw.paths['UNIT']]})
    assert open(gw.paths['UNIT']).read() == fw.render_unit('nftables')
    assert result['backend'] == 'nftables'


@pytest.mark.parametrize('what, live', [
    ('a flushed chain: the NAT exemption is gone, the table and its tag are not', 'flushed'),
    ('the table replaced by another tool (no tag)', 'untagged'),
    ('the table deleted', 'deleted'),
])
def test_rules_edited_behind_its_back_are_put_back(gw, what, live):
    dummy, tag = gw.script('nftables')
    gw.installed('nftables', nft_listing(tag))
    now = {'flushed': nft_listing(tag, postrouting_rules=False), 'untagged': nft_listing('hand-made'),
           'deleted': ''}[live]
    calls = nft_detect(now) + [
        {'argv': ['{script}']},
        {'argv': [NFT, 'list', 'table', 'inet', 'sitevpn_ipsec'], 'out': nft_listing(tag)},
    ] + unit_enabled() + NO_DROP_POLICIES
    result = gw.run(subst(calls, gw), output={'changed': True, 'changes': ['rules']})
    assert result['rules_tag'] == tag, what
    assert open(gw.paths['LIVE_FILE']).read() == sha(nft_listing(tag)) + '\n'


def test_check_mode_reports_drift_and_touches_nothing(gw):
    dummy, tag = gw.script('nftables')
    gw.installed('nftables', nft_listing(tag))
    record = open(gw.paths['LIVE_FILE']).read()
    calls = nft_detect(nft_listing(tag, postrouting_rules=False)) + unit_enabled() + NO_DROP_POLICIES
    gw.run(subst(calls, gw), output={'changed': True, 'changes': ['rules']}, check_mode=True)
    assert open(gw.paths['LIVE_FILE']).read() == record


def test_an_upgrade_without_a_record_trusts_the_tag_and_records_what_it_finds(gw):
    dummy, tag = gw.script('nftables')
    gw.installed('nftables', nft_listing(tag))
    os.unlink(gw.paths['LIVE_FILE'])
    calls = nft_detect(nft_listing(tag)) + unit_enabled() + NO_DROP_POLICIES
    gw.run(subst(calls, gw), output={'changed': False})
    assert open(gw.paths['LIVE_FILE']).read() == sha(nft_listing(tag)) + '\n'


def iptables_live(tag, jumps=True):
    calls, text = [], ''
    for table, builtin, chain in fw.IPTABLES_JUMPS:
        first = '-A %s -j %s\n' % (builtin, chain) if jumps else '-A %s -o eth0 -j MASQUERADE\n' % builtin
        calls.append({'argv': [IPT, '-w', '-t', table, '-S', builtin, '1'], 'out': first})
        if not jumps:
            return calls, ''
        rules = '-N %s\n' % chain + ('-A SITEVPN-INPUT -m comment --comment "%s" -j RETURN\n' % tag
                                     if chain == 'SITEVPN-INPUT' else '')
        calls.append({'argv': [IPT, '-w', '-t', table, '-S', chain], 'out': rules})
        text += rules
    return calls, text


def iptables_detect():
    return [{'argv': IP, 'out': ''},
            {'argv': [SYSTEMCTL, 'is-active', '--quiet', 'firewalld'], 'rc': 3},
            {'argv': [IPT, '-V'], 'out': 'iptables v1.8.9 (legacy)\n'},
            {'argv': [IPT, '-w', '-t', 'nat', '-S', 'POSTROUTING'], 'out': '-P POSTROUTING ACCEPT\n'}]


def test_without_nft_it_falls_back_to_iptables_legacy_and_keeps_its_jumps_first(gw):
    dummy, tag = gw.script('iptables', 'iptables-legacy')
    live_calls, live = iptables_live(tag)
    gw.installed('iptables', live, 'iptables-legacy')
    lost_calls, dummy = iptables_live(tag, jumps=False)
    calls = iptables_detect() + lost_calls + [{'argv': ['{script}']}] + live_calls + unit_enabled()
    result = gw.run(subst(calls, gw), bins={'nft': None},
                    output={'changed': True, 'changes': ['rules'], 'backend': 'iptables',
                            'iptables': 'iptables-legacy'})
    assert result['rules_tag'] == tag


def test_iptables_nft_is_not_used_where_the_kernel_lacks_nf_tables(gw):
    calls = [{'argv': IP, 'out': ''},
             {'argv': [SYSTEMCTL, 'is-active', '--quiet', 'firewalld'], 'rc': 3},
             {'argv': [NFT, '-c', '-f', '{probe}'], 'rc': 1, 'err': 'Error: Could not process rule'},
             {'argv': ['/usr/sbin/iptables-nft', '-V'], 'out': 'iptables v1.8.9 (nf_tables)\n'}]
    result = gw.run(subst(calls, gw), bins={'iptables-legacy': None, 'iptables-nft': '/usr/sbin/iptables-nft'},
                    failed=True)
    assert 'no working packet filter' in result['msg']
    assert not os.path.exists(gw.paths['SCRIPT'])


def test_nftables_asked_for_on_a_kernel_without_it_says_why(gw):
    calls = [{'argv': IP, 'out': ''},     # asked for nftables: firewalld is not looked at
             {'argv': [NFT, '-c', '-f', '{probe}'], 'rc': 1, 'err': 'Error: Could not process rule: No such file'},
             {'argv': [NFT, '-c', '-f', '{probe}'], 'rc': 1, 'err': 'Error: Could not process rule: No such file'}]
    result = gw.run(subst(calls, gw), backend='nftables', failed=True)
    assert result['msg'] == 'nftables cannot load the rules on this kernel: Error: Could not process rule: No such file'


def test_a_host_chain_that_drops_by_default_is_warned_about(gw):
    dummy, tag = gw.script('nftables')
    gw.installed('nftables', nft_listing(tag))
    chains = ('{"nftables": [{"chain": {"family": "inet", "table": "filter", "name": "input", "hook": "input", '
              '"policy": "drop"}}, {"chain": {"family": "inet", "table": "sitevpn_ipsec", "name": "forward", '
              '"hook": "forward", "policy": "drop"}}]}')
    calls = nft_detect(nft_listing(tag)) + unit_enabled() + [{'argv': [NFT, '-j', 'list', 'chains'], 'out': chains}]
    result = gw.run(subst(calls, gw), output={'changed': False})
    assert len(result['warnings']) == 1
    assert result['warnings'][0].startswith('nftables chain inet filter input drops by default')


def test_rolled_back_puts_back_the_previous_script_and_forgets_the_record(gw):
    dummy, tag = gw.script('nftables')
    gw.installed('nftables', nft_listing(tag))
    backup = gw.tmp_path / 'backup' / 'run-1' / 'firewall.sh'
    backup.parent.mkdir(parents=True)
    backup.write_text('#!/bin/sh\n# the previous rules\n')
    calls = [{'argv': ['{script}']}]
    result = gw.run(subst(calls, gw), state='rolled_back', run_id='run-1', backup_dir=str(gw.tmp_path / 'backup'),
                    output={'changed': True})
    assert result['changes'] == ['rolled back ' + gw.paths['SCRIPT']]
    assert open(gw.paths['SCRIPT']).read() == '#!/bin/sh\n# the previous rules\n'
    assert not os.path.exists(gw.paths['LIVE_FILE'])


# -- a tunnel with IPv6 LANs over the IPv4 WAN (the case: no IPv6 route toward the remote LAN) -------

V6_TUNNEL = {'name': 'v6', 'local': 'left', 'left': {'address': '192.0.2.1', 'subnets': ['2001:db8:1::/64']},
             'right': {'address': '198.51.100.1', 'subnets': ['2001:db8:2::/64']}}
ROUTES_UNIT_NAME = 'sitevpn-ipsec-routes.service'


def first_run_with_routes(lookups, commands, tag):
    """The calls of a first run that installs routes (*commands*, after the one `ip -batch` of *lookups*),
    writes and enables the routes unit, then installs the nftables rules tagged *tag* and their unit."""
    return [lookups] + [{'argv': argv} for argv in commands] + [
        {'argv': [SYSTEMCTL, 'is-enabled', '--quiet', ROUTES_UNIT_NAME], 'rc': 1},
        {'argv': [SYSTEMCTL, 'enable', ROUTES_UNIT_NAME]}] + nft_detect('')[1:] + [
        {'argv': ['{script}']},
        {'argv': [NFT, 'list', 'table', 'inet', 'sitevpn_ipsec'], 'out': nft_listing(tag)}] + unit_enabled(False) + NO_DROP_POLICIES


def test_ipv6_lans_get_forwarding_and_a_route_kept_at_boot_and_a_rerun_changes_nothing(gw, tmp_path):
    gw.paths.update(ROUTES_SCRIPT=str(tmp_path / 'routes.sh'), ROUTES_UNIT=str(tmp_path / ROUTES_UNIT_NAME))
    for key, value in fw.sysctls(['eth0']).items():       # IPv4 as it should be on eth0 (the WAN) already
        path = os.path.join(gw.paths['PROC_SYS'], *key.split('.'))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(value + '\n')
    for key in ('all/forwarding', 'all/accept_redirects', 'eth0/accept_ra'):
        path = os.path.join(gw.paths['PROC_SYS'], 'net', 'ipv6', 'conf', *key.split('/'))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write('0\n' if 'forwarding' in key or 'redirects' in key else '1\n')
    os.makedirs(os.path.join(gw.paths['PROC_SYS'], 'net', 'ipv6', 'conf', 'default'), exist_ok=True)
    with open(os.path.join(gw.paths['PROC_SYS'], 'net', 'ipv6', 'conf', 'default', 'accept_redirects'), 'w') as h:
        h.write('0\n')
    # `ip route get` of the remote IPv6 LAN fails (Network is unreachable: on stderr, no line)
    lookups = {'argv': IP, 'out': '198.51.100.1 via 192.0.2.254 dev eth0 src 192.0.2.1 uid 0 \\    cache \n',
               'err': 'RTNETLINK answers: Network is unreachable\n'}
    # eth0 toward the peer is a PPPoE link: the tunnel's TCP MSS is clamped to what fits into 1492 bytes
    os.makedirs(os.path.join(gw.paths['SYS_NET'], 'eth0'))
    with open(os.path.join(gw.paths['SYS_NET'], 'eth0', 'mtu'), 'w') as handle:
        handle.write('1492\n')
    mtus = fw.tunnel_mtus([V6_TUNNEL], {'198.51.100.1': 1492})
    assert mtus == {V6_TUNNEL['name']: 1430}
    dummy, tag = fw.render_script('nftables', [V6_TUNNEL], mtus=mtus)
    ip = '/usr/sbin/ip'
    calls = first_run_with_routes(lookups, [[ip, '-6', 'route', 'replace', '2001:db8:2::/64', 'dev', 'eth0']], tag)
    result = gw.run(subst(calls, gw), tunnels=[V6_TUNNEL], output={'changed': True})
    assert result['routes'] == {'2001:db8:2::/64': 'eth0'}
    assert result['mtu'] == {V6_TUNNEL['name']: {'mtu': 1430, 'mss': {'ipv4': 1390, 'ipv6': 1370}}}
    assert result['sysctl']['changed'] == {'net.ipv6.conf.all.forwarding': {'before': '0', 'after': '1'},
                                           'net.ipv6.conf.eth0.accept_ra': {'before': '1', 'after': '2'}}
    assert 'ip -6 route replace 2001:db8:2::/64 dev eth0' in open(gw.paths['ROUTES_SCRIPT']).read()
    assert 'net.ipv6.conf.all.forwarding = 1' in open(gw.paths['SYSCTL_FILE']).read()

    # the rerun: the remote LAN is routed now (by that route), the route recorded - nothing to do
    lookups = {'argv': IP, 'out': '198.51.100.1 via 192.0.2.254 dev eth0 src 192.0.2.1 uid 0 \\    cache \n'
                                  '2001:db8:2:: from :: dev eth0 proto boot src 2001:db8:1::1 metric 1024 pref medium\n'}
    calls = [lookups, {'argv': [SYSTEMCTL, 'is-enabled', '--quiet', ROUTES_UNIT_NAME]}] + \
        nft_detect(nft_listing(tag))[1:] + unit_enabled() + NO_DROP_POLICIES
    again = gw.run(subst(calls, gw), tunnels=[V6_TUNNEL], output={'changed': False, 'changes': []})
    assert again['routes'] == {'2001:db8:2::/64': 'eth0'}


def test_without_a_packet_filter_of_ours_nothing_is_said_to_clamp(gw):
    """backend none: the user allows IKE/ESP himself; no rules, so no MSS clamping either, and the result
    says so rather than an MTU no rule enforces."""
    calls = [{'argv': IP, 'out': ''}] + unit_enabled(False)
    result = gw.run(subst(calls, gw), backend='none', output={'backend': 'none'})
    assert result['mtu'] == {}
    assert 'maxseg' not in open(gw.paths['SCRIPT']).read() and 'TCPMSS' not in open(gw.paths['SCRIPT']).read()


# -- a route-based tunnel: its XFRM interface and the route into it, kept at boot ---------------------------

ROUTED_TUNNEL = {'name': 'routed', 'local': 'left', 'mode': 'route', 'interface_id': 42,
                 'left': {'address': '192.0.2.1', 'subnets': ['172.16.1.0/24']},
                 'right': {'address': '198.51.100.1', 'subnets': ['10.0.0.0/24']}}


def test_a_route_based_tunnel_gets_its_interface_and_route_now_and_at_boot_and_a_rerun_changes_nothing(gw, tmp_path):
    gw.paths.update(ROUTES_SCRIPT=str(tmp_path / 'routes.sh'), ROUTES_UNIT=str(tmp_path / ROUTES_UNIT_NAME))
    for key, value in fw.sysctls(['eth0', 'eth1']).items():
        path = os.path.join(gw.paths['PROC_SYS'], *key.split('.'))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(value + '\n')
    # the default route carries the remote LAN before the run; the route into ipsec42 must win anyway
    lookups = {'argv': IP, 'out': '198.51.100.1 via 192.0.2.254 dev eth0 src 192.0.2.1 uid 0 \\    cache \n'
                                  '10.0.0.0 via 192.0.2.254 dev eth0 src 192.0.2.1 uid 0 \\    cache \n'
                                  'local 172.16.1.0 dev lo table local src 172.16.1.1 uid 0 \\    cache \n'}
    mtus = fw.tunnel_mtus([ROUTED_TUNNEL], {})
    dummy, tag = fw.render_script('nftables', [ROUTED_TUNNEL], mtus=mtus)
    ip = '/usr/sbin/ip'
    calls = first_run_with_routes(lookups, [[ip, 'link', 'add', 'ipsec42', 'type', 'xfrm', 'dev', 'eth0', 'if_id', '42'],
                                            [ip, 'link', 'set', 'ipsec42', 'mtu', '1438', 'up'],
                                            [ip, '-4', 'route', 'replace', '10.0.0.0/24', 'dev', 'ipsec42']], tag)
    result = gw.run(subst(calls, gw), tunnels=[ROUTED_TUNNEL], output={'changed': True})
    assert result['routes'] == {'10.0.0.0/24': 'ipsec42'}
    assert result['interfaces'] == {'ipsec42': {'if_id': 42, 'dev': 'eth0', 'mtu': 1438}}
    assert 'ip link add ipsec42 type xfrm dev eth0 if_id 42' in open(gw.paths['ROUTES_SCRIPT']).read()

    # the rerun: ipsec42 is there, up, 1438 bytes, the route leads into it - nothing to do
    os.makedirs(os.path.join(gw.paths['SYS_NET'], 'ipsec42'))
    for name, value in (('mtu', '1438'), ('flags', '0x1091')):
        with open(os.path.join(gw.paths['SYS_NET'], 'ipsec42', name), 'w') as handle:
            handle.write(value + '\n')
    lookups = {'argv': IP, 'out': '198.51.100.1 via 192.0.2.254 dev eth0 src 192.0.2.1 uid 0 \\    cache \n'
                                  '10.0.0.0 dev ipsec42 src 192.0.2.1 uid 0 \\    cache \n'
                                  'local 172.16.1.0 dev lo table local src 172.16.1.1 uid 0 \\    cache \n'}
    calls = [lookups, {'argv': [SYSTEMCTL, 'is-enabled', '--quiet', ROUTES_UNIT_NAME]}] + \
        nft_detect(nft_listing(tag))[1:] + unit_enabled() + NO_DROP_POLICIES
    again = gw.run(subst(calls, gw), tunnels=[ROUTED_TUNNEL], output={'changed': False, 'changes': []})
    assert again['routes'] == {'10.0.0.0/24': 'ipsec42'}

    # someone set the interface down: the next run brings it up, nothing else
    with open(os.path.join(gw.paths['SYS_NET'], 'ipsec42', 'flags'), 'w') as handle:
        handle.write('0x1090\n')
    calls = [lookups, {'argv': [ip, 'link', 'set', 'ipsec42', 'mtu', '1438', 'up']},
             {'argv': [SYSTEMCTL, 'is-enabled', '--quiet', ROUTES_UNIT_NAME]}] + \
        nft_detect(nft_listing(tag))[1:] + unit_enabled() + NO_DROP_POLICIES
    fixed = gw.run(subst(calls, gw), tunnels=[ROUTED_TUNNEL], output={'changed': True})
    assert fixed['changes'] == ['interface ipsec42 mtu 1438 up']


class _LookupOnly(object):
    """Just enough of AnsibleModule for Firewall.interfaces: `ip` and the answer of its one batch."""

    def __init__(self, answer):
        self.answer, self.batches = answer, []

    def get_bin_path(self, name, required=False):
        return '/usr/sbin/' + name

    def run_command(self, argv, data=None, environ_update=None):
        self.batches.append(data)
        return 0, self.answer, ''


def test_a_hubs_xfrm_interfaces_are_not_taken_for_lan_interfaces():
    """On a route-based hub another spoke's LAN is a local subnet of each spoke's tunnel, routed (after the
    first run) into that spoke's interface. Taken for a LAN interface, it got redirect and rp_filter
    sysctls of its own one run late: the lab hub's second run reported a change (test_40)."""
    to_b = dict(ROUTED_TUNNEL, name='hq-b', interface_id=42,
                left={'address': '192.0.2.1', 'subnets': ['172.16.1.0/24', '172.16.3.0/24']})
    to_c = dict(ROUTED_TUNNEL, name='hq-c', interface_id=43,
                left={'address': '192.0.2.1', 'subnets': ['172.16.1.0/24', '10.0.0.0/24']},
                right={'address': '198.51.100.2', 'subnets': ['172.16.3.0/24']})
    answer = ('198.51.100.1 via 192.0.2.254 dev eth0 src 192.0.2.1 uid 0 \\    cache \n'
              '198.51.100.2 via 192.0.2.254 dev eth0 src 192.0.2.1 uid 0 \\    cache \n'
              'local 172.16.1.0 dev lo table local src 172.16.1.1 uid 0 \\    cache \n'
              '172.16.3.0 dev ipsec43 src 192.0.2.1 uid 0 \\    cache \n'
              '10.0.0.0 dev ipsec42 src 192.0.2.1 uid 0 \\    cache \n')
    module = _LookupOnly(answer)
    interfaces, lookup = firewall.Firewall(module).interfaces([to_b, to_c])
    assert interfaces == ['eth0']
    assert lookup['172.16.3.0']['dev'] == 'ipsec43' and len(module.batches) == 1
