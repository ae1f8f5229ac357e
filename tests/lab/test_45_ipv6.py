"""IPv6 LANs over the IPv4 WAN: one run from bare gateways, and it survives a reboot without Ansible;
policy-based and route-based (`mode: route`), each from bare gateways and then switched to the other.
All-IPv6, and IPv4 LANs over an IPv6 WAN, on a dual-stack lab.

The lab topology `v6lan` is Figure 35-1 with 2001:db8:1::/64 beside 172.16.1.0/24 behind vpn1 and
2001:db8:2::/64 beside 10.0.0.0/24 behind vpn2; the WAN and the router stay IPv4 only, so no route of
the gateways carries the other LAN. Before the firewall role turned IPv6 forwarding on and routed such a
subnet toward the peer, the run failed ("server1 could not ping 2001:db8:2::100 across it") and rolled back.
"""

import re
import time
import zlib

import pytest

from labtest import encrypted, release

SERVER2_V6, SERVER1_V6 = "2001:db8:2::100", "2001:db8:1::100"


def interface(name):
    """The XFRM interface a route-based tunnel gets from its name (_model.default_interface_id)."""
    return "ipsec%d" % (1000 + zlib.crc32(name.encode()) % 9000)


def routed_into(lab, gateway, prefix, device):
    """The gateway's route for `prefix` leads into `device`, and the device is up."""
    family = "-6" if ":" in prefix else "-4"
    route = lab.sh(gateway, "ip %s route show %s" % (family, prefix)).stdout
    link = lab.sh(gateway, "ip -o link show %s" % device).stdout
    return "dev %s" % device in route and re.search(r"<[^>]*\bUP\b", link) is not None


TUNNEL = {"name": "v6", "left": "vpn1", "right": "vpn2", "auth": "psk",
          "left_subnets": "2001:db8:1::/64", "right_subnets": "2001:db8:2::/64",
          "probe": {"from": "server1", "to": SERVER2_V6}}


def assert_routed(lab, mode):
    """Each gateway's route toward the other's IPv6 LAN: toward the peer (policy-based: the WAN, eth0) or
    into the tunnel's interface (route-based); the conn offers the LAN or ::/0."""
    for gw, remote in (("vpn1", "2001:db8:2::/64"), ("vpn2", "2001:db8:1::/64")):
        assert lab.sh(gw, "cat /proc/sys/net/ipv6/conf/all/forwarding").stdout.strip() == "1"
        device = "eth0" if mode == "policy" else interface("v6")
        assert routed_into(lab, gw, remote, device), (gw, lab.sh(gw, "ip -6 route; ip -o link").stdout)
        conf = lab.sh(gw, "cat /etc/ipsec.d/v6.conf").stdout
        assert ("leftsubnet=::/0" in conf) == (mode == "route"), conf


@pytest.mark.parametrize("mode", ["policy", "route"])
def test_ipv6_lans_over_the_ipv4_wan_from_bare_gateways_and_back_after_a_reboot(lab_for, mode):
    """Each kind of tunnel from bare gateways (a lab of its own), then switched to the other kind."""
    lab = lab_for("v6lan", name="v6lan-" + mode)
    other = "route" if mode == "policy" else "policy"
    try:
        lab.vars(sitevpn_tunnels=[dict(TUNNEL, mode=mode)])
        run = lab.playbook()
        assert run.rc == 0, run.out[-3000:]
        assert_routed(lab, mode)
        # seen once in a full CI run (stop 27): one of server2's two echoes unanswered right after the run
        # (3 ESP packets on wan2, none in clear), not seen again; a second try within 10 s must then be whole
        encrypted(lab, "server1", SERVER2_V6, "wan1", within=10)
        encrypted(lab, "server2", SERVER1_V6, "wan2", within=10)
        again = lab.playbook()
        assert again.rc == 0 and again.changed == 0, again.out[-3000:]

        # pluto stopped on vpn1: no IPsec policy any more, but the route toward 2001:db8:2::/64 stays - the
        # leak guard (IPv6 rules of the nftables table; route-based: the interface without SA) must keep
        # server1's pings off the wire in clear
        lab.sh("vpn1", "systemctl stop ipsec")
        try:
            leak = lab.leak_check("server1", SERVER2_V6, "wan1", "vpn1")
            assert leak["received"] == 0 and leak["control_icmp"] >= 2, leak
            assert leak["lan_icmp_clear"] == 0, leak["lan_lines"]
        finally:
            lab.sh("vpn1", "systemctl start ipsec")

        # the route (and the interface) and forwarding come back with the gateway, without Ansible
        lab.lab.restart("vpn1")
        started = time.time()
        while time.time() - started < 90:
            if lab.ping_across("server1", SERVER2_V6, segment="wan1", count=1)["received"] == 1:
                break
            time.sleep(2)
        print("%s-based, vpn1 rebooted: IPv6 LANs connected again %.0f s after the guest answered SSH"
              % (mode, time.time() - started))
        assert_routed(lab, mode)
        encrypted(lab, "server1", SERVER2_V6, "wan1", within=10)

        # the same tunnel switched to the other kind in one run
        lab.vars(sitevpn_tunnels=[dict(TUNNEL, mode=other)])
        switch = lab.playbook()
        assert switch.rc == 0, switch.out[-3000:]
        assert_routed(lab, other)
        encrypted(lab, "server1", SERVER2_V6, "wan1", within=10)
        encrypted(lab, "server2", SERVER1_V6, "wan2", within=10)
        again = lab.playbook()
        assert again.rc == 0 and again.changed == 0, again.out[-3000:]
    finally:
        release("v6lan-" + mode)


