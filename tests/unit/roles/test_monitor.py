# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitor role's collector: what a gateway's tunnels look like to Prometheus.

Fed with what Libreswan 4.10 printed in the lab for three tunnels (net-to-net carried three pings), the
collector must say: three configured, three up, one IKE SA each, the bytes of trafficstatus and the packets
of the kernel's SAs. The alert rules and the dashboard in examples/monitoring may only use metrics the
collector writes.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, '..', '..', '..'))
DATA = os.path.join(HERE, 'data')
NOW = 1796238447.0


@pytest.fixture(scope='module')
def collector():
    # deployed, the parsers lie beside the collector; here they are the collection's module_utils
    sys.path.insert(0, os.path.join(REPO, 'plugins', 'module_utils'))
    sys.path.insert(0, os.path.join(REPO, 'roles', 'monitor', 'files'))
    try:
        yield importlib.import_module('sitevpn_monitor')
    finally:
        sys.path.pop(0)
        sys.path.pop(0)


def data(name):
    with open(os.path.join(DATA, name)) as handle:
        return handle.read()


@pytest.fixture
def gateway(tmp_path, monkeypatch, collector):
    """Three conns as the collection wrote them, and the outputs of the commands the collector runs."""
    conf = data('net-to-net.conf')
    subnets = {'voice': ('172.16.21.0/24', '10.0.21.0/24'), 'backup': ('172.16.22.0/24', '10.0.22.0/24')}
    (tmp_path / 'net-to-net.conf').write_text(conf)
    for name, (left, right) in subnets.items():
        (tmp_path / (name + '.conf')).write_text(
            conf.replace('net-to-net', name).replace('172.16.1.0/24', left).replace('10.0.0.0/24', right))
    (tmp_path / 'by-hand.conf').write_text('conn by-hand\n    left=198.51.100.10\n')     # not ours: not counted
    outputs = {
        ('ipsec', '--version'): (0, 'Linux Libreswan 4.10 (XFRM) on 7.2.13\n'),
        ('ipsec', 'status'): (0, data('status-three-tunnels-4.10.txt')),
        ('ipsec', 'trafficstatus'): (0, data('trafficstatus-three-tunnels-4.10.txt')),
        ('ip', '-s', 'xfrm', 'state'): (0, data('ip-s-xfrm-state-4.10.txt')),
    }
    monkeypatch.setattr(collector, '_run', lambda argv: outputs[tuple(argv)])
    return tmp_path, outputs


def samples(text):
    """{'name{labels}': value} of a Prometheus text exposition, checking its grammar on the way."""
    result = {}
    for line in text.splitlines():
        if line.startswith('# HELP ') or line.startswith('# TYPE '):
            assert re.match(r'^# (HELP|TYPE) sitevpn_[a-z_]+ \S', line), line
            continue
        match = re.match(r'^(sitevpn_[a-z_]+(?:\{[a-z_]+="[^"]*"(?:,[a-z_]+="[^"]*")*\})?) (-?[0-9.]+)$', line)
        assert match, 'not a sample line: %r' % line
        result[match.group(1)] = float(match.group(2))
    return result


def test_three_tunnels_up_with_their_traffic(collector, gateway):
    conf_dir, _outputs = gateway
    metrics, state, errors = collector.collect({}, str(conf_dir), now=NOW)
    got = samples(metrics.render())
    assert errors == []
    for name in ('net-to-net', 'voice', 'backup'):
        tunnel = 'tunnel="%s",peer="vpn2"' % name
        assert got['sitevpn_tunnel_configured{%s}' % tunnel] == 1
        assert got['sitevpn_tunnel_up{%s}' % tunnel] == 1
        assert got['sitevpn_tunnel_ike_sas{%s}' % tunnel] == 1
        assert got['sitevpn_tunnel_child_sas{%s,connection="%s"}' % (tunnel, name)] == 1
    n2n = 'tunnel="net-to-net",peer="vpn2",connection="net-to-net"'
    assert got['sitevpn_tunnel_receive_bytes_total{%s}' % n2n] == 252         # trafficstatus inBytes
    assert got['sitevpn_tunnel_transmit_packets_total{%s}' % n2n] == 3        # esp.66f9cf54 (out) in the kernel
    assert got['sitevpn_tunnel_receive_packets_total{%s}' % n2n] == 3         # esp.e02fb4e5 (in)
    assert got['sitevpn_tunnel_child_sa_age_seconds{%s}' % n2n] == int(NOW) - 1796238415
    assert 27000 < got['sitevpn_tunnel_child_sa_rekey_seconds{%s}' % n2n] < 28800
    assert got['sitevpn_pluto_up'] == 1 and got['sitevpn_libreswan_info{version="4.10"}'] == 1
    assert not [key for key in got if 'by-hand' in key]
    assert state['tunnels']['voice'] == [True, NOW]


