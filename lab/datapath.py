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


def clear_icmp(lines):
    """The tcpdump lines of ICMP in clear: any ICMPv4, and ICMPv6 echoes (not the neighbour discovery every
    IPv6 link has)."""
    return [line for line in lines if ": ICMP " in line or ": ICMP6, echo" in line]


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
        icmp = clear_icmp(self.lines)
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


def _xfrmi_script(local, remote, remote_net, spi_out, spi_in, key_out, key_in, if_id=0x5f):
    """Route-based: an XFRM interface; states and catch-all policies bound to it by if_id, and a route
    to the remote LAN through it (what route-based tunnels of the collection build on)."""
    aead = "aead 'rfc4106(gcm(aes))'"
    tmpl = "tmpl src {l} dst {r} proto esp reqid 9 mode tunnel if_id {i}"
    back = "tmpl src {r} dst {l} proto esp reqid 9 mode tunnel if_id {i}"
    return "\n".join([
        "set -e",
        "sysctl -qw net.ipv4.ip_forward=1",
        "ip link add ipsec-lab type xfrm if_id {i}",
        "ip link set ipsec-lab up",
        "ip xfrm state add src {l} dst {r} proto esp spi {so} reqid 9 mode tunnel if_id {i} {a} {ko} 128",
        "ip xfrm state add src {r} dst {l} proto esp spi {si} reqid 9 mode tunnel if_id {i} {a} {ki} 128",
        "ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 dir out if_id {i} " + tmpl,
        "ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 dir in if_id {i} " + back,
        "ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 dir fwd if_id {i} " + back,
        "ip route add {rn} dev ipsec-lab",
    ]).format(l=local, r=remote, rn=remote_net, so=spi_out, si=spi_in, ko=key_out, ki=key_in, a=aead, i=if_id)


CLEANUP = ("ip xfrm policy flush; ip xfrm state flush; ip link del ipsec-lab 2>/dev/null; "
           "sysctl -qw net.ipv4.ip_forward=0")

# What the lab's kernel must give a guest (lab/kernel/lab.config), asked of the guest itself.
KERNEL_CHECKS = (
    ("release", "uname -r"),
    ("nftables inet", "nft add table inet lab_probe && nft add chain inet lab_probe f "
                      "'{ type filter hook forward priority filter; }' && "
                      "nft add rule inet lab_probe f meta ipsec exists accept && "
                      "nft add rule inet lab_probe f rt ipsec exists accept && nft delete table inet lab_probe"),
    ("nftables nat", "nft add table ip lab_probe && nft add chain ip lab_probe p "
                     "'{ type nat hook postrouting priority srcnat; }' && nft add rule ip lab_probe p masquerade && "
                     "nft delete table ip lab_probe"),
    ("iptables-legacy", "iptables-legacy -w -t nat -S POSTROUTING >/dev/null && iptables-legacy -w -N LABPROBE && "
                        "iptables-legacy -w -A LABPROBE -m policy --dir in --pol ipsec -j ACCEPT && "
                        "iptables-legacy -w -F LABPROBE && iptables-legacy -w -X LABPROBE"),
    ("xfrm interface", "ip link add ipsec-probe type xfrm if_id 77 && ip link del ipsec-probe"),
    ("vti", "ip link add vti-probe type vti local 192.0.2.1 remote 192.0.2.2 key 77 && ip link del vti-probe"),
    ("vti6", "ip link add vti6-probe type vti6 local 2001:db8::1 remote 2001:db8::2 key 77 && "
             "ip link del vti6-probe"),
)


def kernel_checks(lab, guest="vpn1"):
    """{check: output (release) or True/False} for KERNEL_CHECKS on *guest*."""
    lines = []
    for name, cmd in KERNEL_CHECKS:
        lines.append("if out=$(" + cmd + " 2>&1); then printf '" + name + "=ok %s\\n' \"$(printf '%s' \"$out\" | head -n1)\"; "
                     "else printf '" + name + "=FAILED %s\\n' \"$(printf '%s' \"$out\" | tr '\\n' ' ')\"; fi")
    script = "\n".join(lines)
    found = {}
    for line in lab.run(guest, script, check=False).stdout.splitlines():
        name, _sep, rest = line.partition("=")
        if name in dict(KERNEL_CHECKS):
            status, _sep, detail = rest.partition(" ")
            found[name] = detail.strip() if name == "release" and status == "ok" else (status == "ok" or detail)
    return found


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
    target = server2.nics[0].address.split("/")[0]
    kernel = kernel_checks(lab, "vpn1")
    # policy-based (what Libreswan does by default), then route-based through an XFRM interface
    setups = (("policy", ("0x51f70001", "0x51f70002"),
               lambda so, si, ko, ki: (_xfrm_script(wan1, wan2, net1, net2, so, si, ko, ki),
                                       _xfrm_script(wan2, wan1, net2, net1, si, so, ki, ko))),
              ("xfrm interface", ("0x51f70003", "0x51f70004"),
               lambda so, si, ko, ki: (_xfrmi_script(wan1, wan2, net2, so, si, ko, ki),
                                       _xfrmi_script(wan2, wan1, net1, si, so, ki, ko))))
    runs = {}
    for name, (spi_out, spi_in), scripts in setups:
        try:
            one, two = scripts(spi_out, spi_in, key_a, key_b)
            lab.run("vpn1", one)
            lab.run("vpn2", two)
            with Capture(lab, "wan1") as wire:
                result = ping(lab, "server1", target, count=3)
            counters = lab.run("vpn1", "ip -s xfrm state list spi %s" % spi_out, check=False).stdout
        finally:
            for gw in ("vpn1", "vpn2"):
                lab.run(gw, CLEANUP, check=False)
        run = dict(wire.summary, ping_received=result["received"], ping_sent=result["sent"])
        packets_out = re.search(r"lifetime current:\s*\n\s*\d+\(bytes\), (\d+)\(packets\)", counters)
        run["xfrm_packets_out"] = int(packets_out.group(1)) if packets_out else None
        run["ok"] = (result["received"] == result["sent"] and run["esp"] >= 2 * result["sent"]
                     and run["icmp_clear"] == 0 and set(run["esp_spis"]) == {spi_out, spi_in})
        runs[name] = run
        out.write("lab selftest (%s): ping server1 -> server2 %d/%d, on wan1: %d ESP packets (SPIs %s), %d ICMP in "
                  "clear, xfrm packets out %s -> %s\n" % (name, result["received"], result["sent"], run["esp"],
                                                          ",".join(run["esp_spis"]), run["icmp_clear"],
                                                          run["xfrm_packets_out"], "PASS" if run["ok"] else "FAIL"))
    failed = [name for name, value in kernel.items() if value is not True and name != "release"]
    out.write("lab selftest (kernel %s): %s\n" % (kernel.get("release"), "; ".join(
        "%s %s" % (name, "ok" if kernel[name] is True else "FAILED: %s" % kernel[name])
        for name, _cmd in KERNEL_CHECKS if name != "release" and name in kernel)))
    evidence = dict(runs["policy"], route_based=runs["xfrm interface"], kernel=kernel)
    evidence["ok"] = all(r["ok"] for r in runs.values()) and not failed and bool(kernel.get("release"))
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
