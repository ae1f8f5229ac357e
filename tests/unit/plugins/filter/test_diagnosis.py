# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``diagnosis`` filter (and ``diagnose_topology``): verdicts and causes from canned facts.

The facts are what ``diagnose_info`` returned on the seed lab's two gateways, healthy and with
each fault of tests/lab/test_70_diagnose.py, cut down to the fields the filter reads; hostvars
are plain dicts (the filter only calls ``hostvars[host].get(key)``).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import os
import re

import jinja2
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sitevpn.ipsec.plugins.filter.diagnosis import (
    CAPTURE_VAR, CAUSES, CHECKS_VAR, PINGS_VAR, diagnosis, wire_evidence)
from ansible_collections.sitevpn.ipsec.plugins.filter.diagnose_topology import diagnose_topology

TUNNELS = [{"name": "net-to-net", "left": "vpn1", "right": "vpn2", "left_subnets": "172.16.1.0/24",
            "right_subnets": "10.0.0.0/24", "auth": "psk", "probe": {"from": "server1", "to": "server2"}}]
GATEWAYS = ["vpn1", "vpn2"]
SITE = {
    "vpn1": {"me": "198.51.100.10", "peer": "203.0.113.10", "lan": "172.16.1.0/24", "remote": "10.0.0.0/24",
             "router": "198.51.100.1", "server": "172.16.1.100"},
    "vpn2": {"me": "203.0.113.10", "peer": "198.51.100.10", "lan": "10.0.0.0/24", "remote": "172.16.1.0/24",
             "router": "203.0.113.1", "server": "10.0.0.105"},
}


def accept(rule=None):
    return {"verdict": "ACCEPT", "backend": None, "chain": None, "rule": None, "uncertain": [],
            "accepted_by": ["iptables-legacy filter INPUT: %s" % rule] if rule else []}


def tunnel_facts(host):
    s = SITE[host]
    peer_rule = ('-A SITEVPN-INPUT -s %s/32 -p udp -m multiport --dports 500,4500 -m comment --comment '
                 '"IKE and NAT-T from peer" -j ACCEPT' % s["peer"])
    exemption = ('-A SITEVPN-POSTROUTING -s %s -d %s -m comment --comment "net-to-net: NAT exemption" -j ACCEPT'
                 % (s["lan"], s["remote"]))
    target = s["remote"].replace(".0/24", ".1")
    return {
        "name": "net-to-net", "local_side": "left" if host == "vpn1" else "right", "auth": "psk",
        "my_address": s["me"], "peer_address": s["peer"], "peer_host": "vpn2" if host == "vpn1" else "vpn1",
        "local_subnets": [s["lan"]], "remote_subnets": [s["remote"]],
        "loaded": True, "routing": ["erouted"], "ike_sa": True, "child_sa": True, "ike_pending": [],
        "states": ['#1: "net-to-net":500 STATE_V2_ESTABLISHED_IKE_SA (established IKE SA); newest; idle;',
                   '#2: "net-to-net":500 STATE_V2_ESTABLISHED_CHILD_SA (established Child SA); newest; eroute '
                   'owner; IKE SA #1; idle;'],
        "sas": [{"serial": 2, "name": "net-to-net", "in_bytes": 336, "out_bytes": 336}],
        "in_bytes": 336, "out_bytes": 336, "wan_dev": "eth0", "lan_devs": ["eth1"],
        "routes": [{"subnet": s["remote"], "target": target, "status": "ok",
                    "why": "leaves by eth0 via %s, toward the peer" % s["router"],
                    "line": "%s via %s dev eth0 src %s uid 0" % (target, s["router"], s["me"])}],
        "listening": {"500": True, "4500": True},
        "ike_input": {"500": accept(peer_rule), "4500": accept(peer_rule)},
        "esp_input": accept(),
        "nat": [{"verdict": "exempt", "backend": "iptables-legacy", "chain": "nat POSTROUTING", "rule": exemption,
                 "uncertain": [], "pair": "%s -> %s" % (s["lan"], s["remote"]),
                 "exemption": {"installed": True, "first": True, "where": "iptables-legacy", "rule": exemption,
                               "jump": True}}],
        "forward": [dict(accept(), pair="%s -> %s" % (s["lan"], s["remote"]), direction="out"),
                    dict(accept(), pair="%s -> %s" % (s["remote"], s["lan"]), direction="in")],
        "log": {"current": {}, "past": {"auth_failed": 4}, "last_up": "2026-11-27T05:57:46+0000", "lines_seen": 72},
    }


def checks(host):
    return {
        "changed": False, "failed": False, "installed": True, "version": "4.10",
        "pluto": {"running": True, "service": "active", "status_error": None,
                  "ike_sockets": ["%s:500" % SITE[host]["me"], "%s:4500" % SITE[host]["me"]]},
        "verify": {"source": "ipsec verify", "checks": [
            {"name": "Version check and ipsec on-path", "status": "OK", "ok": True, "parent": None, "remedy": None},
            {"name": "Checking that pluto is running", "status": "OK", "ok": True, "parent": None, "remedy": None},
            {"name": "Checking rp_filter", "status": "OK", "ok": True, "parent": None, "remedy": None}]},
        "forwarding": {"ipv4": 1, "ipv6": 0},
        "firewall": {"backends": ["iptables-legacy"], "read": {"iptables-legacy": "read"}},
        "log": {"source": "journalctl -u ipsec --since -1h", "lines": 226},
        "tunnels": {"net-to-net": tunnel_facts(host)},
    }