def test_a_tunnel_taken_down_reads_0_and_its_last_change_moves(collector, gateway):
    conf_dir, outputs = gateway
    _m, state, _e = collector.collect({}, str(conf_dir), now=NOW)
    # `ipsec auto --down voice` on the initiator: its states and SA are gone
    status = outputs[('ipsec', 'status')][1]
    outputs[('ipsec', 'status')] = (0, '\n'.join(line for line in status.splitlines() if '"voice"' not in line))
    outputs[('ipsec', 'trafficstatus')] = (0, '\n'.join(
        line for line in outputs[('ipsec', 'trafficstatus')][1].splitlines() if '"voice"' not in line))
    metrics, state2, _e = collector.collect(state, str(conf_dir), now=NOW + 30)
    got = samples(metrics.render())
    assert got['sitevpn_tunnel_up{tunnel="voice",peer="vpn2"}'] == 0
    assert got['sitevpn_tunnel_configured{tunnel="voice",peer="vpn2"}'] == 1
    assert got['sitevpn_tunnel_last_change_timestamp_seconds{tunnel="voice",peer="vpn2"}'] == NOW + 30
    assert got['sitevpn_tunnel_last_change_timestamp_seconds{tunnel="backup",peer="vpn2"}'] == NOW   # unchanged
    assert got['sitevpn_tunnel_up{tunnel="backup",peer="vpn2"}'] == 1


def test_pluto_down_means_every_tunnel_down_not_a_crash(collector, gateway):
    conf_dir, outputs = gateway
    outputs[('ipsec', 'status')] = (1, 'whack: Pluto is not running (no "/run/pluto/pluto.ctl")\n')
    metrics, _state, errors = collector.collect({}, str(conf_dir), now=NOW)
    got = samples(metrics.render())
    assert got['sitevpn_pluto_up'] == 0 and errors == []
    assert [got['sitevpn_tunnel_up{tunnel="%s",peer="vpn2"}' % n] for n in ('backup', 'net-to-net', 'voice')] == [0] * 3


def test_a_command_that_fails_counts_as_a_collector_error(collector, gateway):
    conf_dir, outputs = gateway
    outputs[('ipsec', 'trafficstatus')] = (None, '')      # timed out
    metrics, state, errors = collector.collect({'errors_total': 4}, str(conf_dir), now=NOW)
    assert errors == ['ipsec trafficstatus failed'] and state['errors_total'] == 5
    assert samples(metrics.render())['sitevpn_collector_errors_total'] == 5


def test_pluto_is_asked_through_whack_when_it_is_there_and_the_version_once_per_installed_ipsec(
        collector, gateway, monkeypatch):
    conf_dir, outputs = gateway
    asked = []
    outputs[('/usr/libexec/ipsec/whack', '--status')] = outputs[('ipsec', 'status')]
    outputs[('/usr/libexec/ipsec/whack', '--trafficstatus')] = outputs[('ipsec', 'trafficstatus')]
    monkeypatch.setattr(collector, '_run', lambda argv: asked.append(tuple(argv)) or outputs[tuple(argv)])
    monkeypatch.setattr(collector, '_installed', lambda ipsec: '/usr/sbin/ipsec:12345:1796000000')
    metrics, state, _e = collector.collect({}, str(conf_dir), now=NOW, whack='/usr/libexec/ipsec/whack')
    assert ('ipsec', 'status') not in asked and ('/usr/libexec/ipsec/whack', '--status') in asked
    assert samples(metrics.render())['sitevpn_tunnel_up{tunnel="voice",peer="vpn2"}'] == 1
    del asked[:]
    metrics, state, _e = collector.collect(state, str(conf_dir), now=NOW + 30, whack='/usr/libexec/ipsec/whack')
    assert ('ipsec', '--version') not in asked                     # the same ipsec: the version from the state
    assert samples(metrics.render())['sitevpn_libreswan_info{version="4.10"}'] == 1
    # an upgrade changes the program: asked again
    monkeypatch.setattr(collector, '_installed', lambda ipsec: '/usr/sbin/ipsec:12400:1797000000')
    collector.collect(state, str(conf_dir), now=NOW + 60, whack='/usr/libexec/ipsec/whack')
    assert ('ipsec', '--version') in asked


def test_sub_connections_of_a_tunnel_with_several_subnets_are_named_as_pluto_names_them(collector, tmp_path):
    conf = data('net-to-net.conf').replace('leftsubnet=172.16.1.0/24', 'leftsubnets=172.16.1.0/24,172.16.31.0/24')
    (tmp_path / 'net-to-net.conf').write_text(conf)
    assert collector.configured(str(tmp_path))['net-to-net']['connections'] == ['net-to-net/1x0', 'net-to-net/2x0']


def test_the_file_is_replaced_at_once_and_the_state_kept(collector, gateway, tmp_path):
    conf_dir, _outputs = gateway
    out, state = tmp_path / 'textfile', tmp_path / 'state' / 'state.json'
    assert collector.main(['--textfile-dir', str(out), '--conf-dir', str(conf_dir), '--state', str(state)]) == 0
    assert sorted(os.listdir(str(out))) == ['sitevpn_ipsec.prom']        # no temporary file left behind
    got = samples((out / 'sitevpn_ipsec.prom').read_text())
    assert got['sitevpn_collector_last_success_timestamp_seconds'] > NOW
    assert json.loads(state.read_text())['tunnels']['net-to-net'][0] is True


