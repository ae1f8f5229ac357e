"""A running lab: network namespace, bridges, taps, UML guests, keys, inventory.

Layout of one lab (``<state_root>/<name>/``, removed whole by ``down``)::

    lab.json             what is running (topology, pids), read by every command
    inventory/hosts.yml  the Ansible inventory (ansible-playbook -i takes it as is)
    ssh/config           ssh -F config: keys, known_hosts, ProxyCommand into the namespace
    ssh/id_ed25519       the client key the lab generated
    guests/<g>/disk.img  the guest's private ext4 disk (overlay upper layer)
    guests/<g>/cfg/      per-guest settings read by the guest init at every boot
    guests/<g>/console.log

Guest RAM is backed by a file in ``/dev/shm/sitevpn-lab-<name>`` (removed too).
"""

import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

from . import image, kernel, paths, topology


def sh(cmd, check=True, capture=False, timeout=None, **kwargs):
    if capture:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        kwargs.setdefault("universal_newlines", True)
    result = subprocess.run(cmd, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        detail = (result.stderr or "").strip() if capture else ""
        raise RuntimeError("command failed (exit %d): %s %s" % (result.returncode, " ".join(cmd), detail))
    return result


class LabError(Exception):
    pass


class Lab:
    def __init__(self, name="default"):
        if not name.replace("-", "").isalnum() or len(name) > 20:
            raise LabError("lab name must be letters, digits and '-', at most 20 characters: %r" % name)
        self.name = name
        self.dir = os.path.join(paths.state_root(), name)
        self.netns = "sitevpn-" + name
        self.shm = "/dev/shm/sitevpn-lab-" + name
        self._state = None

    # -- state -----------------------------------------------------------------

    @property
    def state_file(self):
        return os.path.join(self.dir, "lab.json")

    @property
    def state(self):
        if self._state is None:
            if not os.path.exists(self.state_file):
                raise LabError("lab %r is not up (no %s)" % (self.name, self.state_file))
            with open(self.state_file) as handle:
                self._state = json.load(handle)
        return self._state

    def save(self):
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(self._state, handle, indent=2)
        os.rename(tmp, self.state_file)

    def topology(self):
        topo = topology.get(self.state["topology"])
        for guest in topo.guests:
            guest.distro = self.state["guests"][guest.name]["distro"]
        return topo

    def exists(self):
        return os.path.exists(self.state_file)

    @property
    def inventory(self):
        """The inventory directory: hosts.yml, plus group_vars/all/*.yml set by `vars`."""
        return os.path.join(self.dir, "inventory")

    def set_vars(self, files):
        """Make these vars files the lab's group_vars/all (replacing earlier ones)."""
        target = os.path.join(self.inventory, "group_vars", "all")
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(target)
        for index, path in enumerate(files):
            shutil.copy(path, os.path.join(target, "%02d-%s" % (index, os.path.basename(path))))
        return target

    @property
    def ssh_config(self):
        return os.path.join(self.dir, "ssh", "config")

    def guest_dir(self, guest):
        return os.path.join(self.dir, "guests", guest)

    def tap(self, guest, ifname):
        return ("%s-%s" % (guest, ifname))[:15]

    def umid(self, guest):
        # lab names have no dots, so "svl.<lab>." tells this lab's guests from any other's
        return "svl.%s.%s" % (self.name, guest)

    # -- up ----------------------------------------------------------------------

    def up(self, topology_name="seed", distro=image.DEFAULT_DISTRO, out=sys.stderr):
        if self.exists():
            raise LabError("lab %r is already up; `down` it first" % self.name)
        self._remove_stale(out)
        started = time.time()
        topo = topology.get(topology_name)
        for guest in topo.guests:
            guest.distro = guest.distro or distro
        uml = kernel.build(out=out)
        roots = {d: image.build(d, out=out) for d in sorted({g.distro for g in topo.guests})}
        os.makedirs(os.path.join(self.dir, "ssh", "cp"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "inventory"), exist_ok=True)
        self._state = {
            "name": self.name, "topology": topo.name, "netns": self.netns, "created": time.time(),
            "guests": {g.name: {"distro": g.distro, "pid": None} for g in topo.guests},
            "kernel": uml, "kernel_release": kernel.release_of(uml),
        }
        self.save()
        try:
            self._make_keys(topo)
            self._make_network(topo)
            for guest in topo.guests:
                self._prepare_guest(topo, guest)
            booted = time.time()
            for guest in topo.guests:
                self._start_guest(guest, roots[guest.distro])
            self._wait_ready([g.name for g in topo.guests])
            self._state["boot_seconds"] = round(time.time() - booted, 1)
            self.save()
            self._write_inventory(topo)
        except BaseException:
            out.write("lab: bring-up failed, tearing down (consoles kept in the error below)\n")
            consoles = self._console_tails()
            self.down(quiet=True)
            if consoles:
                out.write(consoles)
            raise
        out.write("lab %s up: %d guests booted in %.1f s (total %.1f s)\n"
                  % (self.name, len(topo.guests), self._state["boot_seconds"], time.time() - started))
        return self._state

    def _remove_stale(self, out):
        """What an interrupted run of a lab of this name left (no lab.json, but a namespace, guests, files)."""
        if not (os.path.exists(os.path.join("/run/netns", self.netns)) or _uml_pids(self.name)
                or os.path.exists(self.dir) or os.path.exists(self.shm)):
            return
        out.write("lab %s: removing what an interrupted run left (namespace %s, guests, files)\n"
                  % (self.name, self.netns))
        self.down(quiet=True, out=out)

    def _make_keys(self, topo):
        key = os.path.join(self.dir, "ssh", "id_ed25519")
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sitevpn-lab-" + self.name, "-f", key])
        known = []
        for guest in topo.guests:
            cfg = os.path.join(self.guest_dir(guest.name), "cfg")
            os.makedirs(cfg)
            host_key = os.path.join(cfg, "ssh_host_ed25519_key")
            sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", guest.name, "-f", host_key])
            with open(host_key + ".pub") as handle:
                public = handle.read().split()[:2]
            known.append("%s,%s %s %s" % (guest.name, topo.mgmt_address(guest.name), public[0], public[1]))
        with open(os.path.join(self.dir, "ssh", "known_hosts"), "w") as handle:
            handle.write("\n".join(known) + "\n")
        with open(self.ssh_config, "w") as handle:
            for guest in topo.guests:
                handle.write("Host %s %s\n    HostName %s\n" % (guest.name, topo.mgmt_address(guest.name),
                                                                 topo.mgmt_address(guest.name)))
            handle.write(
                "Host *\n"
                "    User root\n"
                "    IdentityFile {key}\n"
                "    IdentitiesOnly yes\n"
                "    UserKnownHostsFile {dir}/ssh/known_hosts\n"
                "    StrictHostKeyChecking yes\n"
                "    BatchMode yes\n"
                "    LogLevel ERROR\n"
                "    ConnectTimeout 5\n"
                "    ServerAliveInterval 5\n"
                "    ControlMaster auto\n"
                "    ControlPath {dir}/ssh/cp/%C\n"
                "    ControlPersist 120\n"
                "    # the management network exists only inside the lab's namespace\n"
                "    ProxyCommand ip netns exec {ns} nc %h %p\n".format(key=key, dir=self.dir, ns=self.netns))

    def _make_network(self, topo):
        sh(["ip", "netns", "add", self.netns])
        ns = ["ip", "-n", self.netns]
        sh(ns + ["link", "set", "lo", "up"])
        for segment in ["mgmt"] + topo.segments:
            sh(ns + ["link", "add", "br-" + segment, "type", "bridge", "stp_state", "0", "forward_delay", "0"])
            sh(ns + ["link", "set", "br-" + segment, "up"])
        sh(ns + ["addr", "add", "%s/%d" % (topology.MGMT_HOST_ADDRESS, topology.MGMT_NET.prefixlen),
                 "dev", "br-mgmt"])
        for guest in topo.guests:
            for nic in self._nics(topo, guest):
                tap = self.tap(guest.name, nic.ifname)
                sh(ns + ["tuntap", "add", tap, "mode", "tap"])
                sh(ns + ["link", "set", tap, "master", "br-" + nic.segment])
                sh(ns + ["link", "set", tap, "up"])

    def _nics(self, topo, guest):
        mgmt = topology.Nic("mgmt", "mgmt0", "%s/%d" % (topo.mgmt_address(guest.name), topology.MGMT_NET.prefixlen))
        return guest.nics + [mgmt]

    def _prepare_guest(self, topo, guest):
        gdir = self.guest_dir(guest.name)
        cfg = os.path.join(gdir, "cfg")
        disk = os.path.join(gdir, "disk.img")
        with open(disk, "wb") as handle:
            handle.truncate(1024 * 1024 * 1024)
        sh(["mkfs.ext4", "-q", "-F", "-L", guest.name, disk])
        files = {
            "hostname": guest.name + "\n",
            "machine-id": uuid.uuid4().hex + "\n",
            "hosts": "127.0.0.1 localhost\n127.0.1.1 %s\n" % guest.name,
            "network.sh": self._network_script(topo, guest),
        }
        shutil.copy(os.path.join(self.dir, "ssh", "id_ed25519.pub"), os.path.join(cfg, "authorized_keys"))
        for name, text in files.items():
            with open(os.path.join(cfg, name), "w") as handle:
                handle.write(text)

    def _network_script(self, topo, guest):
        lines = ["#!/bin/sh", "# written by the sitevpn lab for %s; run by the guest init at every boot" % guest.name,
                 "set -e", "ip link set lo up"]
        for index, nic in enumerate(self._nics(topo, guest)):
            lines += ["ip link set vec%d name %s" % (index, nic.ifname),
                      "ip addr add %s dev %s" % (nic.address, nic.ifname)]
            if nic.address6:
                # nodad: usable at once (duplicate address detection would hold it back a second or two)
                lines.append("ip -6 addr add %s dev %s nodad" % (nic.address6, nic.ifname))
            lines.append("ip link set %s up" % nic.ifname)
        if guest.gateway4:
            lines.append("ip route add default via %s" % guest.gateway4)
        if guest.gateway6:
            lines.append("ip -6 route add default via %s" % guest.gateway6)
        for route in guest.routes:
            lines.append("ip route add %s" % route)
        if guest.forwarding:
            lines.append("echo 1 > /proc/sys/net/ipv4/ip_forward")
        if guest.forwarding6:
            lines.append("echo 1 > /proc/sys/net/ipv6/conf/all/forwarding")
        if guest.masquerade:
            # a NAT router of the lab (not a gateway under test): nftables, like the guests' default
            prefix, out_if = guest.masquerade.split(":")
            lines.append("nft -f - <<'EOF'\ntable ip sitevpn_lab_nat {\n  chain postrouting {\n"
                         "    type nat hook postrouting priority srcnat; policy accept;\n"
                         "    ip saddr %s oifname \"%s\" masquerade\n  }\n}\nEOF" % (prefix, out_if))
        return "\n".join(lines) + "\n"

    def _start_guest(self, guest, root):
        gdir = self.guest_dir(guest.name)
        os.makedirs(self.shm, exist_ok=True)
        topo = self.topology()
        cmd = [self.state["kernel"], "mem=%dM" % guest.memory_mb, "umid=" + self.umid(guest.name), "uml_dir=" + gdir,
               "root=/dev/root", "rootfstype=hostfs", "rootflags=" + root, "ro",
               "ubda=" + os.path.join(gdir, "disk.img")]
        for index, nic in enumerate(self._nics(topo, topo.guest(guest.name))):
            cmd.append("vec%d:transport=tap,ifname=%s,mac=%s" % (index, self.tap(guest.name, nic.ifname),
                                                                 self._mac(guest.name, index)))
        cmd += ["init=/sbin/sitevpn-lab-init", "sitevpn_cfg=" + os.path.join(gdir, "cfg"),
                # credit the UML hardware RNG (host /dev/urandom) so IKE does not wait for entropy
                "rng_core.default_quality=1000", "con=null", "con0=null,fd:1"]
        env = dict(os.environ, TMPDIR=self.shm)
        with open(os.path.join(gdir, "console.log"), "ab") as console, open(os.devnull) as devnull:
            proc = subprocess.Popen(["ip", "netns", "exec", self.netns] + cmd, stdin=devnull, stdout=console,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=gdir)
        self._state["guests"][guest.name]["pid"] = proc.pid
        self.save()

    def _mac(self, guest, index):
        digest = uuid.uuid5(uuid.NAMESPACE_DNS, "%s.%s" % (guest, self.name)).bytes
        return "02:%02x:%02x:%02x:%02x:%02x" % (digest[0], digest[1], digest[2], digest[3], index)

    # -- readiness -----------------------------------------------------------------

    def _wait_ready(self, guests, timeout=180):
        """Offloads off on every tap once its guest opened it, then SSH answers on every guest."""
        deadline = time.time() + timeout
        topo = self.topology()
        pending_taps = {self.tap(g, nic.ifname) for g in guests for nic in self._nics(topo, topo.guest(g))}
        while pending_taps:
            self._check_alive(guests)
            links = json.loads(sh(["ip", "-n", self.netns, "-j", "link", "show"], capture=True).stdout)
            for link in links:
                if link["ifname"] in pending_taps and "LOWER_UP" in link.get("flags", []):
                    # UML asks the tap for vnet headers (TSO, checksum offload); with them on,
                    # host->guest TCP loses most segments. Off, after the guest opened the tap.
                    sh(["ip", "netns", "exec", self.netns, "ethtool", "-K", link["ifname"], "tso", "off",
                        "gso", "off", "gro", "off", "tx", "off", "sg", "off"], capture=True)
                    pending_taps.discard(link["ifname"])
            if time.time() > deadline:
                raise LabError("guest interfaces never came up: %s" % ", ".join(sorted(pending_taps)))
            time.sleep(0.3)
        pending = set(guests)
        while pending:
            self._check_alive(guests)
            for guest in sorted(pending):
                if self.run(guest, "true", check=False, timeout=15, connect_timeout=2).returncode == 0:
                    pending.discard(guest)
            if time.time() > deadline:
                raise LabError("no SSH from %s after %d s" % (", ".join(sorted(pending)), timeout))
            if pending:
                time.sleep(0.5)

    def _check_alive(self, guests):
        for guest in guests:
            pid = self.state["guests"][guest]["pid"]
            if not pid or not _alive(pid):
                raise LabError("guest %s died during boot" % guest)

    # -- using it ----------------------------------------------------------------------

    def run(self, guest, command, check=True, timeout=120, connect_timeout=5, capture=True, input=None):
        """Run a shell command on a guest over SSH; returns CompletedProcess."""
        cmd = ["ssh", "-F", self.ssh_config, "-o", "ConnectTimeout=%d" % connect_timeout, guest, command]
        extra = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
        try:
            return sh(cmd, check=check, capture=capture, timeout=timeout, **extra)
        except subprocess.TimeoutExpired:
            if check:
                raise
            return subprocess.CompletedProcess(cmd, 124, "", "timeout")

    def netns_run(self, command, check=True, capture=True, timeout=None):
        return sh(["ip", "netns", "exec", self.netns] + command, check=check, capture=capture, timeout=timeout)

    def restart(self, guest, hard=False, out=sys.stderr):
        """Reboot one guest: a clean poweroff (or, hard=True, a power cut), then boot again.

        The guest keeps its disk, so whatever it installed or configured survives.
        """
        info = self.state["guests"][guest]
        started = time.time()
        if hard:
            _kill_group(info["pid"], signal.SIGKILL)
        else:
            self.run(guest, "systemctl poweroff", check=False, timeout=10)
        _wait_exit(info["pid"], 60)
        _kill_group(info["pid"], signal.SIGKILL)
        self._start_guest(self.topology().guest(guest), image.image_root(info["distro"]))
        self._wait_ready([guest])
        seconds = time.time() - started
        out.write("lab: %s restarted (%s) in %.1f s\n" % (guest, "power cut" if hard else "poweroff", seconds))
        return seconds

    def snapshot(self, tag, guests):
        """Keep the guests' disks as they are now (guests are powered off and back on)."""
        self._cycle(guests, lambda g: _copy_disk(self._disk(g), self._disk(g, tag)), clean=True)

    def restore(self, tag, guests):
        """Put back the disks kept by ``snapshot`` (a power cut, then boot from the kept disk)."""
        missing = [g for g in guests if not os.path.exists(self._disk(g, tag))]
        if missing:
            raise LabError("no snapshot %r of %s" % (tag, ", ".join(missing)))
        self._cycle(guests, lambda g: _copy_disk(self._disk(g, tag), self._disk(g)), clean=False)

    def _disk(self, guest, tag=None):
        if tag is None:
            return os.path.join(self.guest_dir(guest), "disk.img")
        directory = os.path.join(self.dir, "snapshots", tag)
        os.makedirs(directory, exist_ok=True)
        return os.path.join(directory, guest + ".img")

    def _cycle(self, guests, between, clean):
        topo = self.topology()
        for guest in guests:
            pid = self.state["guests"][guest]["pid"]
            if clean:
                self.run(guest, "systemctl poweroff", check=False, timeout=10)
            else:
                _kill_group(pid, signal.SIGKILL)
        for guest in guests:
            pid = self.state["guests"][guest]["pid"]
            _wait_exit(pid, 60)
            _kill_group(pid, signal.SIGKILL)
            _wait_exit(pid, 10)
            between(guest)
        for guest in guests:
            self._start_guest(topo.guest(guest), image.image_root(self.state["guests"][guest]["distro"]))
        self._wait_ready(list(guests))

    def status(self):
        rows = []
        topo = self.topology()
        for guest in topo.guests:
            pid = self.state["guests"][guest.name]["pid"]
            alive = bool(pid) and _alive(pid)
            ssh_ok = alive and self.run(guest.name, "true", check=False, timeout=10).returncode == 0
            rows.append({
                "guest": guest.name, "role": guest.role, "distro": guest.distro, "pid": pid,
                "running": alive, "ssh": ssh_ok, "mgmt": topo.mgmt_address(guest.name),
                "addresses": [nic.address for nic in guest.nics],
            })
        return rows

    # -- inventory -------------------------------------------------------------------

    def _write_inventory(self, topo):
        import yaml  # from the project's virtualenv (ansible-core depends on PyYAML)

        hosts = {}
        groups = {"gateways": {}, "lan_hosts": {}, "routers": {}}
        for guest in topo.guests:
            vars_ = {
                "ansible_host": topo.mgmt_address(guest.name),
                "lab_role": guest.role,
                "lab_distro": guest.distro,
                "lab_interfaces": {nic.ifname: {"address": nic.address, "segment": nic.segment}
                                   for nic in guest.nics},
            }
            if guest.role == "gateway":
                wan, lan = guest.nics[0], guest.nics[1]
                vars_.update({
                    "lab_wan_address": wan.address.split("/")[0],
                    "lab_lan_address": lan.address.split("/")[0],
                    "lab_lan_subnet": str(ipaddress.ip_interface(lan.address).network),
                    # what the collection reads (see README): where the peers reach this gateway (its
                    # WAN address, or its NAT router's), the LAN behind it, and the LAN host that proves it
                    "sitevpn_public_address": guest.hostvars.get("lab_public_nat_address",
                                                                 wan.address.split("/")[0]),
                    "sitevpn_subnets": [str(ipaddress.ip_interface(lan.address).network)],
                })
                if "lab_public_nat_address" in guest.hostvars:
                    vars_["sitevpn_local_address"] = wan.address.split("/")[0]
                servers = [g.name for g in topo.guests if g.role == "server" and g.site == guest.site]
                if servers:
                    vars_["sitevpn_probe_host"] = servers[0]
            elif guest.role == "server":
                vars_["lab_lan_address"] = guest.nics[0].address.split("/")[0]
                # what a tunnel's probe pings when it names this host
                vars_["sitevpn_probe_address"] = vars_["lab_lan_address"]
            vars_.update(guest.hostvars)
            hosts[guest.name] = vars_
            group = {"gateway": "gateways", "server": "lan_hosts", "router": "routers"}[guest.role]
            groups[group][guest.name] = None
            if guest.site:
                groups.setdefault(guest.site, {})[guest.name] = None
        inventory = {"all": {
            "vars": {
                "ansible_user": "root",
                "ansible_python_interpreter": "/usr/bin/python3",
                # extra args, not common args: molecule sets the latter per host for its own use
                "ansible_ssh_extra_args": "-F " + self.ssh_config,
                "ansible_sftp_extra_args": "-F " + self.ssh_config,
                "ansible_scp_extra_args": "-F " + self.ssh_config,
                "ansible_ssh_pipelining": True,
                "ansible_control_path_dir": os.path.join(self.dir, "ssh", "cp"),
                "lab_name": self.name,
                "lab_netns": self.netns,
                "lab_topology": topo.name,
            },
            "hosts": hosts,
            "children": {name: {"hosts": members} for name, members in groups.items()},
        }}
        # the same, in the form of an inventory script's --list (molecule links a script that prints it)
        script_form = {"_meta": {"hostvars": hosts}, "all": {"vars": inventory["all"]["vars"],
                                                             "children": sorted(groups)}}
        for name, members in groups.items():
            script_form[name] = {"hosts": sorted(members)}
        with open(os.path.join(self.dir, "inventory.json"), "w") as handle:
            json.dump(script_form, handle, indent=1)
        with open(os.path.join(self.inventory, "hosts.yml"), "w") as handle:
            handle.write("# Written by the sitevpn lab %r (topology %s). Removed by `lab down`.\n"
                         % (self.name, topo.name))
            yaml.safe_dump(inventory, handle, default_flow_style=False, sort_keys=False)

    # -- down -----------------------------------------------------------------------------

    def down(self, quiet=False, out=sys.stderr):
        """Stop every guest, delete the namespace (and with it every tap and bridge) and the files."""
        pids = []
        if os.path.exists(self.state_file):
            try:
                pids = [g["pid"] for g in self.state["guests"].values() if g.get("pid")]
            except (ValueError, KeyError):
                pids = []
        for pid in pids:
            _kill_group(pid, signal.SIGKILL)
        # ssh control masters (ours and Ansible's) and anything else still inside the namespace
        for pid in self._helper_pids():
            _kill_pid(pid, signal.SIGTERM)
        for pid in _uml_pids(self.name):
            _kill_pid(pid, signal.SIGKILL)
        for pid in pids:
            _wait_exit(pid, 10)
        deadline = time.time() + 15
        while time.time() < deadline and (_uml_pids(self.name) or _group_members(pids)
                                          or [p for p in self._helper_pids() if _alive(p)]):
            time.sleep(0.1)
        if os.path.exists(os.path.join("/run/netns", self.netns)):
            sh(["ip", "netns", "delete", self.netns], check=False)
        shutil.rmtree(self.shm, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        left = self.leftovers()
        if left:
            raise LabError("lab %s: tear-down left: %s" % (self.name, "; ".join(left)))
        if not quiet:
            out.write("lab %s down: no process, namespace, tap, mount or file left\n" % self.name)

    def _helper_pids(self):
        pids = set()
        if os.path.exists(os.path.join("/run/netns", self.netns)):
            listed = sh(["ip", "netns", "pids", self.netns], check=False, capture=True).stdout.split()
            pids.update(int(p) for p in listed if p.isdigit())
        marker = (self.dir + os.sep).encode()     # not the processes of a lab whose name starts with ours
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                try:
                    with open("/proc/%s/cmdline" % entry, "rb") as handle:
                        if marker in handle.read():
                            pids.add(int(entry))
                except OSError:
                    pass
        return sorted(p for p in pids if p != os.getpid())

    def leftovers(self):
        """Everything of this lab still on the host; empty after a good tear-down.

        Checked: UML processes (by umid), processes inside the namespace or naming
        the lab's folder (ssh control masters), the namespace, mounts under the
        lab's folders, the folders themselves, and tap interfaces in the host's
        own namespace.
        """
        found = []
        pids = _uml_pids(self.name)
        if self.exists():
            pids += _group_members([g["pid"] for g in self.state["guests"].values() if g.get("pid")])
        if pids:
            found.append("UML processes %s" % sorted(set(pids)))
        helpers = [p for p in self._helper_pids() if _alive(p)]
        if helpers:
            found.append("processes %s" % helpers)
        if os.path.exists(os.path.join("/run/netns", self.netns)):
            found.append("network namespace %s" % self.netns)
        with open("/proc/self/mountinfo") as handle:
            mounts = [line.split()[4] for line in handle]
        for mount in mounts:
            # by path component: lab "t-cert" must not claim the mounts of lab "t-cert-hub"
            if any(mount == path or mount.startswith(path + os.sep) for path in (self.dir, self.shm)) \
                    or os.path.basename(mount) == self.netns:
                found.append("mount %s" % mount)
        for path in (self.dir, self.shm):
            if os.path.exists(path):
                found.append("directory %s" % path)
        links = sh(["ip", "-j", "link", "show"], capture=True).stdout
        for link in json.loads(links):
            if link["ifname"].startswith(tuple(g + "-" for g in ("vpn", "server", "router", "natbox"))):
                found.append("host interface %s" % link["ifname"])
        return found

    def _console_tails(self, lines=15):
        text = []
        root = os.path.join(self.dir, "guests")
        for guest in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            path = os.path.join(root, guest, "console.log")
            if os.path.exists(path):
                with open(path, errors="replace") as handle:
                    tail = [l for l in handle.read().splitlines() if not l.lstrip().startswith("[<")][-lines:]
                text.append("--- console of %s (last %d lines)\n%s\n" % (guest, lines, "\n".join(tail)))
        return "".join(text)


# -- processes -------------------------------------------------------------------------------

def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _kill_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except OSError:
        pass


def _kill_pid(pid, sig):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def _wait_exit(pid, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return True
        except ChildProcessError:
            if not _alive(pid):
                return True
        time.sleep(0.1)
    return False


def _copy_disk(source, target):
    # the disks are 1 GiB sparse files holding a few dozen MB: keep the holes
    sh(["cp", "--sparse=always", source, target])


def _group_members(pgids):
    """Processes (zombies included) still in the given process groups."""
    members = []
    wanted = set(pgids)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) in wanted:
                members.append(int(entry))
    return members


def _uml_pids(lab_name):
    """Host processes of this lab's guests, found by their umid on the command line."""
    found = []
    marker = ("umid=svl.%s." % lab_name).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                args = handle.read().split(b"\0")
        except OSError:
            continue
        if any(arg.startswith(marker) for arg in args) and _alive(int(entry)):
            found.append(int(entry))
    return found
