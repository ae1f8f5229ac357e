"""Proof of encrypted traffic in the lab, without the collection.

``capture`` watches a wire of the lab (a bridge in the lab's namespace) while
something runs, and sorts what crossed it. ``selftest`` proves the guests'
IPsec datapath with hand-made XFRM states and policies (static AES-GCM keys,
no IKE, no Libreswan), so that a later failure of the collection is known to be
the collection's and not the lab's.
"""

import os
import re
import signal
import subprocess
import sys
import time


class Capture:
    """tcpdump on a lab bridge; use as a context manager, then read ``summary``."""

    def __init__(self, lab, segment, bpf=""):
        self.lab, self.segment, self.bpf = lab, segment, bpf
        self.lines = []

    def __enter__(self):
        cmd = ["ip", "netns", "exec", self.lab.netns, "tcpdump", "-n", "-l", "-i", "br-" + self.segment]
        if self.bpf:
            cmd += self.bpf.split()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     universal_newlines=True, start_new_session=True)
        # tcpdump says "listening on ..." on stderr once the capture runs
        deadline = time.time() + 10
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if "listening on" in line or not line:
                break
        return self

    def __exit__(self, *exc):
        time.sleep(0.3)
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=10)
        self.lines = out.splitlines()
        return False

    @property
    def summary(self):
        esp = [l for l in self.lines if " ESP(" in l]
        icmp = [l for l in self.lines if ": ICMP " in l]
        ike = [l for l in self.lines if re.search(r"\.(500|4500) > .*\.(500|4500): ", l)]
        spis = sorted(set(re.findall(r"ESP\(spi=(0x[0-9a-f]+)", "\n".join(self.lines))))
        return {"segment": self.segment, "packets": len(self.lines), "esp": len(esp), "icmp_clear": len(icmp),
                "ike": len(ike), "esp_spis": spis, "icmp_lines": icmp[:5]}


def ping(lab, source_guest, target, count=3):
    result = lab.run(source_guest, "ping -c %d -W 2 -i 0.3 %s" % (count, target), check=False, timeout=30)
    received = re.search(r"(\d+) received", result.stdout or "")
    return {"from": source_guest, "to": target, "sent": count,
            "received": int(received.group(1)) if received else 0, "output": result.stdout}


def _xfrm_script(local, remote, local_net, remote_net, spi_out, spi_in, key_out, key_in):
    aead = "aead 'rfc4106(gcm(aes))'"
    return "\n".join([
        "set -e",
        "sysctl -qw net.ipv4.ip_forward=1",
        "ip xfrm state add src {l} dst {r} proto esp spi {so} reqid 7 mode tunnel {a} {ko} 128",
        "ip xfrm state add src {r} dst {l} proto esp spi {si} reqid 7 mode tunnel {a} {ki} 128",
        "ip xfrm policy add src {ln} dst {rn} dir out tmpl src {l} dst {r} proto esp reqid 7 mode tunnel",
        "ip xfrm policy add src {rn} dst {ln} dir in tmpl src {r} dst {l} proto esp reqid 7 mode tunnel",
        "ip xfrm policy add src {rn} dst {ln} dir fwd tmpl src {r} dst {l} proto esp reqid 7 mode tunnel",
    ]).format(l=local, r=remote, ln=local_net, rn=remote_net, so=spi_out, si=spi_in, ko=key_out, ki=key_in, a=aead)


CLEANUP = "ip xfrm policy flush; ip xfrm state flush; sysctl -qw net.ipv4.ip_forward=0"


def selftest(lab, out=sys.stderr):
    """server1 -> server2 through hand-made ESP between vpn1 and vpn2; returns the evidence."""
    inv = lab.topology()
    vpn1, vpn2 = inv.guest("vpn1"), inv.guest("vpn2")
    server2 = inv.guest("server2")
    key_a, key_b = ("0x" + os.urandom(20).hex() for _ in range(2))
    lan1, lan2 = vpn1.nics[1].address, vpn2.nics[1].address
    import ipaddress
    net1, net2 = (str(ipaddress.ip_interface(a).network) for a in (lan1, lan2))
    wan1, wan2 = vpn1.nics[0].address.split("/")[0], vpn2.nics[0].address.split("/")[0]
    try:
        lab.run("vpn1", _xfrm_script(wan1, wan2, net1, net2, "0x51f70001", "0x51f70002", key_a, key_b))
        lab.run("vpn2", _xfrm_script(wan2, wan1, net2, net1, "0x51f70002", "0x51f70001", key_b, key_a))
        with Capture(lab, "wan1") as wire:
            result = ping(lab, "server1", server2.nics[0].address.split("/")[0], count=3)
        counters = lab.run("vpn1", "ip -s xfrm state list spi 0x51f70001", check=False).stdout
    finally:
        for gw in ("vpn1", "vpn2"):
            lab.run(gw, CLEANUP, check=False)
    evidence = dict(wire.summary, ping_received=result["received"], ping_sent=result["sent"])
    packets_out = re.search(r"lifetime current:\s*\n\s*\d+\(bytes\), (\d+)\(packets\)", counters)
    evidence["xfrm_packets_out"] = int(packets_out.group(1)) if packets_out else None
    ok = (result["received"] == result["sent"] and evidence["esp"] >= 2 * result["sent"]
          and evidence["icmp_clear"] == 0 and set(evidence["esp_spis"]) == {"0x51f70001", "0x51f70002"})
    evidence["ok"] = ok
    out.write("lab selftest: ping server1 -> server2 %d/%d, on wan1: %d ESP packets (SPIs %s), %d ICMP in clear,"
              " xfrm packets out %s -> %s\n" % (result["received"], result["sent"], evidence["esp"],
                                                ",".join(evidence["esp_spis"]), evidence["icmp_clear"],
                                                evidence["xfrm_packets_out"], "PASS" if ok else "FAIL"))
    return evidence
