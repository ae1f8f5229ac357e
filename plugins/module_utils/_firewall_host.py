# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: what the ``firewall`` module does on the gateway - kernel settings, the XFRM interfaces and
routes of the tunnels, the packet filter rules and the units that put them back at boot. What the rules
say is :mod:`_firewall`'s (pure); this module runs the commands and writes the files.

:func:`apply` is the module's whole run on an ``AnsibleModule`` whose parameters follow
:data:`ARGUMENT_SPEC`; it returns the result instead of exiting, so another module can run it (in
check mode) in its own process.

Not a public API: names may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import tempfile
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _firewall as fw, _runner
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

#: the ``firewall`` module's parameters (its DOCUMENTATION describes them)
ARGUMENT_SPEC = dict(
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
)


class Firewall(object):
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.changes: List[str] = []
        self.warnings: List[str] = []
        self.diff = {"before": "", "after": ""}

    def cmd(self, argv: List[str], data: Optional[str] = None, check: bool = True) -> Tuple[int, str, str]:
        rc, out, err = _runner.run_command(self.module, argv, {"LC_ALL": "C"}, data)
        if check and rc != 0:
            self.module.fail_json(msg="%s failed (exit %d): %s" % (" ".join(argv), rc, (err or out).strip()))
        return rc, out, err

    # -- which interfaces carry the tunnels --------------------------------------------------

    def interfaces(self, tunnels: List[Dict[str, Any]],
                   extra_targets: Iterable[str] = ()) -> Tuple[List[str], Dict[str, Dict[str, Any]]]:
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
    def wan_mtus(tunnels: List[Dict[str, Any]], lookup: Dict[str, Dict[str, Any]]) -> Dict[str, int]:
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

    def routes(self, tunnels: List[Dict[str, Any]], lookup: Dict[str, Dict[str, Any]], recorded: Dict[str, str],
               recorded_links: Dict[str, Dict[str, Any]],
               wan_mtus: Dict[str, int]) -> Tuple[Dict[str, str], Dict[str, Dict[str, Any]]]:
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

    def link(self, ip: str, name: str, link: Dict[str, Any], recorded: Optional[Dict[str, Any]]) -> bool:
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

    def routes_unit(self, wanted: Dict[str, str], links: Dict[str, Dict[str, Any]]) -> None:
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
        self.put(ROUTES_SCRIPT, fw.render_routes_script(wanted, links), 0o755)
        self.put_unit(ROUTES_UNIT, fw.render_routes_unit(ROUTES_SCRIPT), systemctl)

    def put(self, path: str, text: str, mode: int, diff: bool = False) -> bool:
        """Write a file the module owns when it differs; record the change (and its diff when asked)."""
        old = read(path)
        if old == text:
            return False
        self.changes.append(path)
        if diff:
            self.diff["before"] += old or ""
            self.diff["after"] += text
        if not self.module.check_mode:
            write(path, text, mode)
        return True

    def put_unit(self, path: str, text: str, systemctl: Optional[str]) -> None:
        """A systemd unit the module owns: written when it differs, enabled when it is not, systemd told.

        ``systemctl enable`` reloads systemd's configuration itself (unless ``--no-reload``), so a unit
        written and then enabled needs no ``daemon-reload`` of its own: on a first run that saved 1.2 s of
        a 3 s firewall step in the lab's guests. A unit rewritten while enabled gets its reload.
        """
        written = self.put(path, text, 0o644)
        if not systemctl:
            return
        name = os.path.basename(path)
        if self.cmd([systemctl, "is-enabled", "--quiet", name], check=False)[0] != 0:
            self.changes.append("enable " + name)
            if not self.module.check_mode:
                self.cmd([systemctl, "enable", name])
        elif written and not self.module.check_mode:
            self.cmd([systemctl, "daemon-reload"])

    # -- kernel settings ---------------------------------------------------------------------------

    def sysctl(self, wanted: Dict[str, str]) -> Dict[str, Dict[str, str]]:
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
        self.put(SYSCTL_FILE, fw.render_sysctl(wanted), 0o644, diff=True)
        return changed

    # -- backend ----------------------------------------------------------------------------------------

    def _works(self, argv: List[str]) -> bool:
        return self.cmd(argv, check=False)[0] == 0

    def detect(self, wanted: str, probe_script: str) -> Tuple[str, Optional[str]]:
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

    def live_rules(self, backend: str, iptables: Optional[str]) -> str:
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
    def digest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def warn_drop_policies(self) -> None:
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

    def _backup(self) -> Optional[str]:
        run_id = self.module.params["run_id"]
        if not run_id:
            return None
        return os.path.join(self.module.params["backup_dir"], run_id.replace("/", "_"), "firewall.sh")

    def roll_back(self) -> None:
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

    def rules(self, backend: str, iptables: Optional[str], tunnels: List[Dict[str, Any]],
              mtus: Optional[Dict[str, int]] = None) -> str:
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
        self.put(SCRIPT, script, 0o755, diff=True)
        if (old != script or stale) and backend != "none":
            self.changes.append("rules")
            if not self.module.check_mode:
                self.cmd([SCRIPT])
                live = self.live_rules(backend, iptables)
        if backend != "none" and not self.module.check_mode and recorded != self.digest(live):
            write(LIVE_FILE, self.digest(live) + "\n", 0o600, dir_mode=0o700)
        self.put_unit(UNIT, fw.render_unit(backend), self.module.get_bin_path("systemctl"))
        return tag

    def firewalld_ports(self, peers: List[str]) -> None:
        cmd = self.module.get_bin_path("firewall-cmd", required=True)
        for permanent in ([], ["--permanent"]):
            rc, out, dummy = self.cmd([cmd] + permanent + ["--query-service=ipsec"], check=False)
            if rc != 0:
                self.changes.append("firewalld ipsec service%s" % (" (permanent)" if permanent else ""))
                if not self.module.check_mode:
                    self.cmd([cmd] + permanent + ["--add-service=ipsec"])


def apply(module: AnsibleModule) -> Dict[str, Any]:
    """The ``firewall`` module's run on *module* (parameters as :data:`ARGUMENT_SPEC`): its result, for
    ``exit_json``. Fails through ``module.fail_json``, warns through ``module.warn``; in check mode, changes
    nothing."""
    for tunnel in module.params["tunnels"]:
        if tunnel.get("psk"):
            module.no_log_values.add(tunnel["psk"])
    tunnels = [t for t in module.params["tunnels"] if t.get("state", "present") != "absent"]
    firewall = Firewall(module)
    if module.params["state"] == "rolled_back":
        firewall.roll_back()
        return dict(changed=bool(firewall.changes), changes=firewall.changes)
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
    return result
