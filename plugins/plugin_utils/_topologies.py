# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private, controller side: ``sitevpn_topologies`` (a hub and its spokes, a full mesh) made into tunnels.

:func:`expand_topologies` turns each topology into plain tunnel dicts, named after the topology and
its members, with the subnets from each member's ``sitevpn_subnets``; ``_model.normalize`` then checks
them like the tunnels of ``sitevpn_tunnels``. Separate because it writes tunnels rather than checking
them: only the topology's own keys are checked here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sitevpn.ipsec.plugins.module_utils._conn import NAME_RE
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._model_base import TUNNEL_KEYS, _flag, _hostvar, _unknown_keys


TOPOLOGY_KEYS = {"name", "hub", "spokes", "spoke_to_spoke", "mesh", "defaults"}
TOPOLOGY_OWNED_KEYS = {"name", "left", "right", "left_subnets", "right_subnets"}


def _host_subnets(host, hostvars, label, field, problems):
    subnets = _hostvar(hostvars, host, "sitevpn_subnets")
    if not subnets:
        problems.add(label, field, "host %s has no sitevpn_subnets (the LANs behind it)" % host)
        return []
    return [subnets] if isinstance(subnets, str) else list(subnets)


def _topology_probe(left, right, hostvars):
    source, target = _hostvar(hostvars, left, "sitevpn_probe_host"), _hostvar(hostvars, right, "sitevpn_probe_host")
    return {"from": source, "to": target} if source and target else None


def expand_topologies(topologies, hostvars, problems):
    """``sitevpn_topologies`` -> tunnels with unique, stable names.

    A hub and its spokes: ``<name>-<spoke>``, hub on the left, the spoke initiating (spokes are
    the ones behind NAT or dynamic links); with ``spoke_to_spoke``, each spoke's tunnel also
    carries the other spokes' subnets, so spokes reach each other through the hub.
    A full mesh of a group: ``<name>-<a>-<b>`` for every pair, in inventory-name order.
    Subnets come from each host's ``sitevpn_subnets``; ``defaults`` apply to every tunnel.
    """
    tunnels = []
    if not topologies:
        return tunnels
    if not isinstance(topologies, (list, tuple)):
        problems.add("-", "sitevpn_topologies", "must be a list")
        return tunnels
    for index, topo in enumerate(topologies):
        label = "topology %s" % ((topo.get("name") if isinstance(topo, dict) else None) or "#%d" % (index + 1))
        if not isinstance(topo, dict):
            problems.add(label, "-", "each topology must be a dict")
            continue
        _unknown_keys(topo, TOPOLOGY_KEYS, label, problems)
        spoke_to_spoke = _flag(topo, "spoke_to_spoke", False, label, problems)
        name = topo.get("name")
        if not name or not NAME_RE.match(str(name)):
            problems.add(label, "name", "%r is not usable as a tunnel name prefix" % (name,))
            continue
        defaults = topo.get("defaults") or {}
        if not isinstance(defaults, dict):
            problems.add(label, "defaults", "must be a dict of tunnel keys")
            defaults = {}
        owned = set(defaults) & TOPOLOGY_OWNED_KEYS
        if owned:
            problems.add(label, "defaults", "%s cannot be set in defaults: the topology sets them (subnets come from "
                         "each member's sitevpn_subnets)" % ", ".join(sorted(owned)))
        defaults = dict((k, v) for k, v in defaults.items() if k not in TOPOLOGY_OWNED_KEYS)
        _unknown_keys(defaults, TUNNEL_KEYS - TOPOLOGY_OWNED_KEYS, label, problems, field="defaults")
        members = []
        if ("hub" in topo) == ("mesh" in topo):
            problems.add(label, "hub/mesh", "give either hub (with spokes) or mesh (a list of hosts)")
            continue
        if "hub" in topo:
            hub, spokes = topo["hub"], topo.get("spokes") or []
            if not isinstance(spokes, (list, tuple)):
                problems.add(label, "spokes", "must be a list of inventory hosts")
                continue
            members = [hub] + list(spokes)
            if not spokes:
                problems.add(label, "spokes", "a hub needs at least one spoke")
        else:
            members = topo.get("mesh") or []
            if not isinstance(members, (list, tuple)):
                problems.add(label, "mesh", "must be a list of inventory hosts")
                continue
            members = list(members)
            if len(members) < 2:
                problems.add(label, "mesh", "a mesh needs at least two hosts")
        if not all(isinstance(m, str) for m in members):
            problems.add(label, "hub/spokes/mesh", "every member must be an inventory hostname (a string)")
            continue
        missing = [m for m in members if m not in hostvars]
        if missing:
            problems.add(label, "hub/spokes/mesh", "not in the inventory: %s" % ", ".join(map(str, missing)))
            continue
        subnets = dict((m, _host_subnets(m, hostvars, label, "sitevpn_subnets of %s" % m, problems)) for m in members)
        if "hub" in topo:
            tunnels.extend(_hub_tunnels(name, hub, spokes, subnets, spoke_to_spoke, defaults, hostvars))
        else:
            tunnels.extend(_mesh_tunnels(name, members, subnets, defaults, hostvars))
    return tunnels


def _hub_tunnels(name, hub, spokes, subnets, spoke_to_spoke, defaults, hostvars):
    """The tunnels of a checked hub-and-spoke topology: ``<name>-<spoke>``, the hub left, the spoke initiating."""
    tunnels = []
    for spoke in spokes:
        hub_side = list(subnets[hub])
        if spoke_to_spoke:
            hub_side += [n for other in spokes if other != spoke for n in subnets[other]]
        tunnel = dict({"initiator": "right", "probe": _topology_probe(spoke, hub, hostvars)}, **defaults)
        tunnel.update(name="%s-%s" % (name, spoke), left=hub, right=spoke,
                      left_subnets=hub_side, right_subnets=subnets[spoke])
        if tunnel.get("mode") == "route" and "right_selectors" not in tunnel:
            # the hub's route-based tunnels cannot all offer 0/0 <-> 0/0 (one Child SA per pair of selectors):
            # each narrows the spoke's side to the spoke's LANs; the hub's side stays 0/0, so the hub's LANs
            # and the other spokes' stay routes
            tunnel["right_selectors"] = list(subnets[spoke])
        if tunnel.get("probe") is None:
            tunnel.pop("probe")
        tunnels.append(tunnel)
    return tunnels


def _mesh_tunnels(name, members, subnets, defaults, hostvars):
    """The tunnels of a checked full mesh: ``<name>-<a>-<b>`` for every pair, in inventory-name order."""
    tunnels = []
    ordered = sorted(members)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            tunnel = dict({"probe": _topology_probe(a, b, hostvars)}, **defaults)
            tunnel.update(name="%s-%s-%s" % (name, a, b), left=a, right=b,
                          left_subnets=subnets[a], right_subnets=subnets[b])
            if tunnel.get("probe") is None:
                tunnel.pop("probe")
            tunnels.append(tunnel)
    return tunnels
