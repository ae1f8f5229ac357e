"""Helpers of the lab tests: a lab session, ansible-playbook runs, evidence of encryption."""

import json
import os
import re
import subprocess
import sys
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from lab import datapath  # noqa: E402
from lab.lab import Lab  # noqa: E402

VARS = os.path.join(REPO, "tests", "lab", "vars")
PLAYBOOKS = os.path.join(REPO, "playbooks")


def flat(text):
    """*text* with every run of white space one space: the YAML callback wraps long lines anywhere."""
    return " ".join(text.split())


def ansible_env(**extra):
    """The environment the lab tests run Ansible in: this checkout's ansible.cfg and collection, no colour."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1")
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".venv", "collections"))
    env.update(extra)
    return env


class Run(object):
    """One ansible-playbook run: exit code, output, and the recap per host."""

    def __init__(self, argv, proc, seconds):
        self.argv, self.rc, self.out, self.seconds = argv, proc.returncode, proc.stdout, seconds
        self.recap = {}
        for host, fields in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", self.out, re.M):
            self.recap[host] = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", fields))

    @property
    def changed(self):
        return sum(r.get("changed", 0) for r in self.recap.values())

    @property
    def failed(self):
        return sum(r.get("failed", 0) + r.get("unreachable", 0) for r in self.recap.values())

    def task(self, name):
        """What each host did in the first task whose header holds *name*: {host: ok|changed|skipping|failed}."""
        parts = re.split(r"^TASK \[(.*)\] \*+$", self.out, flags=re.M)
        for header, body in zip(parts[1::2], parts[2::2]):
            if name in header:
                return dict((host, "failed" if status == "fatal" else status) for status, host in
                            re.findall(r"^(ok|changed|skipping|failed|fatal): \[([^\]]+)\]", body, re.M))
        return {}

    def says(self, text):
        """*text* is in the output, however the YAML callback wrapped its long lines."""
        return flat(text) in flat(self.out)

    def __repr__(self):
        return "<Run rc=%s changed=%s %.1fs>" % (self.rc, self.changed, self.seconds)


def nft_host_rule(table, kind, hook, priority, rule):
    """Shell: a table of the host's own (not the role's) with one base chain named after its hook,
    holding *rule*; ``nft delete table <table>`` undoes it."""
    return ("nft add table {t} && nft add chain {t} {h} '{{ type {k} hook {h} priority {p}; }}' && "
            "nft add rule {t} {h} {r}").format(t=table, k=kind, h=hook, p=priority, r=rule)


class LabSession(object):
    """A running lab plus the ways the tests use it."""

    def __init__(self, name, topology):
        self.lab = Lab(name)
        self.topology = topology

    def up(self):
        if self.lab.exists():
            self.lab.down(quiet=True)
        self.lab.up(self.topology)
        return self

    def down(self):
        self.lab.down(quiet=True)
        left = self.lab.leftovers()
        assert left == [], "lab tear-down left: %s" % left

    def vars(self, *names, **inline):
        """Scenario files (from tests/lab/vars) as group_vars/all; keyword args as one more file."""
        files = [n if os.path.isabs(n) else os.path.join(VARS, n) for n in names]
        if inline:
            path = os.path.join(self.lab.dir, "inline-vars.yml")
            with open(path, "w") as handle:
                yaml.safe_dump(inline, handle)
            files.append(path)
        self.lab.set_vars(files)

    def host_vars(self, host, **values):
        directory = os.path.join(self.lab.inventory, "host_vars")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, host + ".yml"), "w") as handle:
            yaml.safe_dump(values, handle)

    def playbook(self, playbook="site-to-site.yml", *args, **kwargs):
        env = ansible_env(**kwargs.pop("env", {}))
        path = playbook if os.path.isabs(playbook) else os.path.join(PLAYBOOKS, playbook)
        argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", self.lab.inventory, path]
        argv += list(args)
        started = time.time()
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              stdin=subprocess.DEVNULL, env=env, cwd=REPO, timeout=kwargs.pop("timeout", 900))
        run = Run(argv, proc, time.time() - started)
        sys.stdout.write("\n$ %s\n%s\n[%s]\n" % (" ".join(argv), run.out[-6000:], run))
        return run

    def sh(self, guest, command, check=True, timeout=120):
        return self.lab.run(guest, command, check=check, timeout=timeout)

    # -- the packet filter, whichever backend the firewall role chose on a gateway -------------------

    def firewall(self, guest):
        """(backend, iptables command or None) the firewall role chose on *guest*, from its rules script."""
        text = self.sh(guest, "cat /usr/local/sbin/sitevpn-ipsec-firewall").stdout
        backend = re.search(r"\(backend: (\w+)\)", text).group(1)
        ipt = re.search(r"^IPT=(\S+)$", text, re.M)
        return backend, ipt.group(1) if ipt else None

    def ruleset(self, guest):
        """Every filter rule of *guest* in every backend (iptables-legacy, nf_tables), counters left out."""
        return self.sh(guest, "iptables-legacy-save 2>/dev/null | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]//'; "
                              "nft list ruleset").stdout

    def masquerade_wan(self, guest, on=True):
        """The seed's situation: the gateway masquerades all it sends out of its WAN (eth0); in the
        backend the role chose, as the host's own rule (not in our table or chains)."""
        backend, ipt = self.firewall(guest)
        if backend == "nftables":
            command = nft_host_rule("ip lab_nat", "nat", "postrouting", "srcnat", "oifname eth0 masquerade") \
                if on else "nft delete table ip lab_nat"
        else:
            command = "%s -t nat %s POSTROUTING -o eth0 -j MASQUERADE" % (ipt, "-A" if on else "-D")
        return self.sh(guest, command)

    def drop_nat_exemption(self, guest):
        """Remove the firewall role's NAT exemption behind its back."""
        backend, ipt = self.firewall(guest)
        if backend == "nftables":
            return self.sh(guest, "nft flush chain inet sitevpn_ipsec postrouting")
        return self.sh(guest, "%s -t nat -D POSTROUTING -j SITEVPN-POSTROUTING" % ipt)

    def block_udp500(self, guest, on=True):
        """A host rule that drops IKE (UDP 500), ahead of everything."""
        backend, ipt = self.firewall(guest)
        if backend == "nftables":
            command = nft_host_rule("inet lab_filter", "filter", "input", "filter - 20", "udp dport 500 drop") \
                if on else "nft delete table inet lab_filter 2>/dev/null; true"
        elif on:
            command = "%s -I INPUT -p udp --dport 500 -j DROP" % ipt
        else:
            command = "while %s -D INPUT -p udp --dport 500 -j DROP 2>/dev/null; do :; done" % ipt
        return self.sh(guest, command)

    def spis(self, guest="vpn1"):
        """The SPIs of the guest's installed ESP states (kernel view)."""
        out = self.sh(guest, "ip xfrm state").stdout
        return sorted(set(re.findall(r"proto esp spi (0x[0-9a-f]+)", out)))

    def traffic(self, guest):
        return self.sh(guest, "ipsec trafficstatus", check=False).stdout

    def leak_check(self, src, dst, segment, gateway, count=2):
        """Ping src -> dst while watching *segment*, and in the same capture window let *gateway* ping
        the router across that wire in clear: a capture that sees the gateway's own ICMP and none
        between the LANs proves nothing leaked (a capture that saw nothing would prove nothing)."""
        topo = self.lab.topology()
        router = topo.guest("router").address_on(segment).split("/")[0]
        own = topo.guest(gateway).address_on(segment).split("/")[0]
        with datapath.Capture(self.lab, segment) as wire:
            result = datapath.ping(self.lab, src, dst, count=count)
            self.sh(gateway, "ping -c 2 -W 2 -i 0.3 %s" % router, check=False)
        icmp = datapath.clear_icmp(wire.lines)
        lan = [line for line in icmp if " %s > " % own not in line and " %s > " % router not in line]
        evidence = {"received": result["received"], "sent": result["sent"], "lan_icmp_clear": len(lan),
                    "control_icmp": len(icmp) - len(lan), "lan_lines": lan[:5]}
        sys.stdout.write("leak check %s -> %s on %s: %s\n" % (src, dst, segment, json.dumps(evidence)))
        return evidence

    def ping_across(self, src="server1", dst="10.0.0.105", segment="wan1", count=3):
        """Ping while watching a WAN wire: what crossed it, and was it encrypted?"""
        with datapath.Capture(self.lab, segment) as wire:
            result = datapath.ping(self.lab, src, dst, count=count)
        evidence = dict(wire.summary, received=result["received"], sent=result["sent"])
        sys.stdout.write("ping %s -> %s: %s\n" % (src, dst, json.dumps(evidence)))
        return evidence




