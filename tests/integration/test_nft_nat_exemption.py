# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nftables NAT exemption, in a real kernel.

The seed: "If you are running iptables with masquerading/NAT for the VPN devices,
then you must exclude packets traversing the tunnel from the NAT operation". The
collection does it without touching the user's MASQUERADE rule: an identity SNAT in
its own table at priority srcnat - 50 binds the connection first, so the user's
masquerade (priority srcnat) is never consulted for tunnel traffic.

Here, in network namespaces this test creates (``svtest-*``) and always deletes:

    lan 172.16.1.100 --- 172.16.1.1 gw 198.51.100.10 (wan) --- 198.51.100.1 remote
                                                                 + 10.0.0.105/24 ("the remote subnet")

gw forwards and masquerades everything leaving ``wan``, like the seed's
``iptables -t nat -A POSTROUTING -o eth0 ... -j MASQUERADE``. A UDP listener in
``remote`` reports the source address it sees. No IPsec runs: this shows the NAT
part only (and the leak guard that drops tunnel pairs sent in clear).

The host's own namespace is never changed: every command runs under ``ip -n`` or
``ip netns exec``. Needs root, ``ip`` and ``nft``; skipped otherwise.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib.util
import os
import re
import select
import shutil
import subprocess
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
FIREWALL_PY = os.path.join(REPO_ROOT, 'plugins', 'module_utils', '_firewall.py')

CMD_TIMEOUT = 10      # seconds, any single command
LISTEN_TIMEOUT = 3.0  # seconds a listener waits for a datagram
PORT = 45000


def _load_firewall():
    """_firewall.py is pure and self-contained: load it by path, no collection layout needed."""
    spec = importlib.util.spec_from_file_location('sitevpn_firewall_under_test', FIREWALL_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_firewall = _load_firewall()


def _missing():
    if not hasattr(os, 'geteuid') or os.geteuid() != 0:
        return 'needs root (network namespaces and nftables)'
    for tool in ('ip', 'nft'):
        if not shutil.which(tool):
            return '`%s` not found' % tool
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def run(argv, ns=None, stdin=None, check=True):
    """One command, in namespace ``ns`` when given; bounded by CMD_TIMEOUT."""
    cmd = (['ip', 'netns', 'exec', ns] if ns else []) + list(argv)
    result = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=CMD_TIMEOUT, check=False)
    if check and result.returncode != 0:
        raise AssertionError('%s failed (rc %d): %s' % (' '.join(cmd), result.returncode, result.stderr.strip()))
    return result


