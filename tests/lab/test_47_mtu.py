"""MTU and TCP MSS: "small packets work, big ones hang", and how the tunnel's `mtu` mends it.

ESP makes every packet bigger. A LAN host sends full 1500-byte TCP segments; the gateway must fit them
into its WAN after ESP and tells the host so with ICMP "fragmentation needed" - or, when the path
between the sites is narrower than the gateways' own links, the router on the way does. Where that ICMP
is lost (a filter that drops it: an "ICMP black hole"), pings and small requests work and every bulk
transfer stalls. The firewall role lowers the MSS of the forwarded TCP SYNs to what fits the tunnel
(computed from the WAN interface and the ESP proposals, or the tunnel's `mtu`), so no segment is ever
too big and no ICMP is needed.

On the seed's lab: the router's link toward vpn2 gets an MTU of 1400 and the router drops its own
ICMP "destination unreachable". With the computed default (1500-byte WAN, AES-GCM: tunnel MTU 1438,
MSS 1398) the transfer stalls - the gateway cannot know the narrower path; with `mtu: 1300` (MSS 1260)
the same transfer completes, and the change touched the filter rules only, not the SAs. The same for a
route-based tunnel (`mode: route`), whose interface takes the tunnel's MTU. `diagnose.yml` names the
narrowed path an "MTU black hole" (its pings as big as the tunnel's MTU, with DF, are lost while small
ones cross) and finds it mended with `mtu: 1300`.
"""

import json
import os
import re
import time

import pytest

from labtest import SERVER2, encrypted
from lab import datapath  # noqa: E402  (labtest puts the repository on sys.path)

PORT = 5001
SIZE = 10 * 1024 * 1024
TUNNEL = {"name": "net-to-net", "left": "vpn1", "right": "vpn2", "auth": "psk",
          "left_subnets": "172.16.1.0/24", "right_subnets": "10.0.0.0/24",
          "probe": {"from": "server1", "to": SERVER2}}

# server2 counts what arrives until the sender closes or nothing came for 10 s
RECEIVER = r"""
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", %d))
s.listen(1)
s.settimeout(60)
c, _ = s.accept()
c.settimeout(10)
total = 0
try:
    while True:
        data = c.recv(65536)
        if not data:
            break
        total += len(data)
except socket.timeout:
    pass
print(total, flush=True)
""" % PORT

SENDER = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], %d), timeout=10)
c.settimeout(15)
try:
    c.sendall(b"x" * %d)
    c.shutdown(socket.SHUT_WR)
    c.recv(1)
    print("sent")
except OSError as exc:
    print("stalled", exc)
