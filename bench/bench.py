"""make bench: the numbers users care about, measured in one run on the lab, as ratios.

Every figure is the median of SITEVPN_BENCH_REPS (default 3) repetitions, with min and max.
"Bare gateways" means Libreswan installed by hand and nothing configured: the lab keeps a
snapshot of both gateways' disks in that state and puts it back before each first run.

Writes bench/results/latest.json and prints a Markdown table (the README shows the latest).
"""

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
sys.path.insert(0, REPO)

from labtest import LabSession  # noqa: E402

REPS = int(os.environ.get("SITEVPN_BENCH_REPS", "3"))
GATEWAYS = ["vpn1", "vpn2"]
RESULTS = os.path.join(REPO, "bench", "results")
# per-task seconds of every run, so the report can say where the time of T_first goes
PROFILE = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}


def tunnels(count, auth="rsasig"):
    """``count`` tunnels between vpn1 and vpn2: the seed's LANs, then extra subnet pairs."""
    result = [{"name": "net-to-net", "left": "vpn1", "right": "vpn2", "auth": auth,
               "left_subnets": "172.16.1.0/24", "right_subnets": "10.0.0.0/24",
               "probe": {"from": "server1", "to": "server2"}}]
    for i in range(1, count):
        result.append({"name": "pair-%02d" % i, "left": "vpn1", "right": "vpn2", "auth": auth,
                       "left_subnets": "172.17.%d.0/24" % i, "right_subnets": "10.1.%d.0/24" % i})
    return result


def figure(values):
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "runs": [round(v, 2) for v in values]}


