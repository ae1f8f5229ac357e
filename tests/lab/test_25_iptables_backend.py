"""The firewall role's iptables backend, both flavours, proven with ESP.

Guests pick nftables by themselves (test_20 runs on that). Network teams whose hosts keep their
rules in iptables set ``sitevpn_firewall_backend: iptables``; Debian has two ``iptables``, chosen
with update-alternatives: the legacy one (its own tables in the kernel) and the nf_tables one (the
same commands, rules kept in nf_tables). Here vpn1 runs the legacy one and vpn2 the nf_tables one,
on the seed's PSK tunnel, and both must carry it, mend it and guard it.
"""

import time

import pytest

from labtest import SERVER1, assert_encrypted_both_ways

FLAVOURS = {"vpn1": "legacy", "vpn2": "nf_tables"}


@pytest.fixture(scope="module")
def lab(lab_for):
    session = lab_for("seed", name="iptables")
    for gw, flavour in FLAVOURS.items():
        binary = "iptables-legacy" if flavour == "legacy" else "iptables-nft"
        session.sh(gw, "update-alternatives --quiet --set iptables /usr/sbin/%s" % binary)
    session.vars("net-to-net-psk.yml", sitevpn_firewall_backend="iptables")
    return session


def test_each_gateway_uses_its_own_iptables_and_the_tunnel_carries_encrypted_traffic(lab):
    run = lab.playbook()
    assert run.rc == 0, run.out[-3000:]
    assert run.says("answered, ESP bytes")
    for gw, flavour in FLAVOURS.items():
        assert lab.firewall(gw) == ("iptables", "iptables")
        assert "(%s)" % flavour in lab.sh(gw, "iptables -V").stdout
    # the rules are where each flavour keeps them: vpn1's in the legacy tables and not in nf_tables,
    # vpn2's in nf_tables (as iptables-nft's tables) and not in the legacy ones
    assert "-A POSTROUTING -j SITEVPN-POSTROUTING" in lab.sh("vpn1", "iptables-legacy-save").stdout
    assert "SITEVPN" not in lab.sh("vpn1", "nft list ruleset").stdout
    assert "SITEVPN-POSTROUTING" in lab.sh("vpn2", "nft list ruleset").stdout
    assert "SITEVPN" not in lab.sh("vpn2", "iptables-legacy-save").stdout
    assert "sitevpn_ipsec" not in lab.sh("vpn2", "nft list tables").stdout      # not the nftables backend
    assert_encrypted_both_ways(lab)
    again = lab.playbook()
    assert again.rc == 0 and again.changed == 0, (again.rc, again.recap)


def test_a_host_masquerade_and_a_lost_jump_break_the_tunnel_and_one_run_mends_both_gateways(lab):
    for gw in FLAVOURS:
        lab.masquerade_wan(gw)
        lab.drop_nat_exemption(gw)      # the jump to SITEVPN-POSTROUTING, deleted by hand
    try:
        assert lab.ping_across(count=2)["received"] == 0
        run = lab.playbook()
        assert run.rc == 0, run.out[-3000:]
        assert run.recap["vpn1"]["changed"] >= 1 and run.recap["vpn2"]["changed"] >= 1, run.recap
        assert_encrypted_both_ways(lab)
        for gw in FLAVOURS:
            rules = lab.sh(gw, "iptables -t nat -S POSTROUTING").stdout.splitlines()
            assert rules[1] == "-A POSTROUTING -j SITEVPN-POSTROUTING", rules        # first, ahead of the host's
            assert "-A POSTROUTING -o eth0 -j MASQUERADE" in rules[2:], rules
    finally:
        for gw in FLAVOURS:
            lab.masquerade_wan(gw, on=False)


def test_a_flushed_forward_chain_is_seen_as_drift_and_put_back(lab):
    for gw in FLAVOURS:
        lab.sh(gw, "iptables -F SITEVPN-FORWARD")
    run = lab.playbook()
    assert run.rc == 0, run.out[-3000:]
    assert run.recap["vpn1"]["changed"] >= 1 and run.recap["vpn2"]["changed"] >= 1, run.recap
    for gw in FLAVOURS:
        assert "never in clear" in lab.sh(gw, "iptables -S SITEVPN-FORWARD").stdout


@pytest.mark.parametrize("gw, source, target, wire", [("vpn1", "server1", "10.0.0.105", "wan1"),
                                                      ("vpn2", "server2", SERVER1, "wan2")])
def test_with_pluto_stopped_the_leak_guard_of_either_flavour_keeps_traffic_off_the_wire(lab, gw, source, target,
                                                                                        wire):
    lab.sh(gw, "systemctl stop ipsec")
    try:
        assert lab.sh(gw, "ip xfrm policy").stdout.strip() == ""         # nothing left to protect it
        evidence = lab.leak_check(source, target, wire, gw)
        assert evidence["received"] == 0
        assert evidence["control_icmp"] >= 2, evidence        # the capture was watching
        assert evidence["lan_icmp_clear"] == 0, evidence["lan_lines"]
    finally:
        lab.sh(gw, "systemctl start ipsec")
    started = time.time()
    while lab.ping_across(count=1)["received"] == 0 and time.time() - started < 60:
        time.sleep(2)
    assert_encrypted_both_ways(lab)