""" % (PORT, SIZE)


def transfer(lab):
    """(bytes server2 received of SIZE sent by server1, seconds, MSS of server1's SYN on each LAN)."""
    lab.sh("server2", "cat > /tmp/receiver.py <<'EOF'\n%sEOF\n"
                      "rm -f /tmp/received; nohup python3 /tmp/receiver.py > /tmp/received 2>&1 < /dev/null &" % RECEIVER)
    lab.sh("server1", "cat > /tmp/sender.py <<'EOF'\n%sEOF" % SENDER)
    deadline = time.time() + 10
    while PORT not in [int(p) for p in re.findall(r":(\d+)\s", lab.sh("server2", "ss -ltnH").stdout)]:
        assert time.time() < deadline, "the receiver on server2 does not listen"
        time.sleep(0.3)
    started = time.time()
    with datapath.Capture(lab.lab, "lan1", "tcp port %d" % PORT) as lan1, \
            datapath.Capture(lab.lab, "lan2", "tcp port %d" % PORT) as lan2:
        lab.sh("server1", "python3 /tmp/sender.py %s" % SERVER2, check=False, timeout=60)
        while time.time() - started < 40 and not lab.sh("server2", "cat /tmp/received").stdout.strip():
            time.sleep(0.5)
    seconds = time.time() - started
    received = int(lab.sh("server2", "cat /tmp/received").stdout.split()[0])
    syn = dict((name, [int(m) for m in re.findall(r"Flags \[S\].*?\bmss (\d+)", "\n".join(capture.lines))])
               for name, capture in (("lan1", lan1), ("lan2", lan2)))
    print("transfer of %d bytes: %d arrived in %.1f s; SYN MSS on lan1 %s, on lan2 %s"
          % (SIZE, received, seconds, syn["lan1"], syn["lan2"]))
    return received, seconds, syn


def diagnosis(lab, report_dir):
    """(verdict, cause) of the tunnel as playbooks/diagnose.yml reports it."""
    run = lab.playbook("diagnose.yml", "-e", "sitevpn_report_dir=%s" % report_dir)
    assert run.rc == 0, run.out[-3000:]
    with open(os.path.join(str(report_dir), "report.json")) as handle:
        tunnel = json.load(handle)["tunnels"][0]
    print("diagnose: %s - %s; path MTU check: %s" % (tunnel["verdict"], tunnel["cause"], [
        c["summary"] for c in tunnel["checks"] if c["check"] == "path MTU"]))
    return tunnel["verdict"], tunnel["cause"]


def narrow_path(lab, on=True):
    """The router's link toward vpn2 carries 1400 bytes, and the router's ICMP errors are dropped."""
    if on:
        lab.sh("router", "ip link set eth1 mtu 1400; nft add table ip lab_blackhole; "
                         "nft add chain ip lab_blackhole out '{ type filter hook output priority 0; policy accept; }'; "
                         "nft add rule ip lab_blackhole out icmp type destination-unreachable drop")
    else:
        lab.sh("router", "ip link set eth1 mtu 1500; nft delete table ip lab_blackhole 2>/dev/null; true")


@pytest.mark.parametrize("mode", ["policy", "route"])
def test_forwarded_syns_get_an_mss_that_fits_the_tunnel_and_a_narrower_path_needs_the_tunnels_mtu(lab_for, mode, tmp_path):
    """Both kinds of tunnel; a route-based one's interface gets the same MTU as the MSS is clamped to."""
    lab = lab_for("seed")
    tunnel = dict(TUNNEL, mode=mode)
    lab.vars(sitevpn_tunnels=[tunnel])
    run = lab.playbook()
    assert run.rc == 0, run.out[-3000:]
    # the default: 1500-byte WAN, AES-GCM -> tunnel MTU 1438, MSS 1398, on both gateways
    for gw in ("vpn1", "vpn2"):
        rules = lab.sh(gw, "nft list table inet sitevpn_ipsec").stdout
        assert "maxseg size set 1398" in rules, rules
    received, seconds, syn = transfer(lab)
    assert received == SIZE
    assert syn["lan1"] and syn["lan1"][0] == 1460      # as server1 sent it
    assert syn["lan2"] and syn["lan2"][0] == 1398      # as it left vpn2 toward server2: clamped by vpn1
    narrow_path(lab)
    try:
        encrypted(lab, "server1", SERVER2, "wan1")      # pings still cross: small packets work ...
        received, seconds, syn = transfer(lab)
        assert received < SIZE, "a 1438-byte tunnel MTU over a 1400-byte path should black-hole big segments"
        stalled = received
        # diagnose names it: small pings answered, pings as big as the tunnel's MTU with DF lost, no ICMP back
        assert diagnosis(lab, tmp_path / "narrowed") == ("DEGRADED", "MTU black hole (server1)")

        spis = (lab.spis("vpn1"), lab.spis("vpn2"))
        lab.vars(sitevpn_tunnels=[dict(tunnel, mtu=1300)])
        run = lab.playbook()
        assert run.rc == 0, run.out[-3000:]
        assert (lab.spis("vpn1"), lab.spis("vpn2")) == spis       # rules only: the SAs stayed
        assert "maxseg size set 1260" in lab.sh("vpn1", "nft list table inet sitevpn_ipsec").stdout
        if mode == "route":
            assert " mtu 1300 " in lab.sh("vpn1", "ip -o link show type xfrm").stdout
        received, seconds, syn = transfer(lab)
        assert received == SIZE, "with mtu: 1300 every segment fits the 1400-byte path after ESP"
        assert syn["lan2"][0] == 1260
        assert diagnosis(lab, tmp_path / "mended")[0] == "OK"      # 1300-byte pings with DF cross the path
        print("%s-based, ICMP black hole at 1400 bytes: %d of %d bytes with the computed MTU 1438, all of them in "
              "%.1f s with mtu: 1300" % (mode, stalled, SIZE, seconds))
        again = lab.playbook()
        assert again.rc == 0 and again.changed == 0, again.out[-3000:]
    finally:
        narrow_path(lab, on=False)
        if mode == "route":
            lab.vars(sitevpn_tunnels=[TUNNEL])      # the next tests on this lab expect the seed's tunnel
            assert lab.playbook().rc == 0
