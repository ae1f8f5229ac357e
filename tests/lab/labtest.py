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

    def __repr__(self):
        return "<Run rc=%s changed=%s %.1fs>" % (self.rc, self.changed, self.seconds)


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
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
                   ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
        env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".venv", "collections"))
        env.update(kwargs.pop("env", {}))
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

    def spis(self, guest="vpn1"):
        """The SPIs of the guest's installed ESP states (kernel view)."""
        out = self.sh(guest, "ip xfrm state").stdout
        return sorted(set(re.findall(r"proto esp spi (0x[0-9a-f]+)", out)))

    def traffic(self, guest):
        return self.sh(guest, "ipsec trafficstatus", check=False).stdout

    def ping_across(self, src="server1", dst="10.0.0.105", segment="wan1", count=3):
        """Ping while watching a WAN wire: what crossed it, and was it encrypted?"""
        with datapath.Capture(self.lab, segment) as wire:
            result = datapath.ping(self.lab, src, dst, count=count)
        evidence = dict(wire.summary, received=result["received"], sent=result["sent"])
        sys.stdout.write("ping %s -> %s: %s\n" % (src, dst, json.dumps(evidence)))
        return evidence




# labs shared within a test session, by name (see conftest.lab_for)
SESSIONS = {}


def release(key):
    """Tear a shared lab down early (to free memory and CPU for the next one)."""
    session = SESSIONS.pop(key, None)
    if session:
        session.down()
