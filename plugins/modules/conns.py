#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: conns
short_description: Converge all sitevpn tunnels of one gateway in one call
version_added: 0.1.0
description:
  - Writes one C(/etc/ipsec.d/NAME.conf) per tunnel (and C(NAME.secrets), mode 0600, for PSK tunnels),
    checks them with C(ipsec addconn --checkconfig) before they reach the live path, and loads into
    pluto only the connections whose files changed (C(ipsec auto --replace NAME)). Unchanged tunnels
    are not touched, so their SAs survive.
  - With O(establish=true), brings up the tunnels this gateway initiates and waits until each has an
    established Child SA. A tunnel that is already established is left alone.
  - Before a tunnel's files change, the previous ones are kept under O(backup_dir)/O(run_id), so that
    O(state=rolled_back) with the same O(run_id) can put the previous tunnel back if the change fails.
  - This is the batched workhorse of the P(sitevpn.ipsec.tunnel#role) role; its input is the
    output of the P(sitevpn.ipsec.host_tunnels#filter) filter. For one connection by hand, see
    M(sitevpn.ipsec.tunnel).
author:
  - sitevpn maintainers (@sitevpn)
extends_documentation_fragment:
  - sitevpn.ipsec.attributes
options:
  tunnels:
    description:
      - Resolved tunnels of this gateway, as the P(sitevpn.ipsec.host_tunnels#filter) filter returns them.
      - Each item has C(name), C(local) (V(left) or V(right)), C(left) and C(right) (C(address), C(id),
        C(subnets), C(pubkey), optional C(nexthop), C(local_address), C(host)), C(auth) (V(rsasig) or
        V(psk)), C(psk), C(auto), C(ike_version), C(ike), C(esp), C(pfs), C(dpd), C(initiator),
        C(options) and C(state) (V(present) or V(absent)).
    type: list
    elements: dict
    required: true
  psks:
    description:
      - The pre-shared keys, tunnel name to key; they replace the C(psk) of O(tunnels).
      - Declared C(no_log), so the keys never reach the gateway's log, where Ansible records a module's
        arguments before the module runs. Give O(tunnels) without them (P(sitevpn.ipsec.host_tunnels#filter)
        with C(secrets=false)).
    type: dict
    default: {}
  state:
    description:
      - V(present) writes and loads the tunnels.
      - V(rolled_back) puts back, for the tunnels named in O(names), the files kept by the run O(run_id)
        (a tunnel that run created is removed), reloads them, and with O(establish=true) brings the
        previous tunnels up again. Tunnels this host did not change in that run are only checked.
    type: str
    choices: [present, rolled_back]
    default: present
  restore:
    description:
      - With O(state=rolled_back), V(false) puts nothing back; it brings up (O(establish=true)) the tunnels
        that an earlier call with the same O(run_id) and O(names) put back.
      - The tunnel role rolls back in two calls, as it applies a change (put back and reload on every
        gateway first, then bring up), so that no initiator offers the previous proposals to a peer that
        still has the failed ones loaded.
    type: bool
    default: true
  names:
    description: With O(state=rolled_back), the tunnels to roll back.
    type: list
    elements: str
    default: []
  run_id:
    description: Names the backup of this run (the roles pass one per playbook run). Without it, no backup is kept.
    type: str
  establish:
    description: Bring up the tunnels this host initiates (C(auto=start)) and wait for their Child SAs.
    type: bool
    default: false
  timeout:
    description: Seconds to wait for each tunnel to establish.
    type: int
    default: 30
  purge:
    description: Also remove sitevpn-managed tunnels of this host that are not in O(tunnels).
    type: bool
    default: false
  reauthenticate:
    description:
      - With O(establish=true), tunnels this host initiates that must authenticate anew even though they are
        established - those whose PSK or certificate changed (reported as C(reauthenticate) by the load step on either end)
        and those with an end whose pluto was restarted in this run.
      - Such a tunnel is taken down and brought up again, with a fresh IKE SA authenticated with the key each end
        has now. C(ipsec up) on an established tunnel would only add a Child SA to the IKE SA it already has,
        proving nothing about the key, and after a restart of both ends that IKE SA can be one the peer no
        longer knows (both ends start at once, both initiate, each keeps half of a crossed pair).
        A peer that keeps the tunnel up revives it itself at once (its own new IKE SA); only when it does not
        within 4 s does this host bring it up. Traffic stops for the moment the new IKE SA takes.
    type: list
    elements: str
    default: []
  on_failure:
    description:
      - V(fail) fails the task when a tunnel cannot be loaded or established.
      - V(report) returns normally with C(failure) set instead, so that a role can collect the failures of
        both ends of a tunnel and roll them back together before it fails the run.
    type: str
    choices: [fail, report]
    default: fail
  backup_dir:
    description: Where the previous files of changed tunnels are kept (mode 0700); the last 5 runs are kept.
    type: path
    default: /var/lib/sitevpn/backup
attributes:
  check_mode:
    support: full
    details: Reports which tunnels would be created, updated or removed; nothing is written or loaded.
  diff_mode:
    support: full
    details: The conn files before and after. Secrets files are never shown.
  idempotent:
    support: full
notes:
  - Pre-shared keys are written base64-encoded (C(PSK 0s...)) and never returned.
  - Libreswan 4.x prints nothing on C(ipsec auto --add) when stdout is not a terminal and exits 0 even when
    the connection did not load; the module therefore checks C(ipsec status) after loading.
"""

EXAMPLES = r"""
- name: Write, load and bring up every tunnel of this gateway; the PSKs only in the no_log argument
  sitevpn.ipsec.conns:
    tunnels: "{{ sitevpn_tunnels | sitevpn.ipsec.host_tunnels(inventory_hostname, hostvars, secrets=false) }}"
    psks: >-
      {{ sitevpn_tunnels | sitevpn.ipsec.host_tunnels(inventory_hostname, hostvars) | selectattr('psk')
         | items2dict(key_name='name', value_name='psk') }}
    establish: true
"""

RETURN = r"""
tunnels:
  description:
    - Per tunnel, what was done and what it looks like now.
    - C(reauthenticated) is V(by_peer) or V(by_us) for a tunnel of O(reauthenticate) that was authenticated anew
      (which end's new IKE SA it now has).
    - C(updown) is V(disabled) when this gateway's pluto does not run Libreswan's C(_updown) for the tunnel (its
      C(updown=auto) and nothing for the script to do here), else V(libreswan) with the reason in C(updown_reason).
  returned: always
  type: dict
  sample:
    net-to-net:
      action: updated
      updown: disabled
      loaded: true
      initiator: true
      established: true
      child_sas: [{serial: 2, spi_out: "0x92ef1705", spi_in: "0x8b2bade2", in_bytes: 84, out_bytes: 84}]
reauthenticate:
  description: Tunnels whose PSK or certificate changed but whose conn did not otherwise; their SAs were kept until the
    initiator authenticates anew (O(reauthenticate)).
  returned: always
  type: list
  elements: str
changed_tunnels:
  description: Names of the tunnels whose files changed (or were removed) in this run.
  returned: always
  type: list
  elements: str
ready:
  description:
    - Without O(establish), after a load that changed nothing - whether every tunnel this gateway brings up
      already has its Child SAs and none is to authenticate anew (then C(tunnels) carries C(established) and
      C(child_sas) as an establish step would).
    - The tunnel role skips its establish step when every gateway of the play is ready.
  returned: when O(establish=false) and O(state=present)
  type: bool
failed_tunnels:
  description: Tunnels that did not establish, with the error kind, the line it came from and a remedy.
  returned: when O(establish=true)
  type: dict
failure:
  description: With O(on_failure=report), what went wrong (C(msg), and C(tunnel) when one tunnel is to blame).
  returned: when something failed and O(on_failure=report)
  type: dict
libreswan_version:
  description: Version of Libreswan on the gateway.
  returned: always
  type: str
commands:
  description: Every C(ipsec) argv that ran (or would have run, in check mode).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sitevpn.ipsec.plugins.module_utils._gateway import ARGUMENT_SPEC, Gateway, summary
from ansible_collections.sitevpn.ipsec.plugins.module_utils._runner import IpsecError


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    tunnels = module.params["tunnels"]
    for tunnel in tunnels:
        if tunnel["name"] in module.params["psks"]:
            tunnel["psk"] = module.params["psks"][tunnel["name"]]
        if tunnel.get("psk"):
            module.no_log_values.add(tunnel["psk"])
    removed = []
    ready = None
    gateway = Gateway(module)
    try:
        if module.params["state"] == "rolled_back":
            unchanged, restored = gateway.roll_back(tunnels, module.params["names"], module.params["restore"])
            if module.params["restore"] and not module.check_mode:
                gateway.load(unchanged + restored, {})
            failed = gateway.establish(restored) if module.params["establish"] else {}
        else:
            removed = gateway.remove(tunnels, module.params["purge"])
            writes = gateway.plan(tunnels)
            gateway.validate(writes)
            gateway.install(writes)
            try:
                gateway.load(tunnels, writes)
            except IpsecError:
                # pluto refused what checkconfig accepted: put this host's previous files back first
                if writes and module.params["run_id"]:
                    gateway.roll_back(tunnels, sorted(writes))
                raise
            failed = gateway.establish(tunnels) if module.params["establish"] else {}
            if not module.params["establish"]:
                ready = not removed and gateway.ready(tunnels)
    except IpsecError as exc:
        finish(module, gateway, dict(msg=exc.msg, **exc.details), removed)
    finish(module, gateway, None, removed, failed, ready)


def finish(module, gateway, failure, removed, failed=None, ready=None):
    result = summary(gateway, removed, ready)
    if module._diff:
        result["diff"] = gateway.diff
    if failed:
        names = sorted(failed)
        first = failed[names[0]]
        result["failed_tunnels"] = failed
        failure = dict(msg="tunnel %s did not come up: %s (%s). %s" % (
            names[0], first["kind"], first["line"], first["remedy"])
            + ("" if len(names) == 1 else " Also failed: %s." % ", ".join(names[1:])))
    if failure is None:
        module.exit_json(**result)
    if module.params["on_failure"] == "report":
        module.exit_json(failure=failure, **result)
    result.update(failure)
    module.fail_json(**result)


if __name__ == "__main__":
    main()
