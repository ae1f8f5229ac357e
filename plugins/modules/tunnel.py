#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: tunnel
short_description: Bring one Libreswan connection to a state (loaded, up, down, deleted, re-read)
version_added: 0.1.0
description:
  - Works on one named conn whose configuration is already on disk (C(/etc/ipsec.conf) or C(/etc/ipsec.d/*.conf));
    it writes no files. To write and converge all tunnels of a gateway, see M(sitevpn.ipsec.conns).
  - The state before and after is read from C(ipsec status) and C(ipsec trafficstatus), never from exit codes
    alone. Libreswan 4.10 prints nothing and exits 0 when C(ipsec auto --add) fails under Ansible, and
    C(ipsec auto --up) can exit 0 while the Child SA was refused.
  - Speaks both dialects of the CLI, C(ipsec auto --up NAME) on Libreswan 4.x and C(ipsec up NAME) on 5.x.
  - When bringing a tunnel up fails, the module takes it down again (C(--down)) so that pluto stops retrying,
    then fails with the kind of error, the line pluto printed and what to do about it.
author:
  - sitevpn maintainers (@sitevpn)
extends_documentation_fragment:
  - sitevpn.ipsec.attributes
options:
  name:
    description: Name of the conn (as in C(conn NAME)).
    type: str
    required: true
  state:
    description:
      - V(added) - loaded into pluto (C(--add) if it is not). A tunnel that is up stays up.
      - V(up) - an established Child SA. Loads the conn if needed, then C(--up) and waits up to O(timeout)
        seconds. An established tunnel is left untouched.
      - V(down) - no SAs (C(--down)); the conn stays loaded. Also stops pluto retrying a half-open negotiation.
      - V(absent) - deleted from pluto (C(--delete)); the files stay.
      - V(replaced) - re-read from the files (C(--replace)), and brought up again if it was up before. Always
        reports a change - pluto cannot tell whether the files differ from what it loaded, so this is the
        state to use after editing a conn file by hand (or from a handler).
    type: str
    choices: [added, up, down, absent, replaced]
    default: up
  timeout:
    description:
      - Seconds to wait for the Child SA with O(state=up) (or O(state=replaced) of a tunnel that was up).
      - C(ipsec up) itself waits up to 60 s for an unanswered peer; it is cut off after this time.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
    details: Reads C(ipsec status) and reports what would be done; nothing is loaded, started or stopped.
  diff_mode:
    support: full
    details: The tunnel's state (absent / added / up) before and after.
  idempotent:
    support: partial
    details: Idempotent for V(added), V(up), V(down), V(absent); V(replaced) always changes, by design.
notes:
  - O(state=up) on the responder end also works; the peer must have the conn loaded (state V(added)).
  - Error kinds are those of the collection's output parser - C(auth_failed), C(no_proposal), C(ts_unacceptable),
    C(timeout), C(no_connection), C(not_loaded), C(config), C(other) - and, when pluto's log of the attempt
    (its logfile, the journal or syslog) shows more than C(ipsec up) printed, C(dh_group) (the peer answers
    INVALID_KE_PAYLOAD, naming the DH group it wants), C(no_ike_auth) (IKE_SA_INIT answered, IKE_AUTH never)
    or C(child_unanswered) (an IKE SA is up, the request for a Child SA on it got no answer).
"""

EXAMPLES = r"""
- name: Bring the tunnel up
  sitevpn.ipsec.tunnel:
    name: net-to-net
    state: up
    timeout: 30

- name: Re-read a conn file edited by hand, keep it up if it was
  sitevpn.ipsec.tunnel:
    name: net-to-net
    state: replaced

- name: Take it down (stays loaded)
  sitevpn.ipsec.tunnel:
    name: net-to-net
    state: down
"""

RETURN = r"""
state_before:
  description: V(absent) (not loaded), V(added) (loaded, no Child SA) or V(up) (established Child SA).
  returned: always
  type: str
state:
  description: The state after this run (in check mode, the state it would have).
  returned: always
  type: str
established:
  description: Whether the tunnel has an established Child SA now.
  returned: always
  type: bool
ike_version:
  description: IKE version of the conn (from C(ipsec up) output or the conn's policy).
  returned: always
  type: int
ike_sa:
  description: The IKE SA reported by C(ipsec up) (serial, algorithms); V(null) when C(up) did not run.
  returned: always
  type: dict
child_sas:
  description: Child SAs reported by C(ipsec up) (serial, SPIs, mode, algorithms ...); empty when it did not run.
  returned: always
  type: list
  elements: dict
sas:
  description: C(ipsec trafficstatus) entries of this tunnel (serial, in_bytes, out_bytes, id ...), when up.
  returned: always
  type: list
  elements: dict
error:
  description: Why the tunnel did not come up - C(kind), C(line) (what pluto printed) and C(remedy).
  returned: failure
  type: dict
output:
  description: The lines C(ipsec up) printed, on failure.
  returned: failure
  type: list
  elements: str
commands:
  description: Every argv that ran (or, in check mode, would have run).
  returned: always
  type: list
  elements: dict
"""

import glob
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sitevpn.ipsec.plugins.module_utils import ipsec_output
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _attempt
from ansible_collections.sitevpn.ipsec.plugins.module_utils._files import read_tail
from ansible_collections.sitevpn.ipsec.plugins.module_utils._remedy import remedy_for, up_error
from ansible_collections.sitevpn.ipsec.plugins.module_utils._runner import IpsecError, IpsecRunner

#: Where conns are read from to tell left from right for the remedy sentence (constants for unit tests).
IPSEC_CONF = "/etc/ipsec.conf"
IPSEC_D = "/etc/ipsec.d"

# one end of a status summary: '172.16.1.0/24===198.51.100.10[@vpn1]' / '198.51.100.10[@vpn1]---198.51.100.1'
_END_RE = re.compile(r'^(?:(?P<subnet>[^=\[]+)===)?(?P<address>[^\[=\s-]+)(?:<[^>]*>)?(?:\[(?P<id>[^\]]*)\])?')


def _end(text, reverse=False):
    """``{address, id, subnets}`` of one side of a ``ipsec status`` summary line."""
    if not text:
        return {}
    if reverse:
        # remote side reads 'address[id]===subnet'
        parts = text.split("===")
        head, subnet = parts[0], parts[1] if len(parts) > 1 else None
        text = "%s===%s" % (subnet, head) if subnet else head
    match = _END_RE.match(text)
    if not match:
        return {}
    end = {"address": match.group("address")}
    if match.group("id"):
        end["id"] = match.group("id")
    if match.group("subnet"):
        end["subnets"] = [match.group("subnet")]
    return end


def _local_side(name, local_address):
    """'left' or 'right' - which end of ``conn NAME`` in the files this host is (left when unknown)."""
    paths = [IPSEC_CONF] + sorted(glob.glob(os.path.join(IPSEC_D, "*.conf")))
    for path in paths:
        try:
            with open(path) as handle:
                lines = handle.read().splitlines()
        except (IOError, OSError):
            continue
        inside = False
        for line in lines:
            if line and not line[0].isspace():
                inside = line.split("#", 1)[0].split() == ["conn", name]
                continue
            if inside:
                key, _sep, value = line.strip().partition("=")
                if key.strip() in ("left", "right") and value.strip() == local_address:
                    return key.strip()
    return "left"


def tunnel_from_status(name, conn):
    """The bits of a tunnel dict that ``remedy_for`` uses, read from the conn as pluto loaded it."""
    if not conn:
        return None
    local, remote = _end(conn.get("local")), _end(conn.get("remote"), reverse=True)
    side = _local_side(name, local.get("address"))
    peer = "right" if side == "left" else "left"
    fields = conn.get("fields", {})
    return {
        "local": side, side: local, peer: remote,
        "ike": fields.get("IKE algorithms"), "esp": fields.get("ESP algorithms"),
        "policy": conn.get("policy"),
    }


class Tunnel(object):
    def __init__(self, module):
        self.module = module
        self.name = module.params["name"]
        self.runner = IpsecRunner(module)
        self.up_result = None
        self.conn = None
        self.last_sas = None

    # -- reading ------------------------------------------------------------------------

    def read(self):
        """(state, status connection dict or None, whether any SA of the conn exists)."""
        result = self.runner.verb("status", mutating=False)
        error = ipsec_output.detect_error(result.text)
        if result.rc != 0 and error and error["kind"] == "not_loaded":
            raise IpsecError("tunnel %s: pluto is not running (%s). %s"
                             % (self.name, error["line"].strip(), remedy_for("not_loaded")),
                             error={"kind": "not_loaded", "line": error["line"], "remedy": remedy_for("not_loaded")})
        if result.rc != 0:
            raise IpsecError("tunnel %s: `ipsec status` failed (exit %d): %s"
                             % (self.name, result.rc, result.text.strip() or "no output"))
        status = ipsec_output.parse_status(result.text)
        conns = self._mine(status["connections"])
        if not conns:
            return "absent", None, False
        established = ipsec_output.established_children(status)
        names = set(conn["name"] for conn in conns)
        any_state = any(state["name"] in names for state in status["states"])
        state = "up" if names <= established else "added"
        self.conn = conns[0]
        return state, conns[0], any_state

    def _mine(self, connections):
        """The conn, or its sub-connections NAME/1x1 ... (leftsubnets=)."""
        return [conn for key, conn in sorted(connections.items())
                if conn["instance"] is None and (conn["name"] == self.name or conn["name"].startswith(self.name + "/"))]

    def sas(self):
        self.last_sas = [dict((key, value) for key, value in sa.items() if key != "line")
                         for sa in self.runner.traffic()
                         if sa["name"] == self.name or sa["name"].startswith(self.name + "/")]
        return self.last_sas

    # -- acting -------------------------------------------------------------------------

    def load(self, verb):
        """``--add`` / ``--replace`` and prove it with ``ipsec status`` (4.10 --add says nothing)."""
        result = self.runner.verb(verb, self.name)
        if result.skipped:
            return None
        state, conn, _any = self.read()
        if state == "absent":
            parsed = ipsec_output.parse_add(result.text, name=self.name)
            error = parsed["error"] or {"kind": "not_loaded" if parsed["loaded"] is None else "config",
                                        "line": result.text.strip() or "(no output; exit %d)" % result.rc}
            if error["kind"] == "config" or parsed["loaded"] is None:
                remedy = ("fix conn %s (`ipsec addconn --checkconfig` on 4.x shows most errors; the pluto log "
                          "`journalctl -u ipsec` the rest)" % self.name)
            else:
                remedy = remedy_for(error["kind"])
            raise IpsecError("tunnel %s: pluto did not load it (%s: %s). %s"
                             % (self.name, error["kind"], error["line"], remedy),
                             error={"kind": error["kind"], "line": error["line"], "remedy": remedy})
        return conn

    def up(self, conn):
        timeout = self.module.params["timeout"]
        started = time.time()
        result = self.runner.verb("up", self.name, timeout=timeout)
        if result.skipped:
            return
        parsed = ipsec_output.parse_auto_up(result.text)
        self.up_result = parsed
        sas = self.sas() if parsed["established"] else []
        if parsed["established"] and sas:
            return
        tunnel = tunnel_from_status(self.name, conn)
        _source, log = _attempt.read_log(self.runner, read_tail, "@%d" % int(started - 1))
        error = up_error(parsed, result.rc, timeout, _attempt.analyse(result.text.splitlines() + log, self.name))
        # pluto keeps retrying a failed conn (keyingtries): stop it
        self.runner.verb("down", self.name)
        remedy = remedy_for(error["kind"], tunnel, error.get("facts"))
        if error["kind"] == "no_proposal" and tunnel:
            remedy += " This end's conn policy: %s." % (tunnel.get("policy") or "unknown")
        raise IpsecError("tunnel %s did not come up: %s (%s). %s" % (self.name, error["kind"], error["line"], remedy),
                         error={"kind": error["kind"], "line": error["line"], "remedy": remedy},
                         output=parsed["lines"])

    def converge(self):
        wanted = self.module.params["state"]
        before, conn, any_sa = self.read()
        after = before
        changed = False
        if wanted in ("added", "up") and before == "absent":
            conn = self.load("add") or conn
            changed, after = True, "added"
        if wanted == "up" and after != "up":
            self.up(conn)
            changed, after = True, "up"
        elif wanted == "down" and before != "absent" and (before == "up" or any_sa):
            self.runner.verb("down", self.name)
            changed, after = True, "added"
        elif wanted == "absent" and before != "absent":
            self.runner.verb("delete", self.name)
            changed, after = True, "absent"
            if not self.module.check_mode and self.read()[0] != "absent":
                raise IpsecError("tunnel %s: still loaded after `delete`; read the pluto log (`journalctl -u ipsec`)"
                                 % self.name)
        elif wanted == "replaced":
            conn = self.load("replace") or conn
            changed, after = True, "added"
            if before == "up":
                self.up(conn)
                after = "up"
        return before, after, changed


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="up", choices=["added", "up", "down", "absent", "replaced"]),
            timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    if module.params["timeout"] < 1:
        module.fail_json(msg="timeout must be at least 1 second")
    tunnel = None
    try:
        tunnel = Tunnel(module)
        before, after, changed = tunnel.converge()
        sas = []
        if after == "up" and not module.check_mode:
            sas = tunnel.last_sas if tunnel.last_sas is not None else tunnel.sas()
    except IpsecError as exc:
        details = dict(exc.details)
        if tunnel is not None:
            details["commands"] = tunnel.runner.commands
        module.fail_json(msg=exc.msg, **details)
    parsed = tunnel.up_result or {}
    result = dict(
        changed=changed,
        name=module.params["name"],
        state_before=before,
        state=after,
        established=after == "up",
        ike_version=parsed.get("ike_version") or (tunnel.conn or {}).get("ike_version"),
        ike_sa=parsed.get("ike_sa"),
        child_sas=parsed.get("child_sas", []),
        sas=sas,
        commands=tunnel.runner.commands,
    )
    if module._diff:
        result["diff"] = {"before": {"state": before}, "after": {"state": after}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