@pytest.mark.parametrize("topology", ["dual", "dual-mixed"], ids=["libreswan-4.10", "vpn2-on-libreswan-5"])
def test_all_ipv6_and_ipv4_lans_over_an_ipv6_wan(lab_for, topology):
    """Topology `dual`: the WAN carries both families; the gateways are given their IPv6 WAN addresses, so
    both tunnels' IKE and ESP run over IPv6 - one with IPv6 LANs, one with the seed's IPv4 LANs; on
Libreswan 4.10 at both ends, and with vpn2 on 5.x. The
    gateways have an IPv6 default route here: the collection adds no route of its own."""
    lab = lab_for(topology)
    try:
        lab.host_vars("vpn1", sitevpn_public_address="2001:db8:100::10")
        lab.host_vars("vpn2", sitevpn_public_address="2001:db8:200::10")
        tunnels = [
            dict(TUNNEL, name="all6"),
            {"name": "v4over6", "left": "vpn1", "right": "vpn2", "auth": "psk", "left_subnets": "172.16.1.0/24",
             "right_subnets": "10.0.0.0/24", "probe": {"from": "server1", "to": "server2"}}]
        lab.vars(sitevpn_tunnels=tunnels)
        run = lab.playbook()
        assert run.rc == 0, run.out[-3000:]
        assert run.says("tunnel all6: up") and run.says("tunnel v4over6: up"), run.out[-3000:]
        for pair in (("server1", SERVER2_V6), ("server1", "10.0.0.105")):
            evidence = encrypted(lab, pair[0], pair[1], "wan1")
            assert evidence["esp_spis"], evidence
        outer = lab.sh("vpn1", "ip xfrm state | grep ^src").stdout
        assert outer.strip() and all("2001:db8:" in line for line in outer.splitlines()), outer   # ESP over IPv6
        assert lab.sh("vpn1", "test -e /usr/local/sbin/sitevpn-ipsec-routes && echo yes || echo no").stdout.strip() \
            == "no"                                                # the default route carries the remote LANs
        again = lab.playbook()
        assert again.rc == 0 and again.changed == 0, again.out[-3000:]

        # both route-based in one run: one ::/0 and one 0.0.0.0/0 Child SA over the IPv6 WAN, an interface each
        routed = [dict(t, mode="route") for t in tunnels]
        lab.vars(sitevpn_tunnels=routed)
        switch = lab.playbook()
        assert switch.rc == 0, switch.out[-3000:]
        for name, remote in (("all6", "2001:db8:2::/64"), ("v4over6", "10.0.0.0/24")):
            assert routed_into(lab, "vpn1", remote, interface(name)), lab.sh("vpn1", "ip route; ip -6 route").stdout
        for pair in (("server1", SERVER2_V6), ("server1", "10.0.0.105"), ("server2", SERVER1_V6)):
            encrypted(lab, pair[0], pair[1], "wan1" if pair[0] == "server1" else "wan2", within=10)
        again = lab.playbook()
        assert again.rc == 0 and again.changed == 0, again.out[-3000:]
    finally:
        release(topology)