def pkt(iface, direction, src, dst, kind, sport=None, dport=None):
    line = "06:12:27.855813 %s  %s IP %s > %s: %s" % (iface, {"in": "In ", "out": "Out"}[direction], src, dst, kind)
    return {"iface": iface, "direction": direction, "src": src, "dst": dst, "sport": sport, "dport": dport,
            "kind": kind, "spi": "0x46be2a6f" if kind == "esp" else None, "line": line}


def capture(host, before=336, after=840):
    s = SITE[host]
    src, dst = ("172.16.1.100", "10.0.0.105")
    packets = []
    for _seq in range(3):
        if host == "vpn1":
            packets += [pkt("eth1", "in", src, dst, "icmp"), pkt("eth0", "out", s["me"], s["peer"], "esp"),
                        pkt("eth0", "in", s["peer"], s["me"], "esp"), pkt("eth0", "in", dst, src, "icmp"),
                        pkt("eth1", "out", dst, src, "icmp")]
        else:
            packets += [pkt("eth0", "in", s["peer"], s["me"], "esp"), pkt("eth0", "in", src, dst, "icmp"),
                        pkt("eth1", "out", src, dst, "icmp"), pkt("eth1", "in", dst, src, "icmp"),
                        pkt("eth0", "out", s["me"], s["peer"], "esp")]
    return {"finished": 1, "failed": False, "changed": False,
            "counters_before": {"net-to-net": {"in_bytes": before // 2, "out_bytes": before // 2}},
            "counters_after": {"net-to-net": {"in_bytes": after // 2, "out_bytes": after // 2}},
            "capture": {"available": True, "seconds": 12, "error": None, "packets": packets}}


def pings(received=3):
    return {"changed": False, "results": [{
        "item": ["server1", [{"address": "10.0.0.105", "from": "server1", "tunnel": "net-to-net"}]],
        "rc": 0, "stdout": "PROBE 10.0.0.105 3 %d\r\n" % received, "failed": False}]}


def healthy():
    hostvars = {
        "server1": {"ansible_host": "192.0.2.13", "sitevpn_probe_address": "172.16.1.100"},
        "server2": {"ansible_host": "192.0.2.14", "sitevpn_probe_address": "10.0.0.105"},
    }
    for host in GATEWAYS:
        hostvars[host] = {"ansible_host": "192.0.2.1%d" % (GATEWAYS.index(host) + 1),
                          "sitevpn_public_address": SITE[host]["me"],
                          CHECKS_VAR: checks(host), CAPTURE_VAR: capture(host),
                          PINGS_VAR: pings() if host == "vpn1" else {"changed": False, "results": []}}
    return hostvars


def tf(hostvars, host):
    return hostvars[host][CHECKS_VAR]["tunnels"]["net-to-net"]


def judge(hostvars, tunnels=None):
    return diagnosis(tunnels or TUNNELS, hostvars, GATEWAYS, generated="2026-11-27 06:12:00 UTC")


def only_tunnel(report):
    assert len(report["tunnels"]) == 1
    return report["tunnels"][0]


# ---- the five faults of the lab test, as the lab showed them -------------------------------------

def fault_wrong_key(hv):
    """vpn2's PSK changed by hand, secrets reread, tunnel re-initiated from vpn1."""
    for host in GATEWAYS:
        t = tf(hv, host)
        t.update(ike_sa=False, child_sa=False, sas=[], in_bytes=0, out_bytes=0, states=[], routing=["erouted"])
    tf(hv, "vpn1")["log"]["current"] = {"auth_failed": {
        "count": 5, "first": "2026-11-27T06:12:58+0000", "last": "2026-11-27T06:13:05+0000",
        "line": '2026-11-27T06:13:05+0000 vpn1 pluto[1513]: "net-to-net" #24: IKE SA authentication request '
                'rejected by peer: AUTHENTICATION_FAILED'}}
    tf(hv, "vpn2")["log"]["current"] = {"auth_failed": {
        "count": 10, "first": "2026-11-27T06:12:58+0000", "last": "2026-11-27T06:13:05+0000",
        "line": '2026-11-27T06:13:05+0000 vpn2 pluto[1512]: "net-to-net" #15: authentication failed: computed hash '
                'does not match hash received from peer ID_FQDN \'@net-to-net.vpn1\''}}
    for host in GATEWAYS:
        hv[host][CAPTURE_VAR] = no_traffic(host)
    hv["vpn1"][PINGS_VAR] = pings(0)


def fault_udp500(hv):
    """vpn2: iptables-legacy -I INPUT -p udp --dport 500 -j DROP, tunnel restarted."""
    rule = "-A INPUT -p udp -m udp --dport 500 -j DROP"
    tf(hv, "vpn2")["ike_input"]["500"] = {"verdict": "DROP", "backend": "iptables-legacy", "chain": "filter INPUT",
                                          "rule": rule, "uncertain": [], "accepted_by": []}
    for host in GATEWAYS:
        tf(hv, host).update(ike_sa=False, child_sa=False, sas=[], in_bytes=0, out_bytes=0, states=[])
        hv[host][CAPTURE_VAR] = no_traffic(host)
    tf(hv, "vpn1")["ike_pending"] = ["#30 sent IKE_SA_INIT request"]
    tf(hv, "vpn1")["log"]["current"] = {"retransmit": {
        "count": 3, "first": "2026-11-27T06:13:25+0000", "last": "2026-11-27T06:13:40+0000",
        "line": '2026-11-27T06:13:40+0000 vpn1 pluto[1513]: "net-to-net" #30: STATE_V2_PARENT_I1: retransmission; '
                'will wait 16 seconds for response'}}
    hv["vpn2"][CAPTURE_VAR]["capture"]["packets"].append(
        pkt("eth0", "in", "198.51.100.10", "203.0.113.10", "ike", 500, 500))
    hv["vpn1"][PINGS_VAR] = pings(0)


def fault_nat(hv):
    """vpn1: our jump removed from nat POSTROUTING, MASQUERADE -o eth0 appended."""
    nat = tf(hv, "vpn1")["nat"][0]
    nat.update(verdict="masqueraded", rule="-A POSTROUTING -o eth0 -j MASQUERADE")
    nat["exemption"].update(installed=False, first=False, jump=False)
    for host in GATEWAYS:
        hv[host][CAPTURE_VAR] = no_traffic(host)
    hv["vpn1"][CAPTURE_VAR]["capture"]["packets"] = [
        pkt("eth1", "in", "172.16.1.100", "10.0.0.105", "icmp"),
        pkt("eth0", "out", "198.51.100.10", "10.0.0.105", "icmp")] * 3
    hv["vpn1"][PINGS_VAR] = pings(0)


def fault_forwarding(hv):
    """vpn1: sysctl -w net.ipv4.ip_forward=0."""
    hv["vpn1"][CHECKS_VAR]["forwarding"]["ipv4"] = 0
    for host in GATEWAYS:
        hv[host][CAPTURE_VAR] = no_traffic(host)
    hv["vpn1"][CAPTURE_VAR]["capture"]["packets"] = [pkt("eth1", "in", "172.16.1.100", "10.0.0.105", "icmp")] * 3
    hv["vpn1"][PINGS_VAR] = pings(0)


def fault_pluto(hv):
    """vpn2: systemctl stop ipsec."""
    hv["vpn2"][CHECKS_VAR]["pluto"].update(
        running=False, service="inactive", status_error='whack: Pluto is not running (no "/run/pluto/pluto.ctl")')
    t2 = tf(hv, "vpn2")
    t2.update(loaded=False, ike_sa=False, child_sa=False, sas=[], states=[], listening={"500": False, "4500": False})
    tf(hv, "vpn1").update(ike_sa=False, child_sa=False, sas=[], states=[], ike_pending=["#33 sent IKE_SA_INIT request"])
    tf(hv, "vpn1")["log"]["current"] = {"retransmit": {"count": 6, "first": None, "last": None, "line": "..."}}
    hv["vpn2"][CHECKS_VAR]["verify"]["checks"][1].update(status="FAILED", ok=False)
    for host in GATEWAYS:
        hv[host][CAPTURE_VAR] = no_traffic(host)
    hv["vpn1"][CAPTURE_VAR]["capture"]["packets"].append(dict(
        pkt("eth0", "in", "203.0.113.10", "198.51.100.10", "icmp-error"),
        line="06:15:23.612087 eth0  In  IP 203.0.113.10 > 198.51.100.10: ICMP 203.0.113.10 udp port 500 unreachable"))
    hv["vpn1"][PINGS_VAR] = pings(0)


def no_traffic(host):
    result = capture(host, before=0, after=0)
    result["capture"]["packets"] = []
    if host == "vpn1":
        result["counters_after"] = {}
        result["counters_before"] = {}
    return result


FAULTS = [
    # (fault, cause, gateway, words the remedy must contain)
    (fault_wrong_key, "wrong key", "vpn1, vpn2", ["pre-shared keys", "site-to-site.yml", "--rereadsecrets"]),
    (fault_udp500, "UDP 500 blocked", "vpn2", ["iptables-legacy -D INPUT -p udp -m udp --dport 500 -j DROP"]),
    (fault_nat, "NAT exemption missing", "vpn1", ["-A POSTROUTING -o eth0 -j MASQUERADE",
                                                  "iptables-legacy -t nat -I POSTROUTING 1 -j SITEVPN-POSTROUTING",
                                                  "-d ! 10.0.0.0/24"]),
    (fault_forwarding, "forwarding off", "vpn1", ["sysctl -w net.ipv4.ip_forward=1"]),
    (fault_pluto, "pluto stopped", "vpn2", ["systemctl start ipsec", "journalctl -u ipsec"]),
]


def test_healthy_lab_has_no_finding():
    report = judge(healthy())
    tunnel = only_tunnel(report)
    assert tunnel["verdict"] == "OK" and tunnel["cause"] == "traffic crosses encrypted"
    assert report["findings"] == [] and tunnel["findings"] == []
    assert report["summary"] == {"ok": 1, "degraded": 0, "down": 0, "unknown": 0, "tunnels": 1, "findings": 0,
                                 "worst": "OK"}
    statuses = dict(((c["check"], c["gateway"]), c["status"]) for c in tunnel["checks"])
    assert statuses[("probe", "server1")] == "ok"
    assert statuses[("tcpdump", "vpn1")] == "ok" and statuses[("counters", "vpn2")] == "ok"
    assert set(statuses.values()) == {"ok"}
    assert tunnel["probe"]["status"] == "answered" and tunnel["probe"]["from_address"] == "172.16.1.100"
    assert report["gateways"]["vpn1"]["pluto"]["running"] is True


# what iputils ping printed in the lab for `ping -M do -s 1410 -c 2 -W 2 -i 1` across the tunnel
BIG_ANSWERED = ("1418 bytes from 10.0.0.105: icmp_seq=1 ttl=62 time=1.31 ms\n"
                "--- 10.0.0.105 ping statistics ---\n2 packets transmitted, 2 received, 0% packet loss, time 1001ms\n")
BIG_LOST = "--- 10.0.0.105 ping statistics ---\n2 packets transmitted, 0 received, 100% packet loss, time 1010ms\n"
BIG_TOO_BIG = ("From 172.16.1.1 icmp_seq=1 Frag needed and DF set (mtu = 1400)\n--- 10.0.0.105 ping statistics ---\n"
               "2 packets transmitted, 0 received, +2 errors, 100% packet loss, time 1002ms\n")


def with_big_pings(output):
    hostvars = healthy()
    result = hostvars["vpn1"][PINGS_VAR]["results"][0]
    result["stdout"] += "".join("BIG 10.0.0.105 1410 %s\r\n" % line for line in output.splitlines())
    return hostvars


def test_full_size_pings_with_df_that_cross_are_an_ok_path_mtu():
    tunnel = only_tunnel(judge(with_big_pings(BIG_ANSWERED)))
    assert tunnel["verdict"] == "OK"
    checks = dict(((c["check"], c["gateway"]), c) for c in tunnel["checks"])
    assert checks[("path MTU", "server1")]["status"] == "ok"
    assert "ping -M do -s 1410 10.0.0.105 (the tunnel's MTU with DF): 2/2 answered" in checks[("path MTU", "server1")]["summary"]


def test_full_size_pings_lost_without_fragmentation_needed_are_an_mtu_black_hole():
    """Small pings answered, the tunnel's MTU with DF lost, no ICMP back: test_47's narrowed path."""
    tunnel = only_tunnel(judge(with_big_pings(BIG_LOST)))
    assert tunnel["verdict"] == "DEGRADED" and tunnel["cause"] == "MTU black hole (server1)"
    finding = tunnel["findings"][0]
    assert "smaller `mtu`" in finding["remedy"] and "fragmentation needed" in finding["remedy"]
    assert finding["evidence"] == ["ping -M do -s 1410 10.0.0.105 (the tunnel's MTU with DF): 0/2 answered"]


def test_a_path_that_says_fragmentation_needed_is_no_black_hole():
    tunnel = only_tunnel(judge(with_big_pings(BIG_TOO_BIG)))
    assert tunnel["verdict"] == "OK" and tunnel["findings"] == []
    check = [c for c in tunnel["checks"] if c["check"] == "path MTU"][0]
    assert check["status"] == "warn" and "the path said its MTU is 1400" in check["summary"]


@pytest.mark.parametrize("fault, cause, gateway, remedy_words", FAULTS, ids=[f[1] for f in FAULTS])
def test_each_fault_is_named_with_its_remedy(fault, cause, gateway, remedy_words):
    hostvars = healthy()
    fault(hostvars)
    report = judge(hostvars)
    tunnel = only_tunnel(report)
    assert tunnel["verdict"] == "DOWN"
    first = tunnel["findings"][0]
    assert (first["cause"], first["gateway"]) == (cause, gateway), tunnel["findings"]
    assert tunnel["cause"] == "%s (%s)" % (cause, gateway)
    assert tunnel["line"] == "net-to-net: DOWN - %s (%s)" % (cause, gateway)
    for words in remedy_words:
        assert words in first["remedy"], first["remedy"]
    assert first["evidence"]
    # one fault, one finding: nothing else is blamed
    assert [f["cause"] for f in tunnel["findings"]] == [cause], tunnel["findings"]


def test_wrong_key_evidence_is_the_log_of_both_ends():
    hostvars = healthy()
    fault_wrong_key(hostvars)
    evidence = only_tunnel(judge(hostvars))["findings"][0]["evidence"]
    assert any("rejected by peer: AUTHENTICATION_FAILED" in e for e in evidence)
    assert any(e.startswith("vpn2:") and "computed hash does not match" in e for e in evidence)


def test_wrong_rsa_key_gets_the_rsa_remedy():
    hostvars = healthy()
    fault_wrong_key(hostvars)
    tunnels = [dict(TUNNELS[0], auth="rsasig")]
    remedy = only_tunnel(judge(hostvars, tunnels))["findings"][0]["remedy"]
    assert "rsasigkey" in remedy and "showhostkey" in remedy


def test_udp_500_evidence_joins_both_ends():
    hostvars = healthy()
    fault_udp500(hostvars)
    evidence = only_tunnel(judge(hostvars))["findings"][0]["evidence"]
    assert evidence[0] == "vpn2: iptables-legacy filter INPUT: -A INPUT -p udp -m udp --dport 500 -j DROP"
    assert "vpn1: half-open IKE SA waiting for vpn2: #30 sent IKE_SA_INIT request" in evidence
    assert any("IKE from 198.51.100.10 arrives on the wire" in e for e in evidence)


def test_nat_fault_evidence_includes_the_clear_icmp_on_the_wan():
    hostvars = healthy()
    fault_nat(hostvars)
    tunnel = only_tunnel(judge(hostvars))
    evidence = tunnel["findings"][0]["evidence"]
    assert any("ICMP packets left by eth0 in clear" in e for e in evidence)
    tcpdump = [c for c in tunnel["checks"] if c["check"] == "tcpdump" and c["gateway"] == "vpn1"][0]
    assert tcpdump["status"] == "fail" and "ICMP in clear toward 10.0.0.0/24 3" in tcpdump["summary"]


def test_pluto_stopped_hides_what_follows_from_it():
    hostvars = healthy()
    fault_pluto(hostvars)
    tunnel = only_tunnel(judge(hostvars))
    finding = tunnel["findings"][0]
    assert any("ICMP port unreachable" in e for e in finding["evidence"])
    # no "conn not loaded", "no answer", "pluto not listening" or verify finding for the same root cause
    assert len(tunnel["findings"]) == 1


# ---- degraded and other cases ------------------------------------------------------------------------

def test_udp_500_blocked_while_the_sa_is_still_up_is_degraded():
    hostvars = healthy()
    tf(hostvars, "vpn2")["ike_input"]["500"] = {"verdict": "DROP", "backend": "nft", "chain": "inet filter input",
                                                "rule": "udp dport 500 drop", "uncertain": [], "accepted_by": []}
    tunnel = only_tunnel(judge(hostvars))
    assert tunnel["verdict"] == "DEGRADED" and tunnel["findings"][0]["cause"] == "UDP 500 blocked"
    assert "accept UDP 500 and 4500 from 198.51.100.10 ahead of it" in tunnel["findings"][0]["remedy"]


def test_udp_4500_blocked_is_degraded():
    hostvars = healthy()
    tf(hostvars, "vpn1")["ike_input"]["4500"] = {"verdict": "REJECT", "backend": "iptables-nft",
                                                 "chain": "filter INPUT", "rule": "-A INPUT -p udp --dport 4500 -j "
                                                 "REJECT", "uncertain": [], "accepted_by": []}
    tunnel = only_tunnel(judge(hostvars))
    assert tunnel["verdict"] == "DEGRADED"
    assert tunnel["findings"][0]["cause"] == "UDP 4500 blocked"
    assert "iptables -D INPUT -p udp --dport 4500 -j REJECT" in tunnel["findings"][0]["remedy"]


def test_route_through_the_lan_is_degraded():
    hostvars = healthy()
    tf(hostvars, "vpn1")["routes"][0].update(status="fail", why="leaves by the LAN interface eth1 instead of eth0 "
                                             "toward the peer", line="10.0.0.1 via 172.16.1.254 dev eth1")
    tunnel = only_tunnel(judge(hostvars))
    assert tunnel["verdict"] == "DEGRADED"
    assert tunnel["cause"] == "route toward the remote subnet (vpn1)"


def route_based(hostvars, state="up"):
    """The healthy lab as a route-based tunnel: both gateways route the remote LAN into ipsec42."""
    for host in GATEWAYS:
        facts = tf(hostvars, host)
        facts.update(interface="ipsec42", interface_state=state)
        facts["routes"][0].update(why="leaves by ipsec42, the tunnel's interface",
                                  line="%s dev ipsec42 src %s uid 0" % (facts["routes"][0]["target"], SITE[host]["me"]))
    return hostvars


def test_a_route_based_tunnel_with_its_interface_up_and_routed_into_is_healthy():
    tunnel = only_tunnel(judge(route_based(healthy())))
    assert tunnel["verdict"] == "OK", tunnel


@pytest.mark.parametrize("state", ["missing", "down"])
def test_a_route_based_tunnels_interface_missing_or_down_is_named_with_the_unit_that_puts_it_back(state):
    tunnel = only_tunnel(judge(route_based(healthy(), state)))
    assert tunnel["verdict"] == "DOWN"
    assert tunnel["cause"] == "tunnel interface %s (vpn1)" % state
    assert "systemctl restart sitevpn-ipsec-routes" in tunnel["findings"][0]["remedy"]


def test_a_route_based_tunnels_subnet_routed_past_its_interface_is_down_not_degraded():
    """Out by the WAN is right for a policy-based tunnel; for a route-based one nothing enters the tunnel."""
    hostvars = route_based(healthy())
    tf(hostvars, "vpn2")["routes"][0].update(status="fail", why="leaves by eth0, not into the tunnel's interface "
                                             "ipsec42: the route the firewall role keeps is missing")
    tunnel = only_tunnel(judge(hostvars))
    assert tunnel["verdict"] == "DOWN"
    assert tunnel["cause"] == "route into the tunnel's interface missing (vpn2)"
    assert "sitevpn-ipsec-routes" in tunnel["findings"][0]["remedy"]


def test_verify_failure_is_degraded_with_verifys_remedy():
    hostvars = healthy()
    hostvars["vpn2"][CHECKS_VAR]["verify"]["checks"].append(
        {"name": "ICMP default/send_redirects", "status": "NOT DISABLED", "ok": False,
         "parent": "Checking for IPsec support in kernel", "remedy": "disable sending ICMP redirects"})
    tunnel = only_tunnel(judge(hostvars))
    assert tunnel["verdict"] == "DEGRADED"
    assert tunnel["findings"] == [{"cause": "ipsec verify", "severity": "degraded", "gateway": "vpn2",
                                   "remedy": "ICMP default/send_redirects: disable sending ICMP redirects",
                                   "evidence": ["vpn2: ICMP default/send_redirects [NOT DISABLED]"]}]


def test_half_up():
    hostvars = healthy()
    tf(hostvars, "vpn2").update(child_sa=False, sas=[])
    tunnel = only_tunnel(judge(hostvars))
    assert tunnel["verdict"] == "DEGRADED" and tunnel["findings"][0]["cause"] == "half up"


def test_answered_but_counters_flat_means_the_traffic_went_around():
    hostvars = healthy()
    hostvars["vpn1"][CAPTURE_VAR] = capture("vpn1", before=840, after=840)
    tunnel = only_tunnel(judge(hostvars))
    assert tunnel["verdict"] == "DOWN" and tunnel["findings"][0]["cause"] == "traffic bypasses the tunnel"


def test_a_capture_that_missed_the_probe_concludes_nothing():
    hostvars = healthy()
    hostvars["vpn1"][CAPTURE_VAR] = capture("vpn1", before=840, after=840)
    hostvars["vpn1"][CAPTURE_VAR]["capture"]["packets"] = []          # started after the last ping
    tunnel = only_tunnel(judge(hostvars))
    assert tunnel["verdict"] == "OK" and tunnel["findings"] == []
    statuses = dict(((c["check"], c["gateway"]), c["status"]) for c in tunnel["checks"])
    assert statuses[("tcpdump", "vpn1")] == "warn" and statuses[("counters", "vpn1")] == "warn"
    assert statuses[("tcpdump", "vpn2")] == "ok"


def test_probe_lost_with_everything_else_right():
    hostvars = healthy()
    hostvars["vpn1"][PINGS_VAR] = pings(0)
    tunnel = only_tunnel(judge(hostvars))
    assert tunnel["verdict"] == "DOWN" and tunnel["findings"][0]["cause"] == "probe not answered"
    assert "route to their gateway" in tunnel["findings"][0]["remedy"]


def test_esp_that_leaves_one_end_and_never_arrives_is_lost_on_the_way():
    """A router on the path drops IP protocol 50 while UDP 500 passes (the lab: `iptables -I FORWARD -p esp -j
    DROP` on the router): the SAs are up, vpn1's counters rise while the probe runs, vpn2's do not."""
    hostvars = healthy()
    hostvars["vpn1"][PINGS_VAR] = pings(0)
    hostvars["vpn1"][CAPTURE_VAR] = capture("vpn1", before=168, after=672)
    hostvars["vpn2"][CAPTURE_VAR] = capture("vpn2", before=336, after=336)
    tunnel = only_tunnel(judge(hostvars))
    assert tunnel["verdict"] == "DOWN"
    finding = tunnel["findings"][0]
    assert finding["cause"] == "ESP lost on the way" and finding["gateway"] == "vpn1 -> vpn2"
    assert "drops IP protocol 50" in finding["remedy"] and "encapsulation" in finding["remedy"]
    assert finding["evidence"] == ["vpn1: SA bytes 168 -> 672", "vpn2: SA bytes 336 -> 336"]
    assert "route to their gateway" not in finding["remedy"]


def test_no_answer_from_the_peer_when_nothing_on_either_end_blocks():
    hostvars = healthy()
    fault_udp500(hostvars)
    tf(hostvars, "vpn2")["ike_input"]["500"] = accept()        # a firewall on the way, not on vpn2
    tunnel = only_tunnel(judge(hostvars))
    assert tunnel["findings"][0]["cause"] == "no answer from the peer"
    assert tunnel["findings"][0]["gateway"] == "vpn1"


def test_no_proposal_and_traffic_selectors_from_the_log():
    hostvars = healthy()
    fault_wrong_key(hostvars)
    tf(hostvars, "vpn1")["log"]["current"] = {
        "no_proposal": {"count": 1, "first": None, "last": None, "line": "NO_PROPOSAL_CHOSEN"}}
    tf(hostvars, "vpn2")["log"]["current"] = {
        "ts_unacceptable": {"count": 1, "first": None, "last": None, "line": "TS_UNACCEPTABLE"}}
    causes = [f["cause"] for f in only_tunnel(judge(hostvars))["findings"]]
    assert causes == ["no common proposal", "traffic selectors refused"]


def test_a_peer_that_keeps_asking_for_a_dh_group_is_named_with_the_group_not_as_silent():
    """The same verdict as the conns module after a failed up, from the same line of pluto's log."""
    hostvars = healthy()
    fault_udp500(hostvars)
    tf(hostvars, "vpn2")["ike_input"]["500"] = accept()
    tf(hostvars, "vpn1")["log"]["current"] = {"dh_group": {
        "count": 969, "first": None, "last": None,
        "line": '"net-to-net" #1: Received unauthenticated INVALID_KE_PAYLOAD response to DH DH19; resending '
                'with suggested DH DH19'}}
    tunnel = only_tunnel(judge(hostvars))
    assert [f["cause"] for f in tunnel["findings"]] == ["peer refuses the DH group"]
    remedy = tunnel["findings"][0]["remedy"]
    assert "969 times" in remedy and "DH19 (DH group 19)" in remedy and "it cannot do that group" in remedy


def test_ike_auth_retransmitted_is_a_path_problem_not_no_answer():
    hostvars = healthy()
    fault_udp500(hostvars)
    tf(hostvars, "vpn2")["ike_input"]["500"] = accept()
    tf(hostvars, "vpn1")["log"]["current"] = {"no_ike_auth": {
        "count": 5, "first": None, "last": None,
        "line": '"net-to-net" #5: STATE_V2_PARENT_I2: retransmission; will wait 8 seconds for response'}}
    tunnel = only_tunnel(judge(hostvars))
    assert [f["cause"] for f in tunnel["findings"]] == ["IKE_AUTH unanswered"]
    assert "answered IKE_SA_INIT but never IKE_AUTH (5 retransmits)" in tunnel["findings"][0]["remedy"]


def test_conn_not_loaded():
    hostvars = healthy()
    tf(hostvars, "vpn2").update(loaded=False, child_sa=False, ike_sa=False)
    tunnel = only_tunnel(judge(hostvars))
    assert tunnel["cause"] == "conn not loaded (vpn2)"
    assert "ipsec auto --add net-to-net" in tunnel["findings"][0]["remedy"]


def test_libreswan_missing():
    hostvars = healthy()
    hostvars["vpn2"][CHECKS_VAR].update(installed=False, version=None, verify=None)
    hostvars["vpn2"][CHECKS_VAR]["pluto"].update(running=False, status_error="Libreswan is not installed")
    tunnel = only_tunnel(judge(hostvars))
    assert tunnel["cause"] == "Libreswan not installed (vpn2)"


@pytest.mark.parametrize("result, words", [
    ({"unreachable": True, "msg": "ssh: connect to host vpn2 port 22: No route to host", "changed": False},
     "unreachable"),
    ({"failed": True, "msg": "MODULE FAILURE"}, "failed: MODULE FAILURE"),
    (None, "no facts were read"),
])
def test_a_gateway_that_could_not_be_read_makes_the_tunnel_unknown(result, words):
    hostvars = healthy()
    if result is None:
        del hostvars["vpn2"][CHECKS_VAR]
    else:
        hostvars["vpn2"][CHECKS_VAR] = result
    report = judge(hostvars)
    tunnel = only_tunnel(report)
    assert tunnel["verdict"] == "UNKNOWN" and tunnel["cause"] == "gateway not read (vpn2)"
    assert words in tunnel["findings"][0]["evidence"][0]
    assert report["gateways"]["vpn2"]["reachable"] is False and report["summary"]["worst"] == "UNKNOWN"


def test_tunnel_to_an_unmanaged_peer_is_judged_from_our_end():
    hostvars = healthy()
    tunnels = [dict(TUNNELS[0], right={"address": "203.0.113.10", "name": "appliance"}, psk="x9Kq2LmZ7vR4tW8pN3sB")]
    tunnel = only_tunnel(judge(hostvars, tunnels))
    assert tunnel["verdict"] == "OK" and tunnel["right"]["managed"] is False


def test_absent_tunnels_are_not_judged_and_bad_input_fails():
    assert judge(healthy(), [dict(TUNNELS[0], state="absent")])["tunnels"] == []
    with pytest.raises(AnsibleFilterError, match="field right"):
        judge(healthy(), [dict(TUNNELS[0], right="vpn9")])


def test_every_cause_has_a_rank():
    for fault, cause, _gateway, _words in FAULTS:
        assert cause in CAUSES


def test_wire_evidence_tells_decrypted_replies_from_leaks():
    hostvars = healthy()
    wire = wire_evidence(hostvars["vpn1"][CAPTURE_VAR], tf(hostvars, "vpn1"))
    # replies decrypted on eth0 show up there "In" in clear: that is normal, not a leak
    assert len(wire["esp_out"]) == 3 and len(wire["esp_in"]) == 3 and wire["clear_out_wan"] == []
    assert len(wire["lan_icmp"]) == 6


# ---- the picture -----------------------------------------------------------------------------------------

def test_topology_colours_tunnels_by_verdict():
    report = judge(healthy())
    dot = diagnose_topology(report)
    assert dot.startswith("graph sitevpn {") and dot.rstrip().endswith("}")
    assert 'label="net-to-net\\nOK"' in dot and 'color="#2e7d32"' in dot
    assert '"vpn1\\n198.51.100.10\\nLibreswan 4.10, pluto running"' in dot
    assert '"172.16.1.0/24"' in dot and '"server2\\n10.0.0.105"' in dot and '"server1\\n172.16.1.100"' in dot
    hostvars = healthy()
    fault_pluto(hostvars)
    down = diagnose_topology(judge(hostvars))
    assert 'color="#c62828"' in down and "pluto stopped (vpn2)" in down


def test_topology_of_a_hub_with_an_unmanaged_spoke():
    hostvars = healthy()
    hostvars["vpn1"][CHECKS_VAR]["tunnels"]["to-branch"] = copy.deepcopy(tf(hostvars, "vpn1"))
    tunnels = TUNNELS + [{"name": "to-branch", "left": "vpn1", "right": {"address": "192.0.2.77", "name": "branch"},
                          "left_subnets": "172.16.1.0/24", "right_subnets": "10.9.0.0/24", "auth": "psk",
                          "psk": "x9Kq2LmZ7vR4tW8pN3sB"}]
    dot = diagnose_topology(judge(hostvars, tunnels))
    assert dot.count("subgraph cluster_") == 3
    assert '"branch\\n192.0.2.77\\npeer (not managed here)"' in dot and "filled,dashed" in dot


# ---- the role's report templates, rendered from these results ----------------------------------------

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "roles", "diagnose",
                         "templates")


def render(report, drawn=True):
    """Both templates, with Ansible's settings that matter (trim_blocks) and undefined values as errors."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), trim_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["regex_replace"] = lambda value, pattern, repl: re.sub(pattern, repl, value)
    env.filters["bool"] = bool
    env.filters["sitevpn.ipsec.diagnose_topology"] = diagnose_topology
    svg = '<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg xmlns="http://www.w3.org/2000/svg"><g id="graph0"/></svg>'
    values = {"__sitevpn_diagnosis": report, "__sitevpn_diagnose_drawn": drawn,
              "__sitevpn_diagnose_svg": svg if drawn else ""}
    return dict((name, env.get_template(name + ".j2").render(**values)) for name in ("report.md", "report.html"))


@pytest.mark.parametrize("case", ["healthy", "nat", "unreachable", "no dot"])
def test_report_templates_render(case):
    hostvars = healthy()
    if case == "nat":
        fault_nat(hostvars)
    elif case == "unreachable":
        hostvars["vpn2"][CHECKS_VAR] = {"unreachable": True, "msg": "Failed to connect to the host via ssh: <timeout>"}
    pages = render(judge(hostvars), drawn=case != "no dot")
    markdown, html = pages["report.md"], pages["report.html"]
    verdict = {"healthy": "OK", "no dot": "OK", "nat": "DOWN", "unreachable": "UNKNOWN"}[case]
    assert "| net-to-net | **%s** |" % verdict in markdown
    assert '<td class="cause">' in html and ">%s</span>" % verdict in html
    if case == "nat":
        # commands in remedies are code, everything else escaped
        assert "<code>iptables-legacy -t nat -I POSTROUTING 1 -j SITEVPN-POSTROUTING</code>" in html
        assert "1. **NAT exemption missing** on vpn1 (down)" in markdown
    if case == "unreachable":
        assert "not read: reading vpn2 failed" not in html and "Failed to connect to the host via ssh: &lt;timeout&gt;" in html
    if case == "no dot":
        assert "<svg" not in html and "dot -Tsvg -o topology.svg topology.dot" in html and "graph sitevpn {" in html
    else:
        assert html.count("<svg") == 1 and "<?xml" not in html and "<!DOCTYPE svg" not in html
    assert "<script" not in html and "<link" not in html


# pluto's lines on the hub of the lab, Libreswan 4.10, when the revoked spoke vpn3 tried (test_52)
REVOKED_LINE = ('Dec 05 07:17:51 vpn1 pluto[751]: "net-to-net" #2: NSS: ERROR: IPsec certificate CN=sitevpn CA invalid: '
                'SEC_ERROR_REVOKED_CERTIFICATE: Peer\'s Certificate has been revoked.')
NO_MATCH_LINE = ('Dec 05 07:18:04 vpn1 pluto[751]: "net-to-net" #11: authentication failed: no certificate matched '
                 'ECDSA with SHA2_512 and \'@net-to-net.vpn2\'')


@pytest.mark.parametrize("line, cause, words", [
    (REVOKED_LINE, "certificate revoked", ["revocation list", "sitevpn_revoked_gateways", "state: absent"]),
    (REVOKED_LINE.replace("SEC_ERROR_REVOKED_CERTIFICATE: Peer's Certificate has been revoked",
                          "SEC_ERROR_EXPIRED_CERTIFICATE: Peer's Certificate has expired"),
     "certificate expired", ["has expired", "NTP", "sitevpn_rotate_cert: [net-to-net]"]),
    (REVOKED_LINE.replace("SEC_ERROR_REVOKED_CERTIFICATE: Peer's Certificate has been revoked",
                          "SEC_ERROR_UNKNOWN_ISSUER: Peer's Certificate issuer is not recognized"),
     "unknown CA", ["same CA", "sitevpn_ca_dir"]),
    # measured: a CA rotation with two trusted CAs of one name (before they got names of their own)
    (REVOKED_LINE.replace("SEC_ERROR_REVOKED_CERTIFICATE: Peer's Certificate has been revoked",
                          "SEC_ERROR_BAD_SIGNATURE: Peer's certificate has an invalid signature"),
     "unknown CA", ["same CA"]),
    (NO_MATCH_LINE, "certificate ID mismatch", ["@net-to-net.vpn1 / @net-to-net.vpn2"]),
], ids=["revoked", "expired", "unknown-ca", "bad-signature", "id-mismatch"])
def test_a_refused_certificate_is_its_own_cause_with_its_own_remedy(line, cause, words):
    from ansible_collections.sitevpn.ipsec.plugins.module_utils._diagnose import _log_kind
    assert _log_kind(line) == "cert_invalid"
    hostvars = healthy()
    fault_wrong_key(hostvars)
    tf(hostvars, "vpn1")["log"]["current"]["cert_invalid"] = {
        "count": 3, "first": "2026-12-05T07:17:51+0000", "last": "2026-12-05T07:18:04+0000", "line": line}
    tunnel = only_tunnel(judge(hostvars, [dict(TUNNELS[0], auth="cert")]))
    assert tunnel["verdict"] == "DOWN" and tunnel["cause"] == "%s (vpn1)" % cause
    finding = tunnel["findings"][0]
    assert finding["gateway"] == "vpn1" and line in finding["evidence"][0]
    for word in words:
        assert word in finding["remedy"]
    assert "wrong key" not in [f["cause"] for f in tunnel["findings"]]


def test_a_certificate_tunnel_refused_without_an_nss_reason_gets_a_certificate_remedy():
    hostvars = healthy()
    fault_wrong_key(hostvars)
    finding = only_tunnel(judge(hostvars, [dict(TUNNELS[0], auth="cert")]))["findings"][0]
    assert finding["cause"] == "wrong key" and "certificates of net-to-net" in finding["remedy"]
    assert "rsasigkey" not in finding["remedy"] and "pre-shared" not in finding["remedy"]
