# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: what to do about each kind of failure ``parse_auto_up`` reports."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sitevpn.ipsec.plugins.module_utils._conn import (
    DEFAULT_ESP_V1, DEFAULT_ESP_V2, DEFAULT_IKE_V1, DEFAULT_IKE_V2, selectors)

_REMEDIES = {
    "auth_failed": (
        "The two ends do not agree on the keys: with RSA, each end's {peer}rsasigkey must be the peer's "
        "`ipsec showhostkey --{peer_side}` value (run the keys role again on both ends); with a PSK, the "
        "secrets on both ends differ, or the IDs ({left_id} / {right_id}) do not select the same secret."),
    "no_proposal": (
        "The ends share no algorithm. This end offers ike={ike} esp={esp}; what the peer accepts is in its own "
        "configuration and log (peer_config.yml writes both proposals for its administrator). Set `ike`/`esp` of "
        "the tunnel to something the peer accepts (`ipsec status` shows what each end loaded)."),
    "timeout": (
        "No answer from the peer {peer_address} on UDP 500/4500: check that the peer is up and pluto runs there, "
        "that firewalls on the way allow UDP 500, 4500 and ESP, and that this gateway has a route to it."),
    "no_connection": "pluto has no connection of that name: the conn file was not loaded (run the tunnel role again).",
    "not_loaded": "pluto is not running or cannot use this conn: `systemctl status ipsec`, then `ipsec status`.",
    "dh_group": (
        "The peer answered IKE_SA_INIT {ke_count} with INVALID_KE_PAYLOAD, asking for {suggested} (DH group "
        "{group_number}){ke_loop}. Give the tunnel an `ike` proposal whose DH group the peer can do (this end "
        "offers ike={ike}; e.g. `ike: aes_gcm256-sha2;modp3072` for a peer without elliptic curves), or fix the "
        "peer's crypto configuration."),
    "no_ike_auth": (
        "The peer {peer_address} answered IKE_SA_INIT but never IKE_AUTH ({retransmits} retransmits): the path "
        "drops the larger IKE_AUTH packets (IP fragments), or UDP 4500 (IKE moves there when it sees NAT). "
        "Allow UDP 4500 and IP fragments both ways, or let IKE fragment itself: Libreswan offers IKEv2 "
        "fragmentation (RFC 7383, `fragmentation=yes`, its default) and it works when the peer has it on too. "
        "The peer's log tells whether IKE_AUTH arrived and was refused without an answer."),
    "child_unanswered": (
        "The peer {peer_address} has an IKE SA with this gateway but left the request for a Child SA on it "
        "unanswered ({retransmits} retransmits){retried}. Both ends bringing the tunnel "
        "up in the same second can leave one of them with an IKE SA the other no longer serves: "
        "`ipsec auto --down` the tunnel on both ends and run again; the peer's log tells why it did not answer."),
    "ts_unacceptable": (
        "The peer refused the traffic selectors: its subnets must mirror this end's ({left_subnets} <-> "
        "{right_subnets}), with the same prefix lengths, in the same order."),
    "config": (
        "The peer refused the traffic selectors or settings: both ends must use the same subnets "
        "({left_subnets} <-> {right_subnets}) and IKE version."),
    "other": "Read the pluto log (`journalctl -u ipsec`) around this time for the reason.",
}


def _ids(facts, our_id=None):
    """' In this attempt this end sent ID x and the peer sent ID y.' - as pluto logged them (5.x names the ID
    it sends; 4.10 does not, and then it is the conn's own ID)."""
    words = []
    if facts.get("our_id") or our_id:
        words.append("this end sent ID '%s'" % (facts.get("our_id") or our_id))
    if facts.get("peer_id"):
        words.append("the peer sent ID '%s'" % facts["peer_id"])
    return (" In this attempt %s." % " and ".join(words)) if words else ""


