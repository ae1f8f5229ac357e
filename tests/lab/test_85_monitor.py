"""The monitor role on the seed's Figure 35-1: Prometheus sees the tunnels through node_exporter.

Three tunnels between vpn1 and vpn2, node_exporter from the lab's package source, the collector every 5 s.
A tunnel taken down by hand reads 0 within one period and 1 again after it is brought back; pinging moves
its byte counters; status.yml names the one tunnel that is down and nothing else; state absent removes
the timer and the metrics file.
"""

import json
import re
import time

import pytest

from labtest import SERVER2

PERIOD = 5
METRICS_URL = "http://127.0.0.1:9100/metrics"
LAST_RUN = "sitevpn_collector_last_success_timestamp_seconds"


@pytest.fixture(scope="module")
def lab(lab_for):
    session = lab_for("seed", name="monitor")
    session.vars("three-tunnels.yml", sitevpn_monitor=True, sitevpn_monitor_interval=PERIOD,
                 sitevpn_monitor_install_node_exporter=True)
    run = session.playbook()
    assert run.rc == 0, run.out[-3000:]
    return session


def key(name, **labels):
    """A series as node_exporter prints it: labels in alphabetical order."""
    return name + ("{%s}" % ",".join('%s="%s"' % kv for kv in sorted(labels.items())) if labels else "")


def scrape(lab, host="vpn1"):
    """{'name{labels}': value} of the sitevpn_ series node_exporter serves on *host*."""
    text = lab.sh(host, "python3 -c \"import urllib.request; print(urllib.request.urlopen('%s', timeout=5)"
                        ".read().decode())\"" % METRICS_URL).stdout
    series = {}
    for match in re.finditer(r"^(sitevpn_[a-z_]+)(?:\{([^}]*)\})? (\S+)$", text, re.M):
        labels = dict(re.findall(r'([a-z_]+)="([^"]*)"', match.group(2) or ""))
        series[key(match.group(1), **labels)] = float(match.group(3))
    return series


def until(lab, predicate, seconds):
    deadline = time.time() + seconds
    while True:
        got = scrape(lab)
        if predicate(got) or time.time() > deadline:
            return got
        time.sleep(1)


def up(name):
    return key("sitevpn_tunnel_up", tunnel=name, peer="vpn2")


def test_node_exporter_serves_every_configured_tunnel_as_up(lab):
    got = until(lab, lambda g: g.get(up("voice")) == 1, 3 * PERIOD)
    assert [got.get(up(n)) for n in ("net-to-net", "voice", "backup")] == [1, 1, 1], got
    assert got["sitevpn_pluto_up"] == 1 and got[key("sitevpn_libreswan_info", version="4.10")] == 1
    assert got["sitevpn_collector_cpu_seconds"] < 1, got
    print("collector on vpn1: %.3f s CPU, %.3f s wall for 3 tunnels" % (
        got["sitevpn_collector_cpu_seconds"], got["sitevpn_collector_duration_seconds"]))


def test_a_rerun_with_the_monitor_changes_nothing(lab):
    again = lab.playbook()
    assert again.rc == 0 and again.changed == 0, again.out[-3000:]


def test_pinging_moves_the_byte_counters(lab):
    sent = key("sitevpn_tunnel_transmit_bytes_total", tunnel="net-to-net", peer="vpn2", connection="net-to-net")
    before = until(lab, lambda g: sent in g, 2 * PERIOD)[sent]
    lab.sh("server1", "ping -c 4 -i 0.3 -W 2 %s" % SERVER2)
    after = until(lab, lambda g: g.get(sent, 0) > before, 3 * PERIOD)[sent]
    assert after > before, (before, after)


def test_a_tunnel_taken_down_reads_0_within_one_period_and_status_names_it_alone(lab, tmp_path):
    downed = float(lab.sh("vpn1", "ipsec auto --down voice >/dev/null; date +%s.%N").stdout)
    # the first collection after the down already says 0: within one timer period
    got = until(lab, lambda g: g.get(LAST_RUN, 0) > downed, 2 * PERIOD + 5)
    assert got[LAST_RUN] > downed and got.get(up("voice")) == 0, got
    assert got[LAST_RUN] - downed <= 2 * PERIOD, (downed, got[LAST_RUN])    # (scrapes every ~2 s: the first or second)
    print("voice read 0 in the collection %.1f s after `ipsec auto --down`" % (got[LAST_RUN] - downed))
    assert got[up("net-to-net")] == 1 and got[up("backup")] == 1

    status = lab.playbook("status.yml", "-e", "sitevpn_report_dir=%s" % tmp_path)
    assert status.rc == 0 and status.changed == 0, status.out[-3000:]
    table = json.loads((tmp_path / "status.json").read_text())
    not_up = sorted((r["gateway"], r["tunnel"], r["state"]) for r in table["rows"] if r["state"] != "up")
    assert not_up == [("vpn1", "voice", "configured-not-established"),
                      ("vpn2", "voice", "configured-not-established")], table
    assert status.says("voice") and status.says("configured-not-established")

    back = float(lab.sh("vpn1", "timeout 40 ipsec auto --up voice >/dev/null; date +%s.%N").stdout)
    got = until(lab, lambda g: g.get(LAST_RUN, 0) > back, 2 * PERIOD + 5)
    assert got[LAST_RUN] > back and got.get(up("voice")) == 1, got


def test_state_absent_removes_the_timer_and_the_metrics(lab):
    run = lab.playbook("site-to-site.yml", "-e", "sitevpn_monitor_state=absent")
    assert run.rc == 0, run.out[-3000:]
    for gw in ("vpn1", "vpn2"):
        assert lab.sh(gw, "systemctl list-unit-files 'sitevpn-monitor*' --no-legend", check=False).stdout.strip() == ""
        left = lab.sh(gw, "ls -d /var/lib/prometheus/node-exporter/sitevpn_ipsec.prom /usr/local/lib/sitevpn-monitor "
                          "/var/lib/sitevpn-monitor 2>/dev/null", check=False).stdout
        assert left.strip() == "", left
    assert not [k for k in scrape(lab) if k.startswith("sitevpn_")]
