# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _model


class ActionModule(ActionBase):
    """Check the whole tunnel list on the controller; runs nothing on any host."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("tunnels", "topologies", "gateways", "allow_weak"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        hostvars = task_vars.get("hostvars", {})
        tunnels = args.get("tunnels", task_vars.get("sitevpn_tunnels", []))
        try:
            allow_weak = _model.strict_bool(args.get("allow_weak", task_vars.get("sitevpn_allow_weak_crypto", False)))
        except TypeError:
            raise AnsibleActionFail("sitevpn_allow_weak_crypto must be true or false")
        try:
            normalized, warnings = _model.normalize(
                tunnels, hostvars, allow_weak=allow_weak,
                topologies=args.get("topologies", task_vars.get("sitevpn_topologies")),
                own_ike_sa=task_vars.get("sitevpn_own_ike_sa", True))
        except _model.ModelError as exc:
            raise AnsibleActionFail(exc.message, result={"problems": [
                {"tunnel": t, "field": f, "problem": p} for t, f, p in exc.problems]})
        gateways = args.get("gateways")
        problems = []
        if gateways is not None:
            play = set(gateways)
            for tunnel in normalized:
                for side in ("left", "right"):
                    host = tunnel[side]["host"]
                    if host and host not in play:
                        problems.append((tunnel["name"], side, "host %s is an end of this tunnel but not a target of "
                                         "this play (add it to the gateways group)" % host))
        if problems:
            raise AnsibleActionFail(_model.ModelError(problems).message)
        per_host = {}
        for tunnel in normalized:
            for side in ("left", "right"):
                if tunnel[side]["host"]:
                    per_host.setdefault(tunnel[side]["host"], []).append(tunnel["name"])
        for warning in warnings:
            self._display.warning(warning)
        result.update(changed=False, tunnels=[t["name"] for t in normalized], gateways=per_host,
                      warnings_found=warnings,
                      msg="%d tunnels on %d gateways, all checked" % (len(normalized), len(per_host)))
        return result