def remedy_for(kind, tunnel=None, facts=None):
    """What to do about an error of *kind*, with the tunnel's values and the facts of the attempt
    (``_attempt.analyse``: the DH group asked for, the IDs sent ...) filled in."""
    tunnel = tunnel or {}
    facts = facts or {}
    local = tunnel.get("local", "left")
    peer_side = "right" if local == "left" else "left"
    v1 = tunnel.get("ike_version") == 1
    values = {
        "peer": peer_side,
        "peer_side": peer_side,
        "left_id": (tunnel.get("left") or {}).get("id", "?"),
        "right_id": (tunnel.get("right") or {}).get("id", "?"),
        "ike": tunnel.get("ike") or (DEFAULT_IKE_V1 if v1 else DEFAULT_IKE_V2),
        "esp": tunnel.get("esp") or (DEFAULT_ESP_V1 if v1 else DEFAULT_ESP_V2),
        "peer_address": (tunnel.get(peer_side) or {}).get("address", "the peer"),
        "left_subnets": ",".join((tunnel.get("left") or {}).get("subnets", [])),
        "right_subnets": ",".join((tunnel.get("right") or {}).get("subnets", [])),
        "suggested": facts.get("suggested") or "?",
        "group_number": facts.get("number") or "?",
        "ke_count": "once" if facts.get("count", 0) == 1 else "%s times" % facts.get("count", "several"),
        "ke_loop": (" and went on refusing it when this end sent it: it cannot do that group"
                    if facts.get("loop") else ", a group this end then could not use or the peer did not go on with"),
        "retransmits": facts.get("retransmits", "several"),
        "retried": ", and again on a fresh IKE SA" if facts.get("retried") else "",
    }
    if tunnel.get("mode") == "route" and tunnel.get("left") and tunnel.get("right"):
        # what a route-based tunnel really offers: the subnets are routes, not selectors
        values["left_subnets"] = ",".join(selectors(tunnel, "left"))
        values["right_subnets"] = ",".join(selectors(tunnel, "right"))
    text = _REMEDIES.get(kind, _REMEDIES["other"]).format(**values)
    if kind == "ts_unacceptable" and tunnel.get("mode") == "route":
        text += (" This tunnel is route-based: the peer needs a route-based conn too, and no other conn holding "
                 "the same selectors (Libreswan 4.10: \"cannot install eroute -- it is in use\" in the peer's log).")
    if kind == "auth_failed" and tunnel.get("auth") == "cert":
        text = ("The peer's certificate, or ours, was refused (the NSS reason is in the line above: revoked, expired, "
                "another CA, another ID). Re-run playbooks/site-to-site.yml with the same sitevpn_ca_dir for both "
                "ends: the keys role re-issues what is not good.")
    if kind == "auth_failed":
        text += _ids(facts, (tunnel.get(local) or {}).get("id"))
    return text


#: Kinds the whole attempt shows better than one line of ``ipsec up`` (which may say only "timeout").
_ATTEMPT_WINS = (None, "timeout", "other", "config", "no_proposal")


def up_error(parsed, rc, timeout, attempt=None):
    """The error of an ``ipsec up`` that did not establish, from its parsed output and exit code, and
    *attempt* (``_attempt.analyse`` over that output and pluto's log of the attempt).

    The attempt's cause (INVALID_KE_PAYLOAD loop, IKE_AUTH unanswered)
    wins over what whack's output alone suggests. Exit 124 is coreutils ``timeout`` stopping whack:
    unless something more decisive is known, that is a ``timeout`` (no answer), not the last
    retransmission line the parser saw. The attempt's facts (IDs sent ...) ride along in ``facts``.
    """
    error = _up_error(parsed, rc, timeout)
    if attempt:
        if attempt.get("kind") and error["kind"] in _ATTEMPT_WINS:
            error = {"kind": attempt["kind"], "line": attempt["line"]}
        error = dict(error, facts=attempt.get("facts") or {})
    return error


def _up_error(parsed, rc, timeout):
    error = parsed.get("error")
    if rc == 124 and (error is None or error.get("kind") == "other"):
        return {"kind": "timeout", "line": "no Child SA within %d s (`timeout` stopped `ipsec up`)" % timeout}
    if error is None:
        return {"kind": "other", "line": "no established Child SA after `ipsec up` (exit %d)" % rc}
    return error