class Bench(object):
    def __init__(self):
        self.lab = LabSession("bench", "seed")
        self.results = {}
        self.profiles = {}   # tunnel count -> per-task seconds of the last first run with that many

    def log(self, text):
        sys.stderr.write("bench: %s\n" % text)
        sys.stderr.flush()

    def run(self, count, expect_changed=True, **extra):
        self.lab.vars(sitevpn_tunnels=tunnels(count), **extra)
        run = self.lab.playbook(env=PROFILE)
        if run.rc != 0 or (expect_changed and run.changed == 0) or (not expect_changed and run.changed != 0):
            raise SystemExit("bench: unexpected run (rc=%s changed=%s):\n%s" % (run.rc, run.changed, run.out[-3000:]))
        self.profile = [(name.strip(), float(sec)) for name, sec in
                        re.findall(r"^(\S.*?) -{3,} ([\d.]+)s$", run.out, re.M)]
        return run.seconds

    def overheads(self):
        """What every task pays in the lab: an SSH round trip, and Python starting in the guest."""
        ssh, python = [], []
        for _rep in range(REPS):
            started = time.time()
            self.lab.sh("vpn1", "true")
            ssh.append(time.time() - started)
            out = self.lab.sh("vpn1", "s=$(date +%s%N); python3 -c 'import json, subprocess'; e=$(date +%s%N); "
                                      "echo $(( (e - s) / 1000000 ))").stdout.strip()
            python.append(int(out) / 1000.0)
        return ssh, python

    def bare(self):
        started = time.time()
        self.lab.lab.restore("bare", GATEWAYS)
        self.log("gateways back to bare in %.0f s" % (time.time() - started))

    def setup(self):
        self.lab.up()
        for gw in GATEWAYS:
            self.lab.sh(gw, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q libreswan >/dev/null", timeout=600)
        self.lab.lab.snapshot("bare", GATEWAYS)

    def first_runs(self, count):
        values = []
        for rep in range(REPS):
            self.bare()
            values.append(self.run(count))
            self.log("T_first(%d tunnels) run %d: %.1f s" % (count, rep + 1, values[-1]))
        self.profiles[count] = self.profile
        return values

    def sas(self):
        found = {}
        for line in self.lab.sh("vpn1", "ipsec trafficstatus", check=False).stdout.splitlines():
            match = re.search(r'#(\d+): "([^"/]+)', line)
            if match:
                found.setdefault(match.group(2), set()).add(int(match.group(1)))
        return found

    def change_one_of_ten(self):
        before = self.sas()
        changed = tunnels(10)
        changed[5]["esp"] = "aes_gcm128"
        self.lab.vars(sitevpn_tunnels=changed)
        run = self.lab.playbook()
        after = self.sas()
        kept = [name for name in before if name != changed[5]["name"] and after.get(name) == before[name]]
        return {"others": 9, "kept_spis": len(kept), "changed_tunnel_rekeyed": after.get(changed[5]["name"]) !=
                before.get(changed[5]["name"]), "rc": run.rc}

    def task_seconds(self, task_yaml):
        """Wall time of one task on vpn1, from a play that does nothing else (no facts)."""
        path = os.path.join(self.lab.lab.dir, "bench-task.yml")
        with open(path, "w") as handle:
            handle.write("- hosts: vpn1\n  gather_facts: false\n  tasks:\n    - name: timed\n" + task_yaml)
        run = self.lab.playbook(path, env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"})
        if run.rc != 0:
            raise SystemExit("bench: timed task failed:\n%s" % run.out[-2000:])
        return float(re.search(r"^timed -+ ([\d.]+)s", run.out, re.M).group(1))

    def up_vs_raw(self):
        module, command, ssh = [], [], []
        for _rep in range(REPS):
            self.lab.sh("vpn1", "ipsec auto --down net-to-net >/dev/null 2>&1")
            module.append(self.task_seconds(
                "      sitevpn.ipsec.tunnel:\n        name: net-to-net\n        state: up\n"))
            self.lab.sh("vpn1", "ipsec auto --down net-to-net >/dev/null 2>&1")
            command.append(self.task_seconds(
                "      ansible.builtin.command: ipsec auto --up net-to-net\n      changed_when: true\n"))
            self.lab.sh("vpn1", "ipsec auto --down net-to-net >/dev/null 2>&1")
            started = time.time()
            self.lab.sh("vpn1", "ipsec auto --up net-to-net >/dev/null")
            ssh.append(time.time() - started)
        return module, command, ssh

    def by_hand(self):
        """The floor: the same RSA tunnel brought up with hand-run ipsec commands over SSH, both
        gateways in parallel where an operator with two terminals would."""
        values = []
        for _rep in range(REPS):
            self.bare()
            started = time.time()
            keys = {}
            for gw, side in (("vpn1", "left"), ("vpn2", "right")):
                out = self.lab.sh(gw, "sysctl -qw net.ipv4.ip_forward=1; ipsec initnss >/dev/null 2>&1;"
                                      " ipsec newhostkey --bits 3072 2>&1 | grep -o 'CKAID [0-9a-f]*'").stdout.split()[1]
                keys[side] = re.search(r"rsasigkey=(0s\S+)", self.lab.sh(
                    gw, "ipsec showhostkey --%s --ckaid %s" % (side, out)).stdout).group(1)
            conf = ("conn net-to-net\n    left=198.51.100.10\n    leftid=@vpn1\n    leftsubnet=172.16.1.0/24\n"
                    "    leftrsasigkey=%s\n    right=203.0.113.10\n    rightid=@vpn2\n    rightsubnet=10.0.0.0/24\n"
                    "    rightrsasigkey=%s\n    authby=rsasig\n    auto=add\n" % (keys["left"], keys["right"]))
            procs = [subprocess.Popen(["ssh", "-F", self.lab.lab.ssh_config, gw,
                                       "cat > /etc/ipsec.d/net-to-net.conf && systemctl start ipsec"],
                                      stdin=subprocess.PIPE, universal_newlines=True) for gw in GATEWAYS]
            for proc in procs:
                proc.communicate(conf)
            self.lab.sh("vpn1", "ipsec auto --up net-to-net >/dev/null")
            ping = self.lab.sh("server1", "ping -c 3 -W 2 -i 0.2 -q 10.0.0.105", check=False)
            values.append(time.time() - started)
            if " 0% packet loss" not in ping.stdout:
                raise SystemExit("bench: the hand-made tunnel did not carry the ping")
            self.log("by hand: %.1f s" % values[-1])
        return values

    def main(self):
        began = time.time()
        self.setup()
        try:
            ssh, python = self.overheads()
            t1 = self.first_runs(1)
            rerun = [self.run(1, expect_changed=False) for _ in range(REPS)]
            rerun_profile = self.profile
            module, command, raw_ssh = self.up_vs_raw()
            t10 = self.first_runs(10)
            change = self.change_one_of_ten()
            t50 = self.first_runs(50)
            hand = self.by_hand()
        finally:
            self.lab.down()
        med = statistics.median
        rows = [
            ("T_first: bare gateways -> encrypted ping, RSA, full site-to-site.yml (s)", figure(t1), "<= 30 s"),
            ("T_rerun: second run, 0 changed (s)", figure(rerun), ""),
            ("T_rerun / T_first", round(med(rerun) / med(t1), 2), "<= 0.35"),
            ("T_first(10 tunnels) (s)", figure(t10), ""),
            ("T_first(50 tunnels) (s)", figure(t50), ""),
            ("T(10) / T(1)", round(med(t10) / med(t1), 2), ""),
            ("T(50) / T(1)", round(med(t50) / med(t1), 2), "<= 1.5"),
            ("one of 10 tunnels changed: others that kept their SPIs", change["kept_spis"], "9 of 9"),
            ("tunnel state=up task (s)", figure(module), ""),
            ("ipsec auto --up as a command task (s)", figure(command), ""),
            ("ipsec auto --up over plain SSH (s)", figure(raw_ssh), ""),
            ("tunnel state=up / raw up (command task)", round(med(module) / med(command), 2), "<= 1.5"),
            ("tunnel state=up / raw up (plain SSH)", round(med(module) / med(raw_ssh), 2), ""),
            ("by hand over SSH, same RSA tunnel, ping included (s): the floor", figure(hand), ""),
            ("T_first / by hand", round(med(t1) / med(hand), 2), "<= 1.3"),
            ("SSH round trip to a gateway (s)", figure(ssh), ""),
            ("python3 start-up in a gateway (s)", figure(python), ""),
        ]
        cpu = ""
        with open("/proc/cpuinfo") as handle:
            model = [l.split(":", 1)[1].strip() for l in handle if l.startswith("model name")]
            cpu = "%d x %s" % (len(model), model[0] if model else platform.machine())
        report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": cpu,
                  "reps": REPS, "bench_seconds": round(time.time() - began), "rows": []}
        lines = ["| figure | median | min | max | goal |", "|---|---|---|---|---|"]
        for name, value, goal in rows:
            report["rows"].append({"figure": name, "value": value, "goal": goal})
            if isinstance(value, dict):
                lines.append("| %s | %.1f | %.1f | %.1f | %s |" % (name, value["median"], value["min"], value["max"], goal))
            else:
                lines.append("| %s | %s | | | %s |" % (name, value, goal))
        report["change_one_of_ten"] = change
        profile = self.profiles[1]
        report["t_first_profile"] = [{"task": name, "seconds": sec} for name, sec in profile]
        report["t_rerun_profile"] = [{"task": name, "seconds": sec} for name, sec in rerun_profile]
        one, fifty = dict(self.profiles[1]), dict(self.profiles[50])
        growth = sorted(((fifty.get(name, 0.0) - one.get(name, 0.0), name) for name in set(one) | set(fifty)),
                        reverse=True)
        report["t50_growth"] = [{"task": name, "seconds": round(sec, 2)} for sec, name in growth if sec > 0]
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, "latest.json"), "w") as handle:
            json.dump(report, handle, indent=2)
        print("sitevpn.ipsec bench, %s, %s, %d repetitions, %d s in all" % (
            report["date"], report["machine"], REPS, report["bench_seconds"]))
        print("\n".join(lines))
        print("\nwhere the time of the last T_first run went (profile_tasks, slowest first):")
        for name, sec in profile[:10]:
            print("  %5.1f s  %s" % (sec, name))
        print("\nwhere the time of the last 0-changed rerun went (profile_tasks, slowest first):")
        for name, sec in rerun_profile[:6]:
            print("  %5.1f s  %s" % (sec, name))
        print("\nwhere 50 tunnels cost more than one (last runs, per task, T(50) - T(1)):")
        for sec, name in growth[:8]:
            print("  %+5.1f s  %s" % (sec, name))


if __name__ == "__main__":
    Bench().main()
