"""The lab itself, before the collection touches it.

If these fail, a later failure is the lab's; if they pass, it is ours.
"""

import os
import subprocess

from labtest import LabSession
from lab import datapath


def test_five_guests_boot_answer_ssh_and_carry_hand_made_esp_then_leave_nothing():
    session = LabSession("t-self", "seed").up()
    try:
        state = session.lab.state
        print("boot of 5 guests: %s s" % state["boot_seconds"])
        assert sorted(state["guests"]) == ["router", "server1", "server2", "vpn1", "vpn2"]
        assert all(row["running"] and row["ssh"] for row in session.lab.status())

        # Libreswan is not preinstalled: the install role has real work to do
        assert session.sh("vpn1", "command -v ipsec", check=False).returncode != 0
        assert "libreswan" in session.sh("vpn1", "apt-cache policy libreswan").stdout

        # gateways do not forward until the firewall role says so
        assert session.sh("vpn1", "cat /proc/sys/net/ipv4/ip_forward").stdout.strip() == "0"

        # no tunnel, no way across: the internet router knows no private LAN
        evidence = session.ping_across(count=2)
        assert evidence["received"] == 0

        # hand-made XFRM states, static keys, no IKE: the kernel datapath works
        evidence = datapath.selftest(session.lab)
        assert evidence["ping_received"] == evidence["ping_sent"] == 3
        assert evidence["esp"] >= 6 and evidence["icmp_clear"] == 0
        assert evidence["esp_spis"] == ["0x51f70001", "0x51f70002"]
        # the same through an XFRM interface (route-based: if_id states, catch-all policies, a route)
        routed = evidence["route_based"]
        assert routed["ping_received"] == routed["ping_sent"] == 3, routed
        assert routed["esp"] >= 6 and routed["icmp_clear"] == 0, routed
        assert routed["esp_spis"] == ["0x51f70003", "0x51f70004"]
        # the guests run the lab's own kernel, with what the collection needs built in
        kernel = evidence["kernel"]
        assert kernel.pop("release") == session.lab.state["kernel_release"]
        assert kernel == {"nftables inet": True, "nftables nat": True, "iptables-legacy": True,
                          "xfrm interface": True, "vti": True, "vti6": True}
        assert evidence["ok"]
        # and the self-test cleaned up after itself
        assert session.sh("vpn1", "ip xfrm state").stdout.strip() == ""
    finally:
        lab_dir, netns = session.lab.dir, session.lab.netns
        session.down()
    # nothing of the lab is left on the host
    assert not os.path.exists(lab_dir)
    assert netns not in subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE,
                                       universal_newlines=True).stdout
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _is_uml_of(p, "t-self")]


def _is_uml_of(pid, lab):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as handle:
            return ("umid=svl.%s." % lab).encode() in handle.read()
    except OSError:
        return False


def test_a_guest_keeps_its_disk_across_a_reboot(lab_for):
    session = lab_for("seed")
    session.sh("server1", "echo kept > /root/marker")
    seconds = session.lab.restart("server1")
    print("server1 reboot: %.1f s" % seconds)
    assert session.sh("server1", "cat /root/marker").stdout.strip() == "kept"
    # and its addresses came back
    assert "172.16.1.100/24" in session.sh("server1", "ip -br addr show eth0").stdout


def test_lab_up_clears_what_an_interrupted_run_of_the_same_name_left():
    """A run killed mid-way leaves a namespace with its bridges and a folder, but no lab.json."""
    session = LabSession("t-stale", "seed")
    netns = session.lab.netns
    subprocess.run(["ip", "netns", "add", netns], check=True)
    subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "add", "br-wan1", "type", "bridge"], check=True)
    os.makedirs(os.path.join(session.lab.dir, "guests", "vpn1"))
    assert not session.lab.exists() and session.lab.leftovers()
    try:
        session.lab.up("seed")
        assert all(row["running"] and row["ssh"] for row in session.lab.status())
    finally:
        session.down()
