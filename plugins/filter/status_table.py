# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: status_table
short_description: Configured versus established, one row per tunnel and gateway
version_added: 0.3.0
description:
  - For every gateway, every tunnel the inventory configures there (its connections C(NAME) or C(NAME/1x1) ...)
    next to what pluto has - Child SAs established per connection, bytes in and out - and every connection
    pluto has loaded that the inventory does not configure.
  - C(state) is V(up) (every connection has a Child SA), V(configured-not-established), V(not-loaded),
    V(not-configured) (loaded by hand or left over) or V(unreachable) (no status from the gateway).
positional: hosts, hostvars, status_var
options:
  hosts:
    description: The gateways (C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
  status_var:
    description: The name each gateway registered M(sitevpn.ipsec.status_info) under.
    type: str
    default: __sitevpn_status
extends_documentation_fragment:
  - sitevpn.ipsec.tunnel_list
"""

EXAMPLES = r"""
- name: The table
  ansible.builtin.debug:
    msg: "{{ sitevpn_tunnels | sitevpn.ipsec.status_table(ansible_play_hosts_all, hostvars) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: C({rows, lines, summary}) - C(rows) dicts (gateway, tunnel, peer, state, connections, established,
    in_bytes, out_bytes), C(lines) the same as aligned text, C(summary) counts per state.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.sitevpn.ipsec.plugins.filter.host_tunnels import host_tunnels
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _conn
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _model


def _base(name):
    return name.split("/", 1)[0].split("[", 1)[0]


def status_table(tunnels, hosts, hostvars, status_var="__sitevpn_status"):
    rows = []
    for host in hosts:
        try:
            mine = host_tunnels(tunnels, host, hostvars, require_keys=False, secrets=False)
        except (_model.ModelError, AnsibleFilterError) as exc:
            raise AnsibleFilterError(getattr(exc, "message", str(exc)))
        status = (hostvars.get(host) or {}).get(status_var) or {}
        reachable = bool(status) and not status.get("unreachable") and not status.get("failed")
        loaded = status.get("connections") or {}
        sas = status.get("sas") or []
        seen = set()
        for tunnel in mine:
            if tunnel.get("state", "present") != "present":
                continue
            subs = _conn.sub_connections(tunnel)
            seen.update(subs)
            peer = tunnel["right" if tunnel["local"] == "left" else "left"]
            mine_sas = [sa for sa in sas if sa.get("name") in subs]
            up = [s for s in subs if any(sa.get("name") == s for sa in mine_sas)]
            if not reachable:
                state = "unreachable"
            elif len(up) == len(subs):
                state = "up"
            elif all(s in loaded for s in subs):
                state = "configured-not-established"
            else:
                state = "not-loaded"
            rows.append({"gateway": host, "tunnel": tunnel["name"], "peer": peer.get("host") or peer["address"],
                         "state": state, "connections": len(subs), "established": len(up),
                         "in_bytes": sum(sa.get("in_bytes") or 0 for sa in mine_sas),
                         "out_bytes": sum(sa.get("out_bytes") or 0 for sa in mine_sas)})
        for name in sorted(set(_base(n) for n in loaded) - set(_base(n) for n in seen)):
            rows.append({"gateway": host, "tunnel": name, "peer": "", "state": "not-configured",
                         "connections": len([n for n in loaded if _base(n) == name]),
                         "established": len(set(sa["name"] for sa in sas if _base(sa.get("name") or "") == name)),
                         "in_bytes": 0, "out_bytes": 0})
    header = ("GATEWAY", "TUNNEL", "PEER", "STATE", "SAS", "IN", "OUT")
    cells = [header] + [(r["gateway"], r["tunnel"], r["peer"], r["state"], "%d/%d" % (r["established"], r["connections"]),
                         str(r["in_bytes"]), str(r["out_bytes"])) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(header))).rstrip() for c in cells]
    summary = {}
    for row in rows:
        summary[row["state"]] = summary.get(row["state"], 0) + 1
    return {"rows": rows, "lines": lines, "summary": summary}


class FilterModule(object):
    def filters(self):
        return {"status_table": status_table}
