#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: diagnose_info
short_description: Everything the seed's troubleshooting section checks on one gateway, read in one call
version_added: 0.1.0
description:
  - Reads, without changing anything, what the I(Quick HOWTO ch. 35) troubleshooting section looks at on a
    gateway, for every tunnel of the gateway - C(ipsec verify) (or its built-in equivalent on Libreswan 5),
    whether pluto runs and listens on UDP 500/4500, C(ipsec status) (conn loaded, IKE SA, Child SA, half-open
    IKE SAs still waiting for the peer), the SA byte counters, IP forwarding, the route toward each remote
    subnet (C(ip route get) of its first address must leave by the interface toward the peer), and pluto's
    log since O(log_since) (C(journalctl -u ipsec), else C(/var/log/pluto.log) or C(/var/log/auth.log)),
    scanned for the known failure lines.
  - Reads the packet filter of every backend present - C(iptables-legacy-save), C(iptables-nft-save) and
    C(nft list ruleset) - and walks the packets that matter through the chains the way the kernel would -
    IKE (UDP 500 and 4500) and ESP from the peer through the input hook, the tunnel traffic through forward,
    and through the NAT postrouting hook, where the firewall role's exemption must come before any
    MASQUERADE or SNAT rule.
  - With O(mode=capture), instead watches every interface with C(tcpdump -i any) for O(capture_seconds)
    (run it with C(async) while a probe ping crosses) and returns the packets seen - ESP, IKE, ICMP - and the
    SA byte counters before and after.
  - Returns facts only. The P(sitevpn.ipsec.diagnosis#filter) filter judges both ends of each tunnel
    together on the controller; the P(sitevpn.ipsec.diagnose#role) role writes the report.
author:
  - sitevpn maintainers (@sitevpn)
extends_documentation_fragment:
  - sitevpn.ipsec.attributes
  - sitevpn.ipsec.attributes.read_only
options:
  tunnels:
    description:
      - Resolved tunnels of this gateway (output of the P(sitevpn.ipsec.host_tunnels#filter) filter with
        C(require_keys=false)). Pre-shared keys in them are never returned.
    type: list
    elements: dict
    required: true
  mode:
    description: V(checks) reads everything once; V(capture) watches the wires for O(capture_seconds).
    type: str
    choices: [checks, capture]
    default: checks
  log_since:
    description: How far back to read pluto's journal (a C(journalctl --since) value).
    type: str
    default: "-1h"
  verify:
    description: Run C(ipsec verify) (it takes a few seconds on a slow host).
    type: bool
    default: true
  capture_seconds:
    description: Length of the capture with O(mode=capture).
    type: int
    default: 10
notes:
  - Needs root (the journal, the packet filter, C(tcpdump)).
  - The rule walk understands addresses, protocols, ports, interfaces, C(-m policy)/C(meta ipsec) and
    connection states; rules using anything else (ipsets, marks ...) are skipped and listed as C(uncertain)
    next to the verdict.
  - With iptables-legacy, the tables are read only when the kernel already has them
    (C(/proc/net/ip_tables_names)), so reading never loads a module.
"""

EXAMPLES = r"""
- name: Everything the seed checks, on this gateway
  sitevpn.ipsec.diagnose_info:
    tunnels: "{{ sitevpn_tunnels | sitevpn.ipsec.host_tunnels(inventory_hostname, hostvars, require_keys=false) }}"
  register: facts

- name: Is UDP 500 from the peer dropped?
  ansible.builtin.debug:
    msg: "{{ facts.tunnels['net-to-net'].ike_input['500'] }}"

- name: Watch the wires for 10 s while something pings across
  sitevpn.ipsec.diagnose_info:
    tunnels: "{{ sitevpn_tunnels | sitevpn.ipsec.host_tunnels(inventory_hostname, hostvars, require_keys=false) }}"
    mode: capture
    capture_seconds: 10
  async: 60
  poll: 0
  register: capture_job
"""

RETURN = r"""
installed:
  description: Whether an C(ipsec) command was found.
  returned: mode=checks
  type: bool
version:
  description: Libreswan version.
  returned: mode=checks
  type: str
  sample: "4.10"
pluto:
  description: C(running), C(service) (C(systemctl is-active ipsec)), C(status_error) (why C(ipsec status) failed), C(ike_sockets).
  returned: mode=checks
  type: dict
  sample: {running: true, service: active, status_error: null, ike_sockets: ["198.51.100.10:500"]}
verify:
  description: C(source) and C(checks) as M(sitevpn.ipsec.verify_info) returns them; V(null) when not run.
  returned: mode=checks
  type: dict
forwarding:
  description: C(ipv4) (C(net.ipv4.ip_forward)) and C(ipv6) (C(net.ipv6.conf.all.forwarding)), as integers.
  returned: mode=checks
  type: dict
  sample: {ipv4: 1, ipv6: 0}
firewall:
  description: C(backends) that hold rules (V(iptables-legacy), V(iptables-nft), V(nft)) and C(read) (what reading each gave).
  returned: mode=checks
  type: dict
log:
  description: C(source) (the journal or the file read) and C(lines) (how many).
  returned: mode=checks
  type: dict
tunnels:
  description:
    - Per tunnel name - C(loaded), C(ike_sa), C(child_sa), C(ike_pending) (half-open IKE SAs), C(states),
      C(sas), C(in_bytes), C(out_bytes), C(wan_dev), C(lan_devs), C(routes) (C(subnet), C(target), C(status)
      ok/warn/fail, C(why)), C(listening) (port to bool), C(ike_input) (port to the input verdict for IKE from
      the peer), C(esp_input), C(nat) (per subnet pair - C(verdict) exempt/masqueraded/none, C(rule),
      C(exemption)), C(forward) (per pair and direction), C(log) (C(current) and C(past) failure kinds with
      counts and the last line, C(last_up)).
    - A verdict is C({verdict, backend, chain, rule, uncertain}); C(rule) is the rule that decided, V(null)
      when a chain policy did.
  returned: mode=checks
  type: dict
counters_before:
  description: SA byte counters per tunnel before the capture.
  returned: mode=capture
  type: dict
  sample: {net-to-net: {in_bytes: 252, out_bytes: 252}}
counters_after:
  description: The same after the capture.
  returned: mode=capture
  type: dict
capture:
  description:
    - C(available), C(seconds), C(error), C(packets) (C(iface), C(direction) in/out, C(src), C(dst), C(sport),
      C(dport), C(kind) esp/ike/icmp/icmp-error/other, C(spi), C(line)).
  returned: mode=capture
  type: dict
commands:
  description: Every argv that ran.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _diagnose
from ansible_collections.sitevpn.ipsec.plugins.module_utils._runner import IpsecError, IpsecRunner

#: Root of the files read ("/" on a host; unit tests point it into a temporary directory).
ROOT = "/"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            tunnels=dict(type="list", elements="dict", required=True),
            mode=dict(type="str", default="checks", choices=["checks", "capture"]),
            log_since=dict(type="str", default="-1h"),
            verify=dict(type="bool", default=True),
            capture_seconds=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    tunnels = module.params["tunnels"]
    for tunnel in tunnels:
        if tunnel.get("psk"):
            module.no_log_values.add(tunnel["psk"])
    binary = module.get_bin_path("ipsec", required=False, opt_dirs=["/usr/sbin", "/usr/local/sbin", "/sbin"])
    runner = IpsecRunner(module, binary=binary or "ipsec")
    gatherer = _diagnose.Gatherer(module, runner, root=ROOT, installed=bool(binary))
    try:
        if module.params["mode"] == "capture":
            result = gatherer.capture(tunnels, max(1, module.params["capture_seconds"]))
        else:
            result = gatherer.gather(tunnels, since=module.params["log_since"], run_verify=module.params["verify"])
    except IpsecError as exc:
        module.fail_json(msg=exc.msg, commands=runner.commands, **exc.details)
    module.exit_json(changed=False, commands=runner.commands, **result)


if __name__ == "__main__":
    main()
