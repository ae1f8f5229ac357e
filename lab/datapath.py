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
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
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


def proof(lab, source="server1", target=None, wire="wan1", gateways=("vpn1", "vpn2"), out=sys.stdout):
    """The demo's proof: child SAs, a ping across while watching the WAN, ESP counters rising."""
    topo = lab.topology()
    target = target or topo.guest("server2").nics[0].address.split("/")[0]
    before = {gw: lab.run(gw, "ipsec trafficstatus", check=False).stdout for gw in gateways}
    with Capture(lab, wire) as capture:
        result = ping(lab, source, target, count=4)
    after = {gw: lab.run(gw, "ipsec trafficstatus", check=False).stdout for gw in gateways}
    evidence = dict(capture.summary, ping_sent=result["sent"], ping_received=result["received"])

    def total(text):
        return sum(int(a) + int(b) for a, b in re.findall(r"inBytes=(\d+), outBytes=(\d+)", text))

    rows = []
    for gw in gateways:
        sas = [line.split(":", 1)[-1].strip() for line in after[gw].splitlines() if "type=ESP" in line]
        rows.append((gw, sas, total(before[gw]), total(after[gw])))
    evidence["counters"] = {gw: {"before": b, "after": a} for gw, _s, b, a in rows}
    evidence["ok"] = (result["received"] == result["sent"] and evidence["esp"] > 0 and evidence["icmp_clear"] == 0
                      and all(a > b for _g, _s, b, a in rows) and all(s for _g, s, _b, _a in rows))
    out.write("\n== Proof that the tunnel carries traffic, encrypted ==\n")
    for gw, sas, was, now in rows:
        out.write("  %s child SAs (ipsec trafficstatus):\n" % gw)
        for sa in sas or ["NONE"]:
            out.write("      %s\n" % sa)
        out.write("    ESP bytes in+out: %d -> %d while pinging\n" % (was, now))
    out.write("  ping %s -> %s: %d/%d answered\n" % (source, target, result["received"], result["sent"]))
    out.write("  on the internet wire %s (seen from the router's side): %d ESP packets (SPIs %s), %d ICMP in clear\n"
              % (wire, evidence["esp"], ", ".join(evidence["esp_spis"]) or "-", evidence["icmp_clear"]))
    for line in [l for l in capture.lines if " ESP(" in l][:4]:
        out.write("      %s\n" % line)
    out.write("  verdict: %s\n" % ("ENCRYPTED TUNNEL PROVEN" if evidence["ok"] else "NOT PROVEN"))
    return evidence