def test_the_role_deploys_the_whole_parsers_package_and_the_collector_imports_it_from_there(tmp_path):
    """The role copies the ipsec_output package file by file into its own folder: every .py of it must be
    listed, and the collector, started as its service starts it, must find the package beside it."""
    role = os.path.join(REPO, 'roles', 'monitor')
    with open(os.path.join(role, 'tasks', 'main.yml')) as handle:
        tasks = yaml.safe_load(handle)
    folders = [task for task in tasks if task.get('ansible.builtin.file', {}).get('state') == 'directory']
    assert len(folders) == 1 and '/usr/local/lib/sitevpn-monitor/ipsec_output' in folders[0]['loop']
    copies = [task for task in tasks if 'ansible.builtin.copy' in task]
    assert len(copies) == 1 and copies[0]['ansible.builtin.copy']['dest'] == '/usr/local/lib/sitevpn-monitor/{{ item.dest }}'
    deployed = tmp_path / 'sitevpn-monitor'
    for item in copies[0]['loop']:
        src = item['src'].replace('{{ role_path }}', role)
        src = src if os.path.isabs(src) else os.path.join(role, 'files', src)
        assert os.path.basename(src) == os.path.basename(item['dest']), item
        target = deployed / item['dest']
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, str(target))
    package = os.path.join(REPO, 'plugins', 'module_utils', 'ipsec_output')
    assert sorted(os.listdir(str(deployed / 'ipsec_output'))) == sorted(
        name for name in os.listdir(package) if name.endswith('.py'))

    # -I -S as in sitevpn-monitor.service: nothing but the standard library and the folder of the script
    run = subprocess.run([sys.executable, '-I', '-S', str(deployed / 'sitevpn_monitor.py'), '--help'],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert run.returncode == 0 and '--textfile-dir' in run.stdout, run.stdout
    probe = ('import sys; sys.path.insert(0, sys.argv[1]); import sitevpn_monitor, ipsec_output; '
             'assert ipsec_output.__file__.startswith(sys.argv[1]), ipsec_output.__file__; '
             'print(sorted(ipsec_output.parse_status("")), ipsec_output.parse_trafficstatus(""))')
    run = subprocess.run([sys.executable, '-I', '-S', '-c', probe, str(deployed)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert run.returncode == 0, run.stdout
    assert run.stdout.strip() == ("['connections', 'interfaces', 'kernel_interface', 'lines', 'states', 'totals', "
                                  "'version'] []")


# -- the examples that use the metrics ----------------------------------------------------------------

def _families(collector, gateway):
    conf_dir, _outputs = gateway
    metrics, _s, _e = collector.collect({}, str(conf_dir), now=NOW)
    names = set(name for name, _kind, _text, _samples in metrics.families)
    return names | {'sitevpn_collector_last_success_timestamp_seconds', 'sitevpn_collector_duration_seconds',
                    'sitevpn_collector_cpu_seconds'}


def test_the_alert_rules_use_only_metrics_the_collector_writes(collector, gateway):
    path = os.path.join(REPO, 'examples', 'monitoring', 'sitevpn-alerts.yml')
    with open(path) as handle:
        rules = yaml.safe_load(handle)
    known = _families(collector, gateway)
    alerts = [rule for group in rules['groups'] for rule in group['rules']]
    assert {'SitevpnTunnelDown', 'SitevpnDuplicateIkeSas', 'SitevpnTunnelIdle', 'SitevpnCollectorStale'} <= \
        set(rule['alert'] for rule in alerts)
    for rule in alerts:
        assert set(rule) >= {'alert', 'expr', 'for', 'labels', 'annotations'}, rule['alert']
        assert rule['labels']['severity'] in ('critical', 'warning', 'info')
        used = set(re.findall(r'\bsitevpn_[a-z_]+', rule['expr']))
        assert used and used <= known, (rule['alert'], used - known)
        assert rule['expr'].count('(') == rule['expr'].count(')')


def test_prometheus_own_checker_accepts_the_alert_rules():
    """`make promtool` puts Debian's promtool into the venv (nothing else of Prometheus, no service)."""
    promtool = shutil.which('promtool')
    if not promtool:
        pytest.skip('promtool is not installed (make promtool)')
    path = os.path.join(REPO, 'examples', 'monitoring', 'sitevpn-alerts.yml')
    check = subprocess.run([promtool, 'check', 'rules', path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, check=False)
    assert check.returncode == 0, check.stdout
    assert re.search(r'SUCCESS: [1-9]\d* rules found', check.stdout), check.stdout


def test_the_dashboard_uses_only_metrics_the_collector_writes(collector, gateway):
    with open(os.path.join(REPO, 'examples', 'monitoring', 'sitevpn-dashboard.json')) as handle:
        dashboard = json.load(handle)
    known = _families(collector, gateway)
    exprs = [target['expr'] for panel in dashboard['panels'] for target in panel['targets']]
    assert len(exprs) == len(dashboard['panels']) >= 8
    for expr in exprs:
        used = set(re.findall(r'\bsitevpn_[a-z_]+', expr))
        assert used and used <= known, (expr, used - known)