SERVER1, SERVER2 = "172.16.1.100", "10.0.0.105"     # the seed's hosts behind vpn1 and vpn2


def pinging(session, seconds, src="server1", dst="10.0.0.105"):
    """A steady ping *src* -> *dst* every 0.1 s for *seconds*, in the background (see lost_pings)."""
    count = int(seconds / 0.1)
    return subprocess.Popen(["ssh", "-F", session.lab.ssh_config, src, "ping -n -i 0.1 -W 1 -c %d %s | tail -3"
                             % (count, dst)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, universal_newlines=True)


def lost_pings(proc):
    """How many of a pinging() run's echoes went unanswered (each one is 0.1 s of traffic gap)."""
    out = proc.communicate(timeout=600)[0]
    sent, received = re.search(r"(\d+) packets transmitted, (\d+) received", out).groups()
    return int(sent) - int(received)


def encrypted(session, src, dst, wire, count=2, within=0):
    """Every echo answered, ESP on the wire, no ICMP in clear. `within` seconds are given to a tunnel that
    has just been negotiated again (a rollback replaces the conn): its first echo may be lost."""
    deadline = time.time() + within
    evidence = session.ping_across(src, dst, segment=wire, count=count)
    while time.time() < deadline and not (evidence["received"] == evidence["sent"] and evidence["icmp_clear"] == 0):
        time.sleep(3)
        evidence = session.ping_across(src, dst, segment=wire, count=count)
    assert evidence["received"] == evidence["sent"], evidence
    assert evidence["esp"] >= 2 * evidence["sent"], evidence
    assert evidence["icmp_clear"] == 0, evidence
    return evidence


def assert_encrypted_both_ways(session, within=10):
    """server1 -> server2 watched on wan1, server2 -> server1 on wan2: every ping answered, two ESP
    packets or more per ping on the wire, no ICMP in clear. Right after a negotiation one echo of the
    first round was seen lost now and then (stops 26-28: test_20, 45, 48 - every packet on the wire
    encrypted, the answer counted missing), so a round that is not whole is tried again for `within` s."""
    encrypted(session, "server1", SERVER2, "wan1", count=3, within=within)
    encrypted(session, "server2", SERVER1, "wan2", count=3, within=within)


# labs shared within a test session, by name (see conftest.lab_for)
SESSIONS = {}


def release(key):
    """Tear a shared lab down early (to free memory and CPU for the next one)."""
    session = SESSIONS.pop(key, None)
    if session:
        session.down()


def collection_ca():
    """The collection's CA helpers (plugin_utils/_ca.py), from the collection the lab tests run."""
    sys.path.insert(0, os.environ.get("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".venv", "collections")).split(":")[0])
    from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _ca
    return _ca
