# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: what to do about each kind of failure ``parse_auto_up`` reports."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

_REMEDIES = {
    "auth_failed": (
        "The two ends do not agree on the keys: with RSA, each end's {peer}rsasigkey must be the peer's "
        "`ipsec showhostkey --{peer_side}` value (run the keys role again on both ends); with a PSK, the "
        "secrets on both ends differ, or the IDs ({left_id} / {right_id}) do not select the same secret."),
    "no_proposal": (
        "The ends share no algorithm. This end offers ike={ike} esp={esp}; set `ike`/`esp` of the tunnel "
        "to something the peer accepts (`ipsec status` shows what each end loaded)."),
    "timeout": (
        "No answer from the peer {peer_address} on UDP 500/4500: check that the peer is up and pluto runs there, "
        "that firewalls on the way allow UDP 500, 4500 and ESP, and that this gateway has a route to it."),
    "no_connection": "pluto has no connection of that name: the conn file was not loaded (run the tunnel role again).",
    "not_loaded": "pluto is not running or cannot use this conn: `systemctl status ipsec`, then `ipsec status`.",
    "config": (
        "The peer refused the traffic selectors or settings: both ends must use the same subnets "
        "({left_subnets} <-> {right_subnets}) and IKE version."),
    "other": "Read the pluto log (`journalctl -u ipsec`) around this time for the reason.",
}


def remedy_for(kind, tunnel=None):
    tunnel = tunnel or {}
    local = tunnel.get("local", "left")
    peer_side = "right" if local == "left" else "left"
    values = {
        "peer": peer_side,
        "peer_side": peer_side,
        "left_id": (tunnel.get("left") or {}).get("id", "?"),
        "right_id": (tunnel.get("right") or {}).get("id", "?"),
        "ike": tunnel.get("ike") or "(default)",
        "esp": tunnel.get("esp") or "(default)",
        "peer_address": (tunnel.get(peer_side) or {}).get("address", "the peer"),
        "left_subnets": ",".join((tunnel.get("left") or {}).get("subnets", [])),
        "right_subnets": ",".join((tunnel.get("right") or {}).get("subnets", [])),
    }
    return _REMEDIES.get(kind, _REMEDIES["other"]).format(**values)


def up_error(parsed, rc, timeout):
    """The error of an ``ipsec up`` that did not establish, from its parsed output and exit code.

    Exit 124 is coreutils ``timeout`` stopping whack: unless the output already names a more decisive
    cause, that is a ``timeout`` (no answer), not the last retransmission line the parser saw.
    """
    error = parsed.get("error")
    if rc == 124 and (error is None or error.get("kind") == "other"):
        return {"kind": "timeout", "line": "no Child SA within %d s (`timeout` stopped `ipsec up`)" % timeout}
    if error is None:
        return {"kind": "other", "line": "no established Child SA after `ipsec up` (exit %d)" % rc}
    return error
