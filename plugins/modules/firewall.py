#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: firewall
short_description: Prepare a gateway's kernel and packet filter for its IPsec tunnels
version_added: 0.1.0
description:
  - Turns IP forwarding on and ICMP redirects off, sets the reverse-path filter, and persists those
    settings in C(/etc/sysctl.d/60-sitevpn-ipsec.conf) (the seed's C(net/ipv4/ip_forward = 1)).
  - Accepts IKE (UDP 500 and 4500) and ESP from the tunnels' peers, accepts forwarded IPsec traffic
    between the tunnels' subnets, and exempts that traffic from source NAT ahead of any MASQUERADE rule
    of the host (the seed's C(-d ! 10.0.0.0/24) on the MASQUERADE rule, done for every tunnel without
    editing the host's own rules).
  - Lowers the MSS of forwarded TCP SYN and SYN-ACK packets between the tunnels' subnets to fit each tunnel's
    MTU (its C(mtu), else the MTU of the interface toward the peer minus the ESP overhead of its proposals),
    so big transfers do not hang where ICMP "fragmentation needed" is lost; C(mss_clamping=false) per tunnel
    turns it off.
  - The rules live in their own nftables table (C(inet sitevpn_ipsec)) or their own iptables chains
    (C(SITEVPN-*), jumped to from rule 1 of C(INPUT), C(FORWARD) and nat C(POSTROUTING)), installed by one
    script that also runs at boot from C(sitevpn-ipsec-firewall.service).
  - One call does all of it for all tunnels of the gateway.
author:
  - sitevpn maintainers (@sitevpn)
extends_documentation_fragment:
  - sitevpn.ipsec.attributes
options:
  tunnels:
    description: Resolved tunnels of this gateway (output of the P(sitevpn.ipsec.host_tunnels#filter) filter).
    type: list
    elements: dict
    default: []
  state:
    description:
      - V(present) installs the rules for O(tunnels).
      - V(rolled_back) puts back the rules script that the run O(run_id) replaced, and runs it (the tunnel role
        does this when a changed tunnel failed and was rolled back).
    type: str
    choices: [present, rolled_back]
    default: present
  run_id:
    description: Names the backup of this run; the rules script it replaces is kept under O(backup_dir).
    type: str
  backup_dir:
    description: Where replaced rules scripts are kept.
    type: path
    default: /var/lib/sitevpn/backup
  backend:
    description:
      - V(auto) picks V(firewalld) when firewalld is active, else V(nftables) when the kernel supports it,
        else V(iptables) (legacy or nft-based, whichever works). V(none) manages only the kernel settings.
    type: str
    choices: [auto, nftables, iptables, firewalld, none]
    default: auto
  forwarding:
    description: Turn forwarding on (a gateway needs it) - IPv4, and IPv6 where a tunnel carries IPv6 subnets.
    type: bool
    default: true
  rp_filter:
    description: Reverse-path filter on all, default and the tunnels' interfaces; Libreswan recommends V(0); V(2) (loose) also works.
    type: int
    choices: [0, 1, 2]
    default: 0
  nat_exemption:
    description: Never source-NAT traffic between a tunnel's subnets.
    type: bool
    default: true
  allow_ike:
    description: Accept UDP 500/4500 and ESP from the peers.
    type: bool
    default: true
  leak_guard:
    description:
      - Drop forwarded traffic between a tunnel's subnets that is not IPsec-protected, so nothing goes out in
        clear while pluto is down (at boot, after a crash) or a tunnel is not up. The rules are installed before
        the network comes up at boot.
    type: bool
    default: true
  routes:
    description:
      - For a tunnel with IPv6 subnets, add a route toward a remote subnet that no route of the host carries
        (through the interface toward the peer), kept at boot by C(sitevpn-ipsec-routes.service). Policy-based
        IPsec only sees packets the kernel routed; Libreswan's C(_updown) adds no route when the subnet is
        unreachable. A subnet the host already routes (a default route, a routing daemon) is left alone.
      - Tunnels with IPv6 subnets also get IPv6 forwarding, and router advertisements stay accepted on the
        interfaces toward the peers (C(accept_ra=2)).
      - Route-based tunnels (C(mode=route)) get their XFRM interface C(ipsec<interface_id>) and the routes of their
        remote subnets into it whatever this says (without them nothing enters the tunnel); the same unit puts them
        back at boot, before ipsec.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The sysctl file and the rules script, before and after.
  idempotent:
    support: full
notes:
  - With nftables, accepting in our own table does not override a C(drop) in another table of the host; the
    module warns when it finds a base chain with C(policy drop) on the input or forward hook, whose rules then
    need to allow IKE, ESP and the tunnel traffic themselves.
"""

EXAMPLES = r"""
- name: Forwarding, redirects, IKE/ESP from the peers, NAT exemption
  sitevpn.ipsec.firewall:
    tunnels: "{{ sitevpn_tunnels | sitevpn.ipsec.host_tunnels(inventory_hostname, hostvars, require_keys=false) }}"
"""

RETURN = r"""
backend:
  description: The backend used.
  returned: always
  type: str
  sample: nftables
sysctl:
  description: The kernel settings wanted (key = value) and those that had to change.
  returned: always
  type: dict
routes:
  description: The routes this gateway keeps (subnet -> interface) into route-based tunnels and toward remote IPv6 subnets.
  returned: always
  type: dict
  sample: {"2001:db8:2::/64": "eth0", "10.0.0.0/24": "ipsec4711"}
interfaces:
  description: The XFRM interfaces of route-based tunnels (name -> if_id, the device they are bound to, MTU).
  returned: always
  type: dict
  sample: {"ipsec4711": {"if_id": 4711, "dev": "eth0", "mtu": 1438}}
mtu:
  description:
    - Per tunnel that clamps the TCP MSS, its MTU (given, or the WAN interface's MTU minus the ESP overhead) and the MSS
      forwarded TCP SYNs are lowered to, per inner address family.
  returned: always
  type: dict
  sample: {"net-to-net": {"mtu": 1438, "mss": {"ipv4": 1398, "ipv6": 1378}}}
rules_tag:
  description: Tag of the installed ruleset (a digest of the rules).
  returned: always
  type: str
"""

import hashlib
import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _firewall as fw
from ansible_collections.sitevpn.ipsec.plugins.module_utils._files import read, write
from ansible_collections.sitevpn.ipsec.plugins.module_utils._routes import interface_state, route_devices, route_lookup

# where things live on the gateway (module-level, so tests can point them elsewhere)
PROC_SYS = "/proc/sys"
SYS_NET = "/sys/class/net"
SYSCTL_FILE = fw.SYSCTL_FILE
SCRIPT = fw.SCRIPT
UNIT = fw.UNIT
# digest of the live rules as the last run installed them: any later edit (a flushed chain, a deleted
# rule, a lost jump) differs from it, and the next run puts the rules back
LIVE_FILE = "/var/lib/sitevpn/firewall.live"
ROUTES_SCRIPT = fw.ROUTES_SCRIPT
ROUTES_UNIT = fw.ROUTES_UNIT


class Firewall(object):
    def __init__(self, module):
        self.module = module
        self.changes = []
        self.warnings = []
        self.diff = {"before": "", "after": ""}

    def cmd(self, argv, data=None, check=True):
        rc, out, err = self.module.run_command(argv, data=data, environ_update={"LC_ALL": "C"})
        if check and rc != 0:
            self.module.fail_json(msg="%s failed (exit %d): %s" % (" ".join(argv), rc, (err or out).strip()))
        return rc, out, err

    # -- which interfaces carry the tunnels --------------------------------------------------

    def interfaces(self, tunnels, extra_targets=()):
        """(interfaces of the IPv4 tunnels, {address: parsed `ip route get`}) from one `ip` for every address:
        the peers, the local IPv4 subnets, and *extra_targets* (fifty tunnels are a hundred lookups; each
        process costs in a slow guest)."""
        targets = []
        for tunnel in tunnels:
            if tunnel.get("state", "present") == "absent":
                continue
            remote = fw.remote_end(tunnel)
            targets.append(remote["address"])
            for subnet in tunnel[tunnel["local"]]["subnets"]:
                targets.append(subnet.split("/")[0])
        ipv4 = sorted(set(t for t in targets if ":" not in t))
        # IPv6 peers too: the MTU toward each peer sizes the tunnel's MSS clamping
        everything = ipv4 + sorted((set(extra_targets) | set(fw.peers(tunnels))) - set(ipv4))
        if not everything:
            return [], {}
        rc, out, dummy = self.cmd([self.module.get_bin_path("ip", required=True), "-o", "-force", "-batch", "-"],
                                  data="".join("route get %s\n" % target for target in everything), check=False)
        lookup = route_lookup(out)
        # not the XFRM interfaces of route-based tunnels: on a hub, another spoke's LAN is a local subnet routed
        # into one, and only after the first run (it inherits the `default` sysctls it is created with)
        xfrm = set(fw.route_interfaces(tunnels).values())
        return [dev for dev in route_devices(lookup, ipv4) if dev not in xfrm], lookup

    @staticmethod
    def wan_mtus(tunnels, lookup):
        """Peer address -> MTU of the interface the route toward it leaves by (:func:`fw.tunnel_mtus` takes
        what it needs; a path MTU the kernel learnt later is not used: it comes and goes, and the rules would
        change with it)."""
        result = {}
        for peer in fw.peers(tunnels):
            route = lookup.get(peer) or {}
            text = read(os.path.join(SYS_NET, route["dev"], "mtu")) if route.get("dev") else None
            if (text or "").strip().isdigit():
                result[peer] = int(text.strip())
        return result

    # -- XFRM interfaces of route-based tunnels, routes into them and toward remote IPv6 subnets ---------

    def routes(self, tunnels, lookup, recorded, recorded_links, wan_mtus):
        """Install the interfaces of :func:`fw.wanted_links` and the routes :func:`fw.wanted_routes` asks for,
        drop those no tunnel needs any more, and keep them in a script the boot unit runs before ipsec.
        Nothing at all on a gateway without route-based or IPv6 tunnels. Returns (routes, interfaces)."""
        wanted = fw.wanted_routes(tunnels, lookup, recorded, policy_ipv6=self.module.params["routes"])
        links = fw.wanted_links(tunnels, lookup, wan_mtus)
        if not wanted and not links and not recorded and read(ROUTES_SCRIPT) is None:
            return wanted, links
        ip = self.module.get_bin_path("ip", required=True)
        for subnet, dev in sorted(recorded.items()):
            if wanted.get(subnet) != dev:
                self.changes.append("route %s dev %s removed" % (subnet, dev))
                if not self.module.check_mode:
                    self.cmd([ip, "-%d" % (6 if ":" in subnet else 4), "route", "del", subnet, "dev", dev], check=False)
        for name in sorted(set(recorded_links) - set(links)):
            if os.path.exists(os.path.join(SYS_NET, name)):
                self.changes.append("interface %s removed" % name)
                if not self.module.check_mode:
                    self.cmd([ip, "link", "del", name], check=False)
        created = set(name for name, link in sorted(links.items()) if self.link(ip, name, link, recorded_links.get(name)))
        for subnet, dev in sorted(wanted.items()):
            live = (lookup.get(fw.first_address(subnet)) or {}).get("dev")
            if recorded.get(subnet) != dev or live != dev or dev in created:
                self.changes.append("route %s dev %s" % (subnet, dev))
                if not self.module.check_mode:
                    self.cmd([ip, "-%d" % (6 if ":" in subnet else 4), "route", "replace", subnet, "dev", dev])
        self.routes_unit(wanted, links)
        return wanted, links

    def link(self, ip, name, link, recorded):
        """One XFRM interface as *link* says: created where missing or bound otherwise than the last run left
        it (then its routes went with it), its MTU, up. True when it was (re)created."""
        path = os.path.join(SYS_NET, name)
        same = recorded is not None and (recorded["if_id"], recorded["dev"]) == (link["if_id"], link["dev"])
        if os.path.exists(path) and same:
            mtu = (read(os.path.join(path, "mtu")) or "").strip()
            if mtu == str(link["mtu"]) and interface_state(name, SYS_NET) == "up":
                return False
            self.changes.append("interface %s mtu %d up" % (name, link["mtu"]))
            if not self.module.check_mode:
                self.cmd([ip, "link", "set", name, "mtu", str(link["mtu"]), "up"])
            return False
        self.changes.append("interface %s (xfrm if_id %d%s, mtu %d)"
                            % (name, link["if_id"], " on %s" % link["dev"] if link["dev"] else "", link["mtu"]))
        if not self.module.check_mode:
            if os.path.exists(path):
                self.cmd([ip, "link", "del", name], check=False)
            self.cmd([ip, "link", "add", name, "type", "xfrm"] + (["dev", link["dev"]] if link["dev"] else [])
                     + ["if_id", str(link["if_id"])])
            self.cmd([ip, "link", "set", name, "mtu", str(link["mtu"]), "up"])
        return True

    def routes_unit(self, wanted, links):
        systemctl = self.module.get_bin_path("systemctl")
        name = os.path.basename(ROUTES_UNIT)
        if not wanted and not links:
            for path in (ROUTES_UNIT, ROUTES_SCRIPT):
                if os.path.exists(path):
                    self.changes.append(path + " removed")
                    if not self.module.check_mode:
                        if path == ROUTES_UNIT and systemctl:
                            self.cmd([systemctl, "disable", name], check=False)
                        os.unlink(path)
            return
        for path, text, mode in ((ROUTES_SCRIPT, fw.render_routes_script(wanted, links), 0o755),
                                 (ROUTES_UNIT, fw.render_routes_unit(ROUTES_SCRIPT), 0o644)):
            if read(path) != text:
                self.changes.append(path)
                if not self.module.check_mode:
                    write(path, text, mode)
                    if path == ROUTES_UNIT and systemctl:
                        self.cmd([systemctl, "daemon-reload"])
        if systemctl and self.cmd([systemctl, "is-enabled", "--quiet", name], check=False)[0] != 0:
            self.changes.append("enable " + name)
            if not self.module.check_mode:
                self.cmd([systemctl, "enable", name])

    # -- kernel settings ---------------------------------------------------------------------------

    def sysctl(self, wanted):
        changed = {}
        for key, value in sorted(wanted.items()):
            path = PROC_SYS + "/" + key.replace(".", "/")
            current = (read(path) or "").strip()
            if current != value:
                changed[key] = {"before": current, "after": value}
                if not self.module.check_mode:
                    with open(path, "w") as handle:
                        handle.write(value + "\n")
        if changed:
            self.changes.append("sysctl")
        text = fw.render_sysctl(wanted)
        old = read(SYSCTL_FILE)
        if old != text:
            self.changes.append(SYSCTL_FILE)
            self.diff["before"] += old or ""
            self.diff["after"] += text
            if not self.module.check_mode:
                write(SYSCTL_FILE, text, 0o644)
        return changed

    # -- backend ----------------------------------------------------------------------------------------

    def _works(self, argv):
        return self.cmd(argv, check=False)[0] == 0

    def detect(self, wanted, probe_script):
        systemctl = self.module.get_bin_path("systemctl")
        if wanted in ("auto", "firewalld") and systemctl and \
                self.cmd([systemctl, "is-active", "--quiet", "firewalld"], check=False)[0] == 0:
            self.firewalld = True
        else:
            self.firewalld = False
            if wanted == "firewalld":
                self.module.fail_json(msg="backend firewalld asked for, but firewalld is not active")
        if wanted == "none":
            return "none", None
        nft = self.module.get_bin_path("nft")
        # a dry run of the real ruleset: proves the kernel has what the rules use
        nft_ok = bool(nft) and self._works([nft, "-c", "-f", probe_script])
        if wanted in ("auto", "nftables", "firewalld") and nft:
            if nft_ok:
                return "nftables", None
            if wanted == "nftables":
                rc, out, err = self.cmd([nft, "-c", "-f", probe_script], check=False)
                self.module.fail_json(msg="nftables cannot load the rules on this kernel: %s" % (err or out).strip())
        if wanted in ("auto", "iptables", "firewalld"):
            for name in ("iptables", "iptables-legacy", "iptables-nft"):
                path = self.module.get_bin_path(name)
                if not path:
                    continue
                # the nf_tables flavour needs what the nft dry run just proved missing
                if "nf_tables" in self.cmd([path, "-V"], check=False)[1] and not nft_ok:
                    continue
                if self._works([path, "-w", "-t", "nat", "-S", "POSTROUTING"]):
                    return "iptables", name
        self.module.fail_json(msg="no working packet filter: install nftables (or iptables), or set "
                                  "sitevpn_firewall_backend: none and allow IKE/ESP yourself")

    def live_rules(self, backend, iptables):
        """Our rules as the kernel has them now (text; empty when they are missing)."""
        if backend == "nftables":
            rc, out, dummy = self.cmd([self.module.get_bin_path("nft", required=True), "list", "table", "inet",
                                       fw.NFT_TABLE], check=False)
            return out if rc == 0 else ""
        if backend == "iptables":
            ipt = self.module.get_bin_path(iptables, required=True)
            text = ""
            for table, builtin, chain in fw.IPTABLES_JUMPS:
                rc, out, dummy = self.cmd([ipt, "-w", "-t", table, "-S", builtin, "1"], check=False)
                if out.strip() != "-A %s -j %s" % (builtin, chain):
                    return ""
                rc, out, dummy = self.cmd([ipt, "-w", "-t", table, "-S", chain], check=False)
                text += out
            return text
        return ""

    @staticmethod
    def digest(text):
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def warn_drop_policies(self):
        nft = self.module.get_bin_path("nft")
        if not nft:
            return
        rc, out, dummy = self.cmd([nft, "-j", "list", "chains"], check=False)
        if rc != 0:
            return
        try:
            items = json.loads(out).get("nftables", [])
        except ValueError:
            return
        for item in items:
            chain = item.get("chain")
            if chain and chain.get("table") != fw.NFT_TABLE and chain.get("policy") == "drop" \
                    and chain.get("hook") in ("input", "forward"):
                self.warnings.append(
                    "nftables chain %s %s %s drops by default: its own rules must accept IKE (UDP 500/4500), ESP from "
                    "the peers and the tunnels' forwarded traffic; the sitevpn_ipsec table cannot override a drop"
                    % (chain.get("family"), chain.get("table"), chain.get("name")))

    def _backup(self):
        run_id = self.module.params["run_id"]
        if not run_id:
            return None
        return os.path.join(self.module.params["backup_dir"], run_id.replace("/", "_"), "firewall.sh")

    def roll_back(self):
        backup = self._backup()
        previous = read(backup) if backup else None
        if previous is None or previous == read(SCRIPT):
            return
        self.changes.append("rolled back " + SCRIPT)
        if not self.module.check_mode:
            write(SCRIPT, previous, 0o755)
            self.cmd([SCRIPT])
            if os.path.exists(LIVE_FILE):
                os.unlink(LIVE_FILE)     # the next run records the rules it finds

    def rules(self, backend, iptables, tunnels, mtus=None):
        params = self.module.params
        script, tag = fw.render_script(backend, tunnels, params["allow_ike"], params["nat_exemption"],
                                       iptables or "iptables", params["leak_guard"], mtus)
        old = read(SCRIPT)
        backup = self._backup()
        if old is not None and old != script and backup and not os.path.exists(backup) and not self.module.check_mode:
            write(backup, old, 0o600, dir_mode=0o700)
        live = self.live_rules(backend, iptables) if backend != "none" else ""
        recorded = (read(LIVE_FILE) or "").strip()
        # stale: not our ruleset (tag), or ours edited since the last run installed it
        stale = backend != "none" and (tag not in live or (recorded and recorded != self.digest(live)))
        if old != script:
            self.changes.append(SCRIPT)
            self.diff["before"] += old or ""
            self.diff["after"] += script
            if not self.module.check_mode:
                write(SCRIPT, script, 0o755)
        if (old != script or stale) and backend != "none":
            self.changes.append("rules")
            if not self.module.check_mode:
                self.cmd([SCRIPT])
                live = self.live_rules(backend, iptables)
        if backend != "none" and not self.module.check_mode and recorded != self.digest(live):
            write(LIVE_FILE, self.digest(live) + "\n", 0o600, dir_mode=0o700)
        unit = fw.render_unit(backend)
        systemctl = self.module.get_bin_path("systemctl")
        if read(UNIT) != unit:
            self.changes.append(UNIT)
            if not self.module.check_mode:
                write(UNIT, unit, 0o644)
                if systemctl:
                    self.cmd([systemctl, "daemon-reload"])
        if systemctl:
            name = os.path.basename(UNIT)
            if self.cmd([systemctl, "is-enabled", "--quiet", name], check=False)[0] != 0:
                self.changes.append("enable " + name)
                if not self.module.check_mode:
                    self.cmd([systemctl, "enable", name])
        return tag

    def firewalld_ports(self, peers):
        cmd = self.module.get_bin_path("firewall-cmd", required=True)
        for permanent in ([], ["--permanent"]):
            rc, out, dummy = self.cmd([cmd] + permanent + ["--query-service=ipsec"], check=False)
            if rc != 0:
                self.changes.append("firewalld ipsec service%s" % (" (permanent)" if permanent else ""))
                if not self.module.check_mode:
                    self.cmd([cmd] + permanent + ["--add-service=ipsec"])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            tunnels=dict(type="list", elements="dict", default=[]),
            backend=dict(type="str", default="auto", choices=["auto", "nftables", "iptables", "firewalld", "none"]),
            forwarding=dict(type="bool", default=True),
            rp_filter=dict(type="int", default=0, choices=[0, 1, 2]),
            nat_exemption=dict(type="bool", default=True),
            allow_ike=dict(type="bool", default=True),
            leak_guard=dict(type="bool", default=True),
            routes=dict(type="bool", default=True),
            state=dict(type="str", default="present", choices=["present", "rolled_back"]),
            run_id=dict(type="str"),
            backup_dir=dict(type="path", default="/var/lib/sitevpn/backup"),
        ),
        supports_check_mode=True,
    )
    for tunnel in module.params["tunnels"]:
        if tunnel.get("psk"):
            module.no_log_values.add(tunnel["psk"])
    tunnels = [t for t in module.params["tunnels"] if t.get("state", "present") != "absent"]
    firewall = Firewall(module)
    if module.params["state"] == "rolled_back":
        firewall.roll_back()
        module.exit_json(changed=bool(firewall.changes), changes=firewall.changes)
    routes_script = read(ROUTES_SCRIPT)
    recorded_routes, recorded_links = fw.parse_routes_script(routes_script), fw.parse_links_script(routes_script)
    ipv6 = fw.ipv6_pairs(tunnels)
    routed = [rnet for name, _l, rnet, _p in fw.pairs(tunnels) if name in fw.route_interfaces(tunnels)]
    # where IPv6 subnets are tunnelled: the peers (which interface) and the remote subnets (routed at all?);
    # the remote subnets of route-based tunnels (routed into their interface?)
    extra_targets = set(peer for _n, _l, _r, peer in ipv6) | \
        set(fw.first_address(subnet) for subnet in [pair[2] for pair in ipv6] + list(recorded_routes) + routed)
    interfaces, lookup = firewall.interfaces(tunnels, extra_targets)
    ipv6_wan = sorted(set((lookup.get(peer) or {}).get("dev") for _n, _l, _r, peer in ipv6) - {None}) \
        if ipv6 else None
    wanted = fw.sysctls(interfaces, module.params["forwarding"], module.params["rp_filter"], ipv6_wan)
    changed_sysctl = firewall.sysctl(wanted)
    wan_mtus = firewall.wan_mtus(tunnels, lookup)
    routes, links = firewall.routes(tunnels, lookup, recorded_routes, recorded_links, wan_mtus)
    mtus = fw.tunnel_mtus(tunnels, wan_mtus)
    probe_fd, probe = tempfile.mkstemp(prefix="sitevpn-nft-")
    try:
        with os.fdopen(probe_fd, "w") as handle:
            handle.write(fw.render_nft(tunnels, module.params["allow_ike"], module.params["nat_exemption"],
                                       None, module.params["leak_guard"], mtus))
        backend, iptables = firewall.detect(module.params["backend"], probe)
    finally:
        os.unlink(probe)
    if firewall.firewalld:
        firewall.firewalld_ports(fw.peers(tunnels))
    if backend == "none":
        mtus = {}           # no rules of ours: nothing clamps (the result must not say otherwise)
    tag = firewall.rules(backend, iptables, tunnels, mtus)
    if backend == "nftables":
        firewall.warn_drop_policies()
    # tunnels with IPv6 subnets or an IPv6 peer (every present tunnel has pairs)
    ipv6_tunnels = sorted(set(name for name, lnet, _r, peer in fw.pairs(tunnels) if ":" in lnet + peer))
    if backend == "iptables" and ipv6_tunnels:
        firewall.warnings.append("the iptables backend installs IPv4 rules only: the IPv6 subnets or peers of %s "
                                 "get no rules here (IKE/ESP accepts, forward rules, leak guard); nftables does "
                                 "both families" % ", ".join(ipv6_tunnels))
    for warning in firewall.warnings:
        module.warn(warning)
    result = dict(changed=bool(firewall.changes), changes=firewall.changes, backend=backend,
                  iptables=iptables, firewalld=firewall.firewalld, rules_tag=tag,
                  sysctl={"wanted": wanted, "changed": changed_sysctl}, routes=routes, interfaces=links,
                  mtu=dict((name, {"mtu": mtu, "mss": dict(("ipv%d" % family, fw.mss(mtu, family)) for family in (4, 6))})
                           for name, mtu in mtus.items()))
    if module._diff:
        result["diff"] = firewall.diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
