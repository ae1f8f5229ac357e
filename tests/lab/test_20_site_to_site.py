"""playbooks/site-to-site.yml on the seed's Figure 35-1: the product, end to end.

The tests run in order on one lab and build on each other, like an operator's
day: first run with RSA keys, a second run that must change nothing, a tunnel
taken down by hand and brought back by the next run, a reboot,
a switch to a pre-shared key, and two things broken by hand that the firewall
role must mend.
"""

import re
import time

import pytest

from labtest import SERVER1, SERVER2, assert_encrypted_both_ways, encrypted


@pytest.fixture(scope="module")
def seed(lab_for):
    return lab_for("seed")


def test_one_run_turns_two_bare_gateways_into_an_rsa_tunnel_proven_by_encrypted_ping(seed):
    seed.vars("net-to-net-rsa.yml")
    run = seed.playbook()
    assert run.rc == 0, run.out[-3000:]
    assert run.says("answered, ESP bytes")         # the role's own proof
    assert_encrypted_both_ways(seed)
    # the seed's steps happened on both gateways
    for gw in ("vpn1", "vpn2"):
        assert seed.sh(gw, "cat /proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
        assert "leftrsasigkey=0s" in seed.sh(gw, "cat /etc/ipsec.d/net-to-net.conf").stdout
        assert seed.sh(gw, "systemctl is-enabled ipsec").stdout.strip() == "enabled"
    # the same conn on both ends, apart from the comment naming the Libreswan version and each end's word
    # on its own updown script: with a default route, Libreswan's _updown has nothing to do on either end
    conf1 = seed.sh("vpn1", "grep -v '^#' /etc/ipsec.d/net-to-net.conf").stdout
    conf2 = seed.sh("vpn2", "grep -v '^#' /etc/ipsec.d/net-to-net.conf").stdout
    assert "    leftupdown=%disabled\n" in conf1 and "    rightupdown=%disabled\n" in conf2
    assert conf1.replace("    leftupdown=%disabled\n", "") == conf2.replace("    rightupdown=%disabled\n", "")
    # private keys stay in NSS: nothing like one in the files Ansible wrote
    assert "PRIVATE" not in seed.sh("vpn1", "cat /etc/ipsec.d/*.conf /etc/ipsec.conf").stdout


def test_a_second_run_changes_nothing_and_keeps_the_same_sas(seed):
    before = (seed.spis("vpn1"), seed.spis("vpn2"))
    assert before[0] and before[0] == before[1]
    run = seed.playbook()
    assert run.rc == 0, run.out[-3000:]
    assert run.changed == 0, run.recap
    assert (seed.spis("vpn1"), seed.spis("vpn2")) == before
    # nothing to do is not nothing proven: the pings crossed the tunnel and its ESP counters rose
    assert_proven(run)
    # one read-only call per gateway found nothing to do for the install, firewall, host key and load steps
    assert run.task("would change (one read-only call)") == {"vpn1": "ok", "vpn2": "ok"}, run.out[-3000:]
    for step in STEPS:
        assert run.task(step) == {"vpn1": "skipping", "vpn2": "skipping"}, step
    print("first-run-free rerun: %.1f s" % run.seconds)


# the tasks of the install, firewall, keys and tunnel roles that the precheck skips when it finds nothing to change
STEPS = ("Install, configure and start Libreswan", "Forwarding on, redirects off", "RSA host key in the NSS database",
         "Write and load the conns of this gateway")


def assert_proven(run):
    report = " ".join(run.out.split())        # the report line may wrap in the output
    proven = re.search(r"proven: server1 -> 10\.0\.0\.105 answered, ESP bytes (\d+) -> (\d+)", report)
    assert proven and int(proven.group(2)) > int(proven.group(1)), run.out[-3000:]


def test_a_tunnel_taken_down_by_hand_is_brought_back_by_the_next_run(seed):
    """A rerun skips its establish step only when every gateway found its tunnels up; a tunnel taken
    down by hand is seen by the load step (no Child SA), brought up again and proven."""
    seed.sh("vpn1", "ipsec auto --down net-to-net >/dev/null 2>&1")
    assert not seed.spis("vpn1")
    run = seed.playbook()
    assert run.rc == 0, run.out[-3000:]
    assert run.changed == 1, run.recap          # the ipsec up, nothing else
    assert seed.spis("vpn1") and seed.spis("vpn1") == seed.spis("vpn2")
    assert_proven(run)


REBOOT_RECOVERY = 60       # seconds from the guest answering SSH to a ping across (promise; measured 5-15 s)


def established_ike_sas(seed, gateway):
    status = seed.sh(gateway, "ipsec status", check=False).stdout
    return set(re.findall(r'#(\d+): "net-to-net"[^ ]* STATE_V2_ESTABLISHED_IKE_SA', status))


@pytest.mark.parametrize("gateway, hard", [("vpn2", False), ("vpn1", False), ("vpn2", True), ("vpn1", True)],
                         ids=["vpn2-poweroff", "vpn1-poweroff", "vpn2-power-cut", "vpn1-power-cut"])
def test_a_rebooted_gateway_brings_the_tunnel_back_without_ansible(seed, gateway, hard):
    peer = "vpn1" if gateway == "vpn2" else "vpn2"
    old_ike = established_ike_sas(seed, peer)
    seed.lab.restart(gateway, hard=hard)
    started = time.time()
    while time.time() - started < 90:
        if seed.ping_across(count=1)["received"] == 1:
            break
        time.sleep(2)
    recovered = time.time() - started
    print("%s rebooted (%s): tunnel carries traffic again %.0f s after the guest answered SSH"
          % (gateway, "power cut" if hard else "poweroff", recovered))
    assert recovered <= REBOOT_RECOVERY
    assert_encrypted_both_ways(seed)
    # after a power cut the peer was not told: it may still hold the dead end's IKE SA, which liveness
    # drops (README, Limits) and which may then restart the tunnel once more. Wait for that to be over
    # (or 80 s: liveness gives up after 10 + 60 s), then the tunnel must still carry traffic: a second
    # interruption must not last.
    settle = time.time()
    while old_ike & established_ike_sas(seed, peer) and time.time() - settle < 80:
        time.sleep(3)
    left = old_ike & established_ike_sas(seed, peer)
    print("%s: IKE SAs of before the %s %s after %.0f s" % (
        peer, "power cut" if hard else "poweroff", "still there: %s" % sorted(left) if left else "gone",
        time.time() - settle))
    if not hard:
        assert not left          # a clean poweroff tells the peer (IKE delete), nothing is left over
    assert_encrypted_both_ways(seed)


def test_the_same_tunnel_with_a_pre_shared_key_instead(seed):
    seed.vars("net-to-net-psk.yml")
    run = seed.playbook()
    assert run.rc == 0, run.out[-3000:]
    assert_encrypted_both_ways(seed)
    secrets = seed.sh("vpn1", "stat -c '%a %U' /etc/ipsec.d/net-to-net.secrets").stdout.split()
    assert secrets == ["600", "root"]
    # generated once on vpn1, the same on vpn2, and kept on the next run
    key1 = seed.sh("vpn1", "grep PSK /etc/ipsec.d/net-to-net.secrets").stdout
    assert key1 == seed.sh("vpn2", "grep PSK /etc/ipsec.d/net-to-net.secrets").stdout
    again = seed.playbook()
    assert again.rc == 0 and again.changed == 0, (again.rc, again.recap)
    assert seed.sh("vpn1", "grep PSK /etc/ipsec.d/net-to-net.secrets").stdout == key1


def test_forwarding_off_breaks_the_ping_and_the_firewall_role_mends_it(seed):
    seed.sh("vpn1", "sysctl -qw net.ipv4.ip_forward=0")
    assert seed.ping_across(count=2)["received"] == 0
    run = seed.playbook()
    assert run.rc == 0, run.out[-3000:]
    assert run.recap["vpn1"]["changed"] >= 1
    # the precheck saw the drift on vpn1 only: its firewall step ran, the rest was skipped
    assert run.task(STEPS[1]) == {"vpn1": "changed", "vpn2": "skipping"}, run.out[-3000:]
    assert_encrypted_both_ways(seed)


def test_masquerade_without_the_nat_exemption_breaks_the_ping_and_the_role_mends_it(seed):
    # the seed's situation: the gateway masquerades its LAN to the internet, in whatever packet
    # filter the role chose there (nftables on this lab; the iptables scenario does the same)
    backend, ipt = seed.firewall("vpn1")
    seed.masquerade_wan("vpn1")
    try:
        seed.drop_nat_exemption("vpn1")       # and our exemption is gone, behind the role's back
        broken = seed.ping_across(count=2)
        assert broken["received"] == 0        # masqueraded to the WAN address, outside the tunnel's policy
        run = seed.playbook()
        assert run.rc == 0, run.out[-3000:]
        assert run.recap["vpn1"]["changed"] >= 1, run.recap      # it saw its rules edited, and put them back
        assert_encrypted_both_ways(seed)      # with the host's MASQUERADE still in place
        if backend == "nftables":
            chain = seed.sh("vpn1", "nft list chain inet sitevpn_ipsec postrouting").stdout
            assert "type nat hook postrouting" in chain and "snat ip to ip saddr" in chain, chain
        else:
            rules = seed.sh("vpn1", "%s -t nat -S POSTROUTING" % ipt).stdout.splitlines()
            assert rules.index("-A POSTROUTING -j SITEVPN-POSTROUTING") < \
                rules.index("-A POSTROUTING -o eth0 -j MASQUERADE")
    finally:
        seed.masquerade_wan("vpn1", on=False)
    again = seed.playbook()
    assert again.rc == 0 and again.changed == 0, (again.rc, again.recap)


def test_with_pluto_stopped_nothing_leaks_in_clear_and_the_tunnel_returns_when_it_starts(seed):
    seed.sh("vpn1", "systemctl stop ipsec")
    try:
        evidence = seed.leak_check("server1", "10.0.0.105", "wan1", "vpn1")
        assert evidence["received"] == 0
        assert evidence["control_icmp"] >= 2, evidence                  # the capture was watching
        assert evidence["lan_icmp_clear"] == 0, evidence["lan_lines"]   # and the leak guard held
    finally:
        seed.sh("vpn1", "systemctl start ipsec")
    started = time.time()
    while seed.ping_across(count=1)["received"] == 0 and time.time() - started < 60:
        time.sleep(2)
    # the tunnel has just been negotiated again: seen once in a full CI run (stop 27), all 3 answers crossed
    # wan1 encrypted (6 ESP) and ping counted 2 - so each direction gets 10 s to be whole, as after a rollback
    encrypted(seed, "server1", SERVER2, "wan1", count=3, within=10)
    encrypted(seed, "server2", SERVER1, "wan2", count=3, within=10)


def test_pluto_stopped_by_hand_is_found_by_the_precheck_and_started_by_the_install_step(seed):
    seed.sh("vpn2", "systemctl stop ipsec")
    run = seed.playbook()
    assert run.rc == 0, run.out[-3000:]
    assert run.task(STEPS[0]) == {"vpn1": "skipping", "vpn2": "changed"}, run.out[-3000:]
    assert seed.sh("vpn2", "systemctl is-active ipsec").stdout.strip() == "active"
    assert_proven(run)
    assert_encrypted_both_ways(seed)


def test_libreswan_updown_runs_where_an_unreachable_route_needs_it_and_only_there(seed):
    """Some sites keep an unreachable route over private ranges so nothing leaks: then Libreswan's _updown
    must route the remote LAN past it via the next hop. The gateway keeps the script for that tunnel, the
    tunnel carries traffic, and once the route is gone the next run turns the script off again."""
    conf = "cat /etc/ipsec.d/net-to-net.conf"
    seed.sh("vpn1", "ip route add unreachable 10.0.0.0/16")
    try:
        run = seed.playbook()
        assert run.rc == 0, run.out[-3000:]
        assert "updown" not in seed.sh("vpn1", conf).stdout
        assert "rightupdown=%disabled" in seed.sh("vpn2", conf).stdout    # vpn2's routes did not change
        assert "via 198.51.100.1" in seed.sh("vpn1", "ip route show 10.0.0.0/24").stdout   # the script's route
        assert_encrypted_both_ways(seed)
    finally:
        seed.sh("vpn1", "ip route del unreachable 10.0.0.0/16", check=False)
    run = seed.playbook()
    assert run.rc == 0, run.out[-3000:]
    assert "leftupdown=%disabled" in seed.sh("vpn1", conf).stdout
    # a route the script left behind is of exactly the remote prefix: it does not count, the decision holds
    assert_encrypted_both_ways(seed)
    rerun = seed.playbook()
    assert rerun.rc == 0 and rerun.changed == 0, rerun.recap