class Namespaces(object):
    """Named ``svtest-<random>-<role>``; every one created is deleted by close()."""

    def __init__(self):
        self.prefix = 'svtest-%s' % uuid.uuid4().hex[:8]
        self.created = []
        self.processes = []

    def add(self, role):
        name = '%s-%s' % (self.prefix, role)
        result = run(['ip', 'netns', 'add', name], check=False)
        if result.returncode != 0:
            pytest.skip('cannot create a network namespace: %s' % result.stderr.strip())
        self.created.append(name)
        run(['ip', '-n', name, 'link', 'set', 'lo', 'up'])
        return name

    def close(self):
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.communicate(timeout=CMD_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        for name in reversed(self.created):
            run(['ip', 'netns', 'del', name], check=False)
        self.created = []


@pytest.fixture
def namespaces():
    spaces = Namespaces()
    try:
        yield spaces
    finally:
        spaces.close()


@pytest.fixture
def site(namespaces):
    """The seed's site 1 gateway with a user MASQUERADE, and a "remote" standing for the far site."""
    lan, gw, remote = namespaces.add('lan'), namespaces.add('gw'), namespaces.add('remote')
    for argv in (
        # links are created inside the namespaces, never in the host's
        ['ip', '-n', lan, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'lan0', 'netns', gw],
        ['ip', '-n', gw, 'link', 'add', 'wan', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', remote],
        ['ip', '-n', lan, 'addr', 'add', '172.16.1.100/24', 'dev', 'eth0'],
        ['ip', '-n', lan, 'link', 'set', 'eth0', 'up'],
        ['ip', '-n', lan, 'route', 'add', 'default', 'via', '172.16.1.1'],
        ['ip', '-n', gw, 'addr', 'add', '172.16.1.1/24', 'dev', 'lan0'],
        ['ip', '-n', gw, 'addr', 'add', '198.51.100.10/24', 'dev', 'wan'],
        ['ip', '-n', gw, 'link', 'set', 'lan0', 'up'],
        ['ip', '-n', gw, 'link', 'set', 'wan', 'up'],
        ['ip', '-n', gw, 'route', 'add', '10.0.0.0/24', 'via', '198.51.100.1'],
        ['ip', '-n', remote, 'addr', 'add', '198.51.100.1/24', 'dev', 'eth0'],
        ['ip', '-n', remote, 'link', 'set', 'eth0', 'up'],
        ['ip', '-n', remote, 'route', 'add', '172.16.1.0/24', 'via', '198.51.100.10'],
    ):
        run(argv)
    _add_remote_subnet(remote)
    run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'], ns=gw)
    # the user's own NAT, as the seed has it: masquerade everything leaving the WAN side
    run(['nft', '-f', '-'], ns=gw, stdin='table ip usernat {\n'
                                         '    chain post {\n'
                                         '        type nat hook postrouting priority srcnat;\n'
                                         '        oifname "wan" masquerade\n'
                                         '    }\n'
                                         '}\n')
    return {'lan': lan, 'gw': gw, 'remote': remote, 'namespaces': namespaces}


def _add_remote_subnet(remote):
    """10.0.0.105/24 on a dummy interface; kernels without the dummy driver get a veth stub instead."""
    made = run(['ip', '-n', remote, 'link', 'add', 'dummy0', 'type', 'dummy'], check=False)
    if made.returncode != 0:
        run(['ip', '-n', remote, 'link', 'add', 'dummy0', 'type', 'veth', 'peer', 'name', 'dummy0p'])
        run(['ip', '-n', remote, 'link', 'set', 'dummy0p', 'up'])
    run(['ip', '-n', remote, 'addr', 'add', '10.0.0.105/24', 'dev', 'dummy0'])
    run(['ip', '-n', remote, 'link', 'set', 'dummy0', 'up'])


LISTENER = '''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(float(sys.argv[2]))
print("ready", flush=True)
try:
    data, addr = s.recvfrom(2048)
    print("from " + addr[0], flush=True)
except socket.timeout:
    print("nothing", flush=True)
'''

SENDER = '''
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3):
    s.sendto(b"probe", (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.1)
'''


def source_seen(site, destination, listen_timeout=LISTEN_TIMEOUT):
    """Send UDP from lan to ``destination`` (an address of remote); the source remote saw, or None."""
    listener = subprocess.Popen(['ip', 'netns', 'exec', site['remote'], sys.executable, '-c', LISTENER,
                                 str(PORT), str(listen_timeout)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    site['namespaces'].processes.append(listener)
    ready, _w, _x = select.select([listener.stdout], [], [], CMD_TIMEOUT)
    assert ready and listener.stdout.readline().strip() == 'ready', 'the listener in remote did not start'
    run([sys.executable, '-c', SENDER, destination, str(PORT)], ns=site['lan'])
    out, err = listener.communicate(timeout=listen_timeout + CMD_TIMEOUT)
    line = out.strip()
    assert line in ('nothing',) or line.startswith('from '), 'listener said %r %r' % (out, err)
    return line[len('from '):] if line.startswith('from ') else None


def tunnel(name, local_subnets, remote_subnets, peer, local_address='198.51.100.10'):
    """A tunnel as host_tunnels resolves it for the left end, reduced to what _firewall reads."""
    return {'name': name, 'state': 'present', 'local': 'left',
            'left': {'address': local_address, 'subnets': local_subnets},
            'right': {'address': peer, 'subnets': remote_subnets}}


LAN_TO_REMOTE = tunnel('net-to-net', ['172.16.1.0/24'], ['10.0.0.0/24'], '198.51.100.1')


def load(site, ruleset):
    run(['nft', '-f', '-'], ns=site['gw'], stdin=ruleset)


# --- the behaviour ---------------------------------------------------------------------------

def test_without_our_rules_lan_traffic_is_masqueraded(site):
    """The problem the seed describes: the far side sees the gateway's address, not the LAN host's."""
    assert source_seen(site, '10.0.0.105') == '198.51.100.10'


def test_with_our_rules_tunnel_traffic_keeps_its_source_and_the_rest_is_still_masqueraded(site):
    """render_nft's identity SNAT at srcnat - 50 wins over the user's masquerade for the tunnel pair
    only. (leak_guard off: no IPsec runs here, and the guard would drop the pair in clear.)"""
    load(site, _firewall.render_nft([LAN_TO_REMOTE], leak_guard=False))
    assert source_seen(site, '10.0.0.105') == '172.16.1.100'
    assert source_seen(site, '198.51.100.1') == '198.51.100.10'
    # the user's table is untouched
    assert 'masquerade' in run(['nft', 'list', 'table', 'ip', 'usernat'], ns=site['gw']).stdout


def test_leak_guard_drops_the_tunnel_pair_in_clear_and_only_it(site):
    """With the default rules and no IPsec SA, lan -> remote subnet is never forwarded in clear;
    other traffic still flows (and is masqueraded)."""
    load(site, _firewall.render_nft([LAN_TO_REMOTE]))
    assert source_seen(site, '10.0.0.105', listen_timeout=1.5) is None
    assert source_seen(site, '198.51.100.1') == '198.51.100.10'


def test_reloading_replaces_our_table_and_removing_the_tunnel_restores_masquerade(site):
    """Loading twice is fine (one atomic replacement); a ruleset without the tunnel drops the exemption."""
    load(site, _firewall.render_nft([LAN_TO_REMOTE], leak_guard=False))
    load(site, _firewall.render_nft([LAN_TO_REMOTE], leak_guard=False))
    tables = run(['nft', 'list', 'tables'], ns=site['gw']).stdout.split('\n')
    assert tables.count('table inet sitevpn_ipsec') == 1
    load(site, _firewall.render_nft([dict(LAN_TO_REMOTE, state='absent')]))
    assert source_seen(site, '10.0.0.105') == '198.51.100.10'


# --- nft accepts what we render -----------------------------------------------------------------

SEVERAL = [
    LAN_TO_REMOTE,
    tunnel('to-vpn3', ['172.16.2.0/24', '2001:db8:1::/64'], ['10.0.3.0/24', '2001:db8:3::/64'], '192.0.2.30'),
    tunnel('to-branch', ['172.16.1.0/24'], ['10.50.0.0/16', '10.51.0.0/16'], '203.0.113.50'),
    tunnel('v6-only', ['2001:db8:a::/48'], ['2001:db8:b::/48'], '2001:db8:ff::b', local_address='2001:db8:ff::a'),
    dict(tunnel('old', ['172.16.1.0/24'], ['10.9.0.0/16'], '203.0.113.99'), state='absent'),
]


def test_nft_check_accepts_several_tunnels_and_ipv6(namespaces):
    """`nft -c` (parse and check against the kernel, load nothing) accepts the rendered ruleset,
    plain and as the install script feeds it (tagged), in a fresh namespace."""
    ns = namespaces.add('check')
    ruleset = _firewall.render_nft(SEVERAL)
    assert 'ip6 saddr 2001:db8:1::/64 ip6 daddr 2001:db8:3::/64 snat ip6 to ip6 saddr' in ruleset
    run(['nft', '-c', '-f', '-'], ns=ns, stdin=ruleset)
    script, tag = _firewall.render_script('nftables', SEVERAL)
    tagged = re.search(r"^nft -f - <<'EOF'\n(.*)^EOF$", script, re.S | re.M).group(1)
    run(['nft', '-c', '-f', '-'], ns=ns, stdin=tagged)
    # and it loads, carrying its tag where the module will read it back
    run(['nft', '-f', '-'], ns=ns, stdin=tagged)
    listed = run(['nft', 'list', 'table', 'inet', _firewall.NFT_TABLE], ns=ns).stdout
    assert 'comment "%s"' % tag in listed
    # one per same-family pair: net-to-net 1, to-vpn3 2 (v4, v6), to-branch 2, v6-only 1, old (absent) 0
    assert listed.count('NAT exemption') == 6
    assert 'ip6 saddr 2001:db8:ff::b' in listed
