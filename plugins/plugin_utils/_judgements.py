# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private, controller side: the judgement of one tunnel - its checks and findings, step by step.

``_judge`` runs the steps in order (the ends that could be read, pluto and the conn, the log, the IKE
path, forwarding/routes/NAT/forward chain, the probe, the SAs and ``ipsec verify``); each step reads and
writes a ``_Judgement`` (what the steps hand on to each other) and records into a ``_Tunnel`` (the
checks and findings, each finding with its remedy and evidence). The evidence comes from ``_evidence``.

Split out of plugins/filter/diagnosis.py, which keeps the filter itself (ranking the findings, the
verdict, the report), so that each file reads as one thing. Imports ``_evidence``, never the filter.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sitevpn.ipsec.plugins.module_utils import _attempt, _firewall, _packet_filter
from ansible_collections.sitevpn.ipsec.plugins.module_utils._remedy import remedy_for
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._cert_judgement import CERT_CAUSES, certificate_causes
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._evidence import _delta, _wire_lines, wire_evidence

# verify checks that other checks of the diagnose already judge (with better evidence)
_VERIFY_COVERED = re.compile(r"pluto|forward|listening|NAT|MASQUERAD|ip_forward", re.I)


class _Tunnel(object):
    """Findings and checks of one tunnel while they are collected."""

    def __init__(self, tunnel):
        self.tunnel = tunnel
        self.name = tunnel["name"]
        self.findings = []
        self.checks = []

    def check(self, check, gateway, status, summary, evidence=None):
        self.checks.append({"check": check, "gateway": gateway, "status": status, "summary": summary,
                            "evidence": [e for e in (evidence or []) if e]})

    def finding(self, cause, severity, gateway, remedy, evidence=None):
        for existing in self.findings:
            if existing["cause"] == cause and existing["gateway"] == gateway:
                return
        self.findings.append({"cause": cause, "severity": severity, "gateway": gateway, "remedy": remedy,
                              "evidence": [e for e in (evidence or []) if e]})

    def has(self, *causes):
        return any(f["cause"] in causes for f in self.findings)


def _remedy_key(tunnel, t):
    if tunnel["auth"] == "psk":
        return ("The pre-shared keys of {name} on {a} and {b} differ (/etc/ipsec.d/{name}.secrets, or the IDs "
                "{ida} / {idb} select another secret). Re-run playbooks/site-to-site.yml: it writes the same key on "
                "both ends; by hand, put the same PSK on both, `ipsec auto --rereadsecrets` on both, then "
                "`ipsec auto --up {name}` on {init}.")
    if tunnel["auth"] == "cert":
        return ("The certificates of {name} on {a} and {b} were refused (pluto's log says why). Re-run "
                "playbooks/site-to-site.yml: the keys role re-issues what is not good, then `ipsec auto --up {name}` on {init}.")
    return ("Each end's {{left,right}}rsasigkey must be the peer's `ipsec showhostkey` value: the RSA keys of {name} "
            "on {a} and {b} do not match (a key regenerated, or a conn edited by hand). Re-run "
            "playbooks/site-to-site.yml (the keys role publishes each host key, the tunnel role writes both conns), "
            "then `ipsec auto --up {name}` on {init}.")


class _Judgement(object):
    """What the steps of one tunnel's judgement hand on to each other (see :func:`_judge`)."""

    def __init__(self, **values):
        self.__dict__.update(values)


def _readable_ends(c):
    """The managed ends whose facts could be read (the others are findings), and the words the remedies use."""
    ends, t, tunnel = c.ends, c.t, c.tunnel
    name = tunnel["name"]
    initiator = tunnel[tunnel["initiator"]]
    init_host = initiator.get("host")
    managed = [e for e in ends if e[1]["managed"]]
    names = dict((e[0], e[1]["name"]) for e in ends)
    fmt = {"name": name, "a": names.get("left"), "b": names.get("right"), "init": initiator.get("host")
           or initiator.get("address"), "ida": tunnel["left"]["id"], "idb": tunnel["right"]["id"]}

    readable = []
    for side, end, facts, why, tf, capture in managed:
        host = end["host"]
        if facts is None:
            t.check("facts", host, "fail", why)
            t.finding("gateway not read", "unknown", host,
                      "Check that Ansible reaches %s (ssh, become) and that it is in the play (no --limit leaving it "
                      "out), then run the diagnose again." % host, [why])
            continue
        t.check("facts", host, "ok", "read (%s)" % ", ".join(
            ["Libreswan %s" % facts.get("version") if facts.get("version") else "no Libreswan",
             "log: %s" % ((facts.get("log") or {}).get("source") or "none")]))
        readable.append((side, end, facts, tf or {}, capture))
    c.fmt, c.init_host, c.managed, c.name, c.readable = fmt, init_host, managed, name, readable


def _judge_pluto(c):
    """pluto running and the conn loaded on each readable end, and whether its Child SA is there."""
    managed, name, readable, t = c.managed, c.name, c.readable, c.t
    for side, end, facts, tf, capture in readable:
        host, pluto = end["host"], facts.get("pluto") or {}
        if not facts.get("installed", True):
            t.check("pluto", host, "fail", "Libreswan is not installed")
            t.finding("Libreswan not installed", "down", host,
                      "Run playbooks/site-to-site.yml (the install role installs and starts Libreswan).",
                      [pluto.get("status_error")])
            continue
        if not pluto.get("running"):
            t.check("pluto", host, "fail", "pluto is not running (systemctl is-active ipsec: %s)"
                    % pluto.get("service"), [pluto.get("status_error")])
            t.finding("pluto stopped", "down", host,
                      "On %s: `systemctl start ipsec` (and `systemctl enable ipsec` so it starts at boot); "
                      "`journalctl -u ipsec` says why it stopped%s. The peer brings the tunnel back up by itself "
                      "once pluto answers." % (host, " - the service is in state 'failed'"
                                               if pluto.get("service") == "failed" else ""),
                      ["%s: ipsec status: %s" % (host, pluto.get("status_error")),
                       "%s: systemctl is-active ipsec: %s" % (host, pluto.get("service"))])
            continue
        t.check("pluto", host, "ok", "pluto is running (%s)" % (pluto.get("service") or "no systemd"))
        if not tf.get("loaded"):
            t.check("conn", host, "fail", "conn %s is not loaded" % name)
            t.finding("conn not loaded", "down", host,
                      "On %s: `ipsec auto --add %s` (Libreswan 5: `ipsec add %s`), or re-run "
                      "playbooks/site-to-site.yml; `ipsec addconn --checkconfig` shows configuration errors."
                      % (host, name, name), ["%s: `ipsec status` lists no conn %s" % (host, name)])
            continue
        t.check("conn", host, "ok", "conn loaded (%s)" % (", ".join(tf.get("routing") or []) or "unrouted"))

    up = dict((e[1]["host"], bool(e[3].get("child_sa"))) for e in readable)
    running = [e for e in readable if (e[2].get("pluto") or {}).get("running") and e[3].get("loaded")]
    all_up = bool(readable) and len(readable) == len(managed) and all(up.values())
    for side, end, facts, tf, capture in running:
        host = end["host"]
        evidence = tf.get("states") or []
        if tf.get("child_sa"):
            ike_words = "established" if tf.get("ike_sa") else "not established"
            t.check("sa", host, "ok", "IKE SA %s, Child SA established" % ike_words, evidence)
        elif tf.get("ike_pending"):
            t.check("sa", host, "fail", "no Child SA; IKE SA still waiting for the peer (%s)"
                    % "; ".join(tf["ike_pending"]), evidence)
        else:
            t.check("sa", host, "fail", "no Child SA%s" % (", IKE SA established" if tf.get("ike_sa") else ""),
                    evidence)
    c.all_up, c.running, c.up = all_up, running, up


def _judge_log(c):
    """The log: the seed's /var/log/messages lines since the last Child SA, and the findings they name."""
    all_up, fmt, readable, t, tunnel = c.all_up, c.fmt, c.readable, c.t, c.tunnel
    current = {}
    for side, end, facts, tf, capture in readable:
        host = end["host"]
        log = tf.get("log") or {}
        kinds = log.get("current") or {}
        for kind, seen in kinds.items():
            current.setdefault(kind, []).append((host, seen))
        if kinds:
            status = "fail" if set(kinds) - {"retransmit"} else ("ok" if tf.get("child_sa") else "warn")
            counts = ", ".join("%s x%d" % (k, v["count"]) for k, v in sorted(kinds.items()))
            t.check("log", host, status, "since the last Child SA came up (%s): %s" % (
                log.get("last_up") or "not in the log", counts),
                ["%s: %s" % (host, v["line"]) for k, v in sorted(kinds.items())])
        else:
            t.check("log", host, "ok", "no failure since the last Child SA came up (%s)%s%s" % (
                log.get("last_up") or "not in the log",
                "; earlier: %s" % ", ".join("%s x%d" % kv for kv in sorted((log.get("past") or {}).items()))
                if log.get("past") else "",
                # pluto logs a refused negotiation under the first conn between the two addresses
                "; not this tunnel's: negotiations with the peer ID %s, logged under its name" % ", ".join(
                    "%s (x%d)" % kv for kv in sorted((log.get("foreign") or {}).items()))
                if log.get("foreign") else ""))

    def log_evidence(kind):
        return ["%s: %s (x%d, last %s)" % (host, seen["line"], seen["count"], seen["last"])
                for host, seen in current.get(kind, [])]

    down_sas = not all_up
    cert_cause = certificate_causes(tunnel, t, current.get("cert_invalid", []), down_sas)
    if "auth_failed" in current and not cert_cause:
        t.finding("wrong key", "down" if down_sas else "degraded", ", ".join(h for h, _s in current["auth_failed"]),
                  _remedy_key(tunnel, t).format(**fmt), log_evidence("auth_failed"))
    if "no_proposal" in current:
        t.finding("no common proposal", "down" if down_sas else "degraded",
                  ", ".join(h for h, _s in current["no_proposal"]),
                  "The two ends share no algorithm: set the tunnel's `ike`/`esp` to proposals both ends accept "
                  "(`ipsec status` shows what each end loaded), then re-run playbooks/site-to-site.yml.",
                  log_evidence("no_proposal"))
    if "ts_unacceptable" in current:
        t.finding("traffic selectors refused", "down" if down_sas else "degraded",
                  ", ".join(h for h, _s in current["ts_unacceptable"]),
                  "Both ends must use the same subnets (%s <-> %s); re-run playbooks/site-to-site.yml so the same "
                  "conn is on both ends." % (",".join(tunnel["left"]["subnets"]), ",".join(tunnel["right"]["subnets"])),
                  log_evidence("ts_unacceptable"))

    if "dh_group" in current and down_sas:
        host, seen = current["dh_group"][0]
        asked = _attempt.INVALID_KE_RE.search(seen["line"])
        suggested = asked.group("suggested") if asked else None
        facts = {"suggested": suggested, "number": _attempt.group_number(suggested), "count": seen["count"],
                 "loop": seen["count"] > 1}
        t.finding("peer refuses the DH group", "down", ", ".join(h for h, _s in current["dh_group"]),
                  remedy_for("dh_group", tunnel, facts), log_evidence("dh_group"))
    if "no_ike_auth" in current and down_sas:
        hosts = [h for h, _s in current["no_ike_auth"]]
        t.finding("IKE_AUTH unanswered", "down", ", ".join(hosts),
                  remedy_for("no_ike_auth", tunnel, {"retransmits": sum(s["count"] for _h, s in current["no_ike_auth"])}),
                  log_evidence("no_ike_auth"))
    c.current, c.down_sas, c.log_evidence = current, down_sas, log_evidence


def _judge_ike_path(c):
    """UDP 500/4500 and ESP from the peer."""
    waiting = dict((e[1]["host"], e[3].get("ike_pending") or []) for e in c.running)
    for side, end, facts, tf, capture in c.readable:
        host = end["host"]
        wire = wire_evidence(capture, tf) if capture else None
        for port in ("500", "4500"):
            _judge_ike_port(c, host, tf, port, waiting, wire)
        _judge_esp_input(c.t, host, tf)
        if (facts.get("pluto") or {}).get("running"):
            _judge_listening(c.t, host, facts, tf, c.down_sas)
        if wire is not None:
            _judge_wire_ike(c.t, host, tf, wire)
    _judge_no_answer(c, waiting)


def _judge_ike_port(c: _Judgement, host: str, tf: dict, port: str, waiting: dict, wire) -> None:
    """IKE on UDP *port* from the peer into *host*: accepted, or dropped by a rule or a chain's policy.

    *waiting*: host -> its half-open IKE SAs; *wire*: what the capture of *host* shows, or None.
    """
    current, down_sas, fmt, name, t = c.current, c.down_sas, c.fmt, c.name, c.t
    peer = tf.get("peer_address")
    verdict = (tf.get("ike_input") or {}).get(port) or {}
    if verdict.get("verdict") in ("DROP", "REJECT"):
        peer_waiting = [h for h, w in waiting.items() if h != host and w]
        peer_log = [("%s: %s" % (h, s["line"])) for kind in ("timeout", "retransmit")
                    for h, s in current.get(kind, []) if h != host]
        rule = verdict.get("rule")
        where = "%s %s" % (verdict.get("backend"), verdict.get("chain"))
        t.check("ike_input", host, "fail", "UDP %s from %s: %s by %s" % (
            port, peer, verdict["verdict"], rule or "the policy of %s" % where), verdict.get("uncertain"))
        delete = _packet_filter.delete_command(verdict.get("backend"), "filter", rule, verdict.get("chain"))
        severity = "down" if (port == "500" and down_sas) else "degraded"
        evidence = ["%s: %s: %s" % (host, where, rule or "chain policy %s" % verdict["verdict"])]
        evidence += ["%s: half-open IKE SA waiting for %s: %s" % (h, host, "; ".join(waiting[h]))
                     for h in peer_waiting]
        evidence += peer_log[:2]
        if wire and wire["ike_in"]:
            evidence.append("%s: IKE from %s arrives on the wire (%d packets seen by tcpdump, none "
                            "answered): %s" % (host, peer, len(wire["ike_in"]), wire["ike_in"][0]))
        t.finding("UDP %s blocked" % port, severity, host,
                  "On %s the %s %s drops IKE (UDP %s) from %s before the firewall role's accept rule is "
                  "reached: %s%s Then `ipsec auto --up %s` on %s (or wait for the retry)." % (
                      host, verdict.get("backend"), verdict.get("chain"), port, peer,
                      "remove that rule (`%s`)" % delete if delete else
                      "accept UDP 500 and 4500 from %s ahead of it" % peer,
                      "." if delete else " (re-running playbooks/site-to-site.yml puts our accept rule first "
                      "for iptables).", name, fmt["init"]), evidence)
    else:
        accepted = verdict.get("accepted_by") or []
        t.check("ike_input", host, "ok", "UDP %s from %s accepted%s" % (
            port, peer, " by %s" % accepted[0] if accepted else " (no rule drops it)"),
            verdict.get("uncertain"))


def _judge_esp_input(t: _Tunnel, host: str, tf: dict) -> None:
    """ESP (IP protocol 50) from the peer into *host*: accepted, or dropped."""
    peer = tf.get("peer_address")
    esp = tf.get("esp_input") or {}
    if esp.get("verdict") in ("DROP", "REJECT"):
        delete = _packet_filter.delete_command(esp.get("backend"), "filter", esp.get("rule"), esp.get("chain"))
        t.check("esp_input", host, "fail", "ESP from %s: %s by %s" % (peer, esp["verdict"], esp.get("rule")))
        t.finding("ESP blocked", "down", host,
                  "On %s the %s %s drops ESP (IP protocol 50) from %s: %s." % (
                      host, esp.get("backend"), esp.get("chain"), peer,
                      "remove that rule (`%s`)" % delete if delete else "accept ESP from the peer ahead of it"),
                  ["%s: %s" % (host, esp.get("rule") or "chain policy")])
    else:
        t.check("esp_input", host, "ok", "ESP from %s accepted" % peer)


def _judge_listening(t: _Tunnel, host: str, facts: dict, tf: dict, down_sas: bool) -> None:
    """A running pluto's IKE sockets on *host*: UDP 500 and 4500 at the tunnel's own address."""
    listening = tf.get("listening") or {}
    missing = [p for p in ("500", "4500") if not listening.get(p)]
    if missing:
        t.check("listening", host, "fail", "pluto does not listen on UDP %s at %s" % (
            "/".join(missing), tf.get("my_address")), (facts.get("pluto") or {}).get("ike_sockets"))
        t.finding("pluto not listening", "down" if "500" in missing and down_sas else "degraded", host,
                  "pluto has no socket on UDP %s at %s: is %s really an address of %s (`ip addr`)? "
                  "`ipsec auto --listen` makes pluto look at the interfaces again." % (
                      "/".join(missing), tf.get("my_address"), tf.get("my_address"), host),
                  ["%s: sockets %s" % (host, ", ".join((facts.get("pluto") or {}).get("ike_sockets") or []))])
    else:
        t.check("listening", host, "ok", "pluto listens on UDP 500 and 4500 at %s" % tf.get("my_address"))


def _judge_wire_ike(t: _Tunnel, host: str, tf: dict, wire: dict) -> None:
    """IKE on the wire of *host* (its capture): the peer's ICMP port unreachable backs a stopped pluto there."""
    peer = tf.get("peer_address")
    for finding in t.findings:
        if finding["cause"] == "pluto stopped" and wire["peer_refused"] and finding["gateway"] != host:
            finding["evidence"].append("%s: tcpdump: the peer answers IKE with ICMP port unreachable: %s"
                                       % (host, wire["peer_refused"][0]))
    if wire["peer_refused"]:
        t.check("wire_ike", host, "warn", "the peer answers IKE with ICMP port unreachable (no pluto there)",
                wire["peer_refused"][:2])
    elif wire["ike_in"] or wire["ike_out"]:
        # a liveness probe whose answer came after the capture ended is no problem on a live tunnel
        t.check("wire_ike", host, "ok" if wire["ike_in"] or tf.get("child_sa") else "warn",
                "IKE on the wire: %d from %s, %d to it" % (len(wire["ike_in"]), peer, len(wire["ike_out"])),
                (wire["ike_in"] + wire["ike_out"])[:3])


def _judge_no_answer(c: _Judgement, waiting: dict) -> None:
    """No answer at all, and nothing on either end explains it: the peer, or the path to it."""
    current, down_sas, log_evidence, readable, t = c.current, c.down_sas, c.log_evidence, c.readable, c.t
    if down_sas and not t.has("pluto stopped", "UDP 500 blocked", "wrong key", "no common proposal", *CERT_CAUSES,
                              "traffic selectors refused", "peer refuses the DH group", "IKE_AUTH unanswered", "gateway not read", "conn not loaded",
                              "Libreswan not installed", "pluto not listening"):
        evidence = ["%s: half-open IKE SA: %s" % (h, "; ".join(w)) for h, w in waiting.items() if w]
        evidence += log_evidence("timeout")[:2] + log_evidence("retransmit")[:2]
        if evidence:
            hosts = sorted(set([h for h, w in waiting.items() if w] + [h for h, _s in current.get("timeout", [])]
                               + [h for h, _s in current.get("retransmit", [])]))
            peer_desc = "; ".join("%s reaches %s" % (
                e[1]["host"], e[3].get("peer_address")) for e in readable if e[1]["host"] in hosts)
            t.finding("no answer from the peer", "down", ", ".join(hosts),
                      "IKE (UDP 500) gets no answer (%s): is the peer up, is its address right, does a firewall on "
                      "the way drop UDP 500/4500, does this gateway route to it (`ip route get <peer>`)?"
                      % peer_desc, evidence)


def _judge_forwarding(c):
    """Forwarding, routes, NAT, forward chain (the seed's ip_forward, netstat -nr, MASQUERADE)."""
    name, readable, t = c.name, c.readable, c.t
    for side, end, facts, tf, capture in readable:
        host = end["host"]
        forwarding = facts.get("forwarding") or {}
        versions = set(4 if ":" not in net else 6 for net in (tf.get("local_subnets") or []))
        off = [v for v in sorted(versions) if forwarding.get("ipv%d" % v) != 1]
        if off:
            t.check("forwarding", host, "fail", "IP forwarding is off (%s)" % ", ".join(
                "net.ipv%d %s = %s" % (v, "ip_forward" if v == 4 else "conf.all.forwarding",
                                       forwarding.get("ipv%d" % v)) for v in off))
            t.finding("forwarding off", "down", host,
                      "On %s: `sysctl -w net.ipv4.ip_forward=1` (the seed's `net/ipv4/ip_forward = 1`); re-running "
                      "playbooks/site-to-site.yml sets it and keeps it in /etc/sysctl.d/60-sitevpn-ipsec.conf."
                      % host, ["%s: net.ipv4.ip_forward = %s" % (host, forwarding.get("ipv4"))]
                      + _wire_lines(host, capture, tf, name))
        else:
            t.check("forwarding", host, "ok", "IP forwarding is on")
        if tf.get("interface"):
            _judge_interface(t, host, tf)
        for route in tf.get("routes") or []:
            label = "ip route get %s: %s" % (route["target"], route.get("line") or "-")
            t.check("route", host, route["status"], "toward %s %s" % (route["subnet"], route["why"]), [label])
            if route["status"] == "fail" and tf.get("interface"):
                t.finding("route into the tunnel's interface missing", "down", host,
                          "On %s the route toward %s %s. Without it nothing enters the route-based tunnel: re-run "
                          "playbooks/site-to-site.yml, or `systemctl restart sitevpn-ipsec-routes` on %s." % (
                              host, route["subnet"], route["why"], host), ["%s: %s" % (host, label)])
            elif route["status"] == "fail":
                t.finding("route toward the remote subnet", "degraded", host,
                          "On %s the route toward %s %s; it must leave by %s toward the peer %s (the seed's "
                          "leftnexthop/rightnexthop and `netstat -nr` check): fix or remove that route." % (
                              host, route["subnet"], route["why"], tf.get("wan_dev") or "the WAN interface",
                              tf.get("peer_address")), ["%s: %s" % (host, label)])
        for nat in tf.get("nat") or []:
            exemption = nat.get("exemption") or {}
            if nat.get("verdict") == "masqueraded":
                t.check("nat", host, "fail", "%s is source-NATed by %s (%s %s) %s" % (
                    nat["pair"], nat.get("rule"), nat.get("backend"), nat.get("chain"),
                    "- our exemption is not in nat POSTROUTING" if not exemption.get("installed") else
                    "- before our exemption"), [exemption.get("rule")])
                fix = ("`iptables%s -t nat -I POSTROUTING 1 -j SITEVPN-POSTROUTING`" % (
                    "-legacy" if (exemption.get("where") or nat.get("backend")) == "iptables-legacy" else "")
                    if (nat.get("backend") or "").startswith("iptables") else
                    ("`%s` (the firewall role's rules script: it puts the exemption back)" % _firewall.SCRIPT
                     if not exemption.get("installed") else
                     "an exemption for %s in a NAT chain of lower priority" % nat["pair"]))
                t.finding("NAT exemption missing", "down", host,
                          "On %s the rule `%s` masquerades the tunnel traffic (%s) before it can match the IPsec "
                          "policy, so it leaves in clear with the WAN address: re-run playbooks/site-to-site.yml "
                          "(the firewall role puts the exemption first), or by hand %s; or exclude the remote subnet "
                          "from the MASQUERADE rule (the seed's `-d ! %s`)." % (
                              host, nat.get("rule"), nat["pair"], fix, nat["pair"].split(" -> ")[-1]),
                          ["%s: %s %s: %s" % (host, nat.get("backend"), nat.get("chain"), nat.get("rule"))]
                          + _wire_lines(host, capture, tf, name))
            elif nat.get("verdict") == "exempt":
                t.check("nat", host, "ok", "%s is exempt from NAT (%s)" % (nat["pair"], nat.get("rule")))
            else:
                t.check("nat", host, "ok" if exemption.get("installed") else "warn",
                        "%s: no NAT rule matches it%s" % (nat["pair"], "" if exemption.get("installed") else
                                                          " (our exemption is not installed)"))
        for fwd in tf.get("forward") or []:
            if fwd.get("verdict") in ("DROP", "REJECT"):
                t.check("forward", host, "fail", "%s (IPsec, %s): %s by %s" % (
                    fwd["pair"], fwd["direction"], fwd["verdict"], fwd.get("rule") or "chain policy"))
                delete = _packet_filter.delete_command(fwd.get("backend"), "filter", fwd.get("rule"), fwd.get("chain"))
                t.finding("forwarded traffic dropped", "down", host,
                          "On %s the %s %s drops the tunnel's traffic %s: %s." % (
                              host, fwd.get("backend"), fwd.get("chain"), fwd["pair"],
                              "remove that rule (`%s`)" % delete if delete else
                              "accept it ahead (re-running playbooks/site-to-site.yml installs the accept rules)"),
                          ["%s: %s" % (host, fwd.get("rule") or "policy of %s" % fwd.get("chain"))])
            else:
                t.check("forward", host, "ok", "%s (IPsec, %s) forwarded" % (fwd["pair"], fwd["direction"]))


def _judge_interface(t, host, tf):
    """A route-based tunnel's XFRM interface: there and up, or the tunnel carries nothing."""
    name, state = tf["interface"], tf.get("interface_state")
    if state == "up":
        t.check("interface", host, "ok", "%s is up" % name)
        return
    t.check("interface", host, "fail", "%s is %s" % (name, state), ["%s: /sys/class/net/%s: %s" % (host, name, state)])
    t.finding("tunnel interface %s" % state, "down", host,
              "On %s the route-based tunnel's interface %s is %s, so nothing is routed into the tunnel: re-run "
              "playbooks/site-to-site.yml, or `systemctl restart sitevpn-ipsec-routes` on %s (it creates the "
              "interface, sets it up and puts its routes back)." % (host, name, state, host),
              ["%s: %s %s" % (host, name, state)])


def _judge_probe(c):
    """The probe: ping across, counters, tcpdump on both interfaces."""
    init_host, name, probe, readable, t = c.init_host, c.name, c.probe, c.readable, c.t
    probe_result = _probe_outcome(t, probe, c.pings) if probe else None
    answered = probe_result is not None and probe_result.get("status") == "answered"
    lost = probe_result is not None and probe_result.get("status") == "lost"
    pinged = answered or lost
    saw_probe = {}      # host -> did its capture overlap the probe at all?
    # host -> the tunnel's SA byte counters before and after the probe (gateways with a capture)
    deltas = dict((e[1]["host"], _delta(e[4], name)) for e in readable if e[4])
    for side, end, facts, tf, capture in readable:
        host = end["host"]
        if not capture or not pinged:
            continue
        saw_probe[host] = _judge_probe_end(t, host, tf, capture, deltas[host], answered)
    if answered:
        _judge_path_mtu(t, probe, probe_result.get("big"))
        init_delta = deltas.get(init_host)
        if init_delta is not None and not init_delta["rose"] and saw_probe.get(init_host):
            t.finding("traffic bypasses the tunnel", "down", init_host,
                      "%s answered, but the SA byte counters on %s did not rise: the packets went around the tunnel, "
                      "in clear. Check the subnets of the conn against the addresses pinged, and the NAT rules."
                      % (probe["address"], init_host),
                      ["%s: SA bytes %s -> %s" % (init_host, init_delta["before"], init_delta["after"])])
    elif lost and not [f for f in t.findings if f["severity"] == "down"]:
        # the seed's tcpdump step by the SA counters: ESP leaves one gateway and never arrives at the other
        rose = sorted(h for h, d in deltas.items() if d and d["rose"])
        flat = sorted(h for h, d in deltas.items() if d and d["after"] is not None and not d["rose"])
        if len(rose) == 1 and len(flat) == 1:
            t.finding("ESP lost on the way", "down", "%s -> %s" % (rose[0], flat[0]),
                      "The probe's packets leave %s through the tunnel (its SA counters rose) but nothing arrives "
                      "at %s (its counters did not move): something between the gateways drops IP protocol 50 "
                      "(ESP) while IKE passes. Allow ESP on the routers and firewalls between them, or have both "
                      "ends put ESP in UDP 4500 (options: {encapsulation: \"yes\"} on the tunnel)." % (rose[0], flat[0]),
                      ["%s: SA bytes %s -> %s" % (h, deltas[h]["before"], deltas[h]["after"]) for h in rose + flat])
    if lost and not [f for f in t.findings if f["severity"] == "down"]:
        t.finding("probe not answered", "down", probe["from"],
                  "%s gets no answer from %s although both ends look right: check that the LAN hosts route to "
                  "their gateway (the seed: \"servers at both ends ... have routes pointing to the VPN "
                  "firewalls\"), and any firewall on the hosts themselves or between them and the gateways."
                  % (probe["from"], probe["address"]),
                  ["ping %s -> %s: 0/%d" % (probe["from"], probe["address"], probe_result.get("sent", 0))])
    c.probe_result = probe_result


def _judge_path_mtu(t: _Tunnel, probe: dict, big) -> None:
    """The pings as big as the tunnel's MTU, sent with DF beside the small ones (*big*: see ``_big_line``).
    Small answered, big lost, and nothing said "fragmentation needed": the path between the gateways is
    narrower than the tunnel thinks and its ICMP errors are dropped - every full-size TCP segment dies."""
    if not big or not big.get("sent"):
        return
    size, mtu = big["size"], big.get("mtu")
    what = "ping -M do -s %d %s (the tunnel's MTU with DF): %d/%d answered" % (
        size, probe["address"], big.get("received", 0), big["sent"])
    if big.get("received"):
        t.check("path MTU", probe["from"], "ok", what)
    elif mtu:
        t.check("path MTU", probe["from"], "warn", "%s; the path said its MTU is %d: TCP finds it (path MTU "
                "discovery works), but the tunnel's mtu %d would spare the first segments" % (what, mtu, mtu))
    else:
        t.finding("MTU black hole", "degraded", probe["from"],
                  "Small pings cross, but packets as big as the tunnel's MTU with DF set are lost and no "
                  "\"fragmentation needed\" comes back: the path between the gateways carries less than the "
                  "tunnel assumes (a PPPoE or tunnelled link) and its ICMP errors are dropped, so every full-size "
                  "TCP segment is lost and transfers hang. Give the tunnel a smaller `mtu` (the TCP MSS clamping "
                  "follows it; try 1300), or let ICMP \"fragmentation needed\" through on the path.", [what])


def _probe_outcome(t: _Tunnel, probe: dict, pings: dict) -> dict:
    """The probe's ping as the report shows it (not run, error, answered or lost), and its check."""
    probe_result = dict(probe)
    outcome = pings.get((probe["from"], probe["address"]))
    if outcome is None:
        probe_result["status"] = "not run"
        t.check("probe", probe["from"], "skip", "ping %s was not run" % probe["address"])
    elif "error" in outcome:
        probe_result.update(status="error", error=outcome["error"])
        t.check("probe", probe["from"], "warn", "could not ping from %s: %s" % (probe["from"], outcome["error"]))
    else:
        probe_result.update(outcome, status="answered" if outcome["received"] > 0 else "lost")
        t.check("probe", probe["from"], "ok" if outcome["received"] > 0 else "fail",
                "ping %s -> %s: %d/%d answered" % (probe["from"], probe["address"], outcome["received"],
                                                   outcome["sent"]))
    return probe_result


def _judge_probe_end(t: _Tunnel, host: str, tf: dict, capture: dict, delta, answered: bool) -> bool:
    """The SA counters and the capture of one gateway while the probe ran; whether the capture saw the probe.

    *delta*: the tunnel's SA byte counters on *host* before and after the probe (see ``_delta``), or None.
    """
    cap = capture.get("capture") or {}
    captured = cap.get("available") and not cap.get("error")
    wire = wire_evidence(capture, tf)
    saw_probe = bool(captured and (wire["lan_icmp"] or wire["esp_out"] or wire["esp_in"] or wire["clear_out_wan"]))
    # a capture that started after the last ping (a slow host) saw nothing: no conclusion from it
    missed = captured and answered and not saw_probe
    if delta is not None:
        status = "ok" if delta["rose"] else ("warn" if missed else "fail")
        t.check("counters", host, status, "SA bytes in+out %s -> %s while the probe ran%s" % (
            delta["before"], delta["after"] if delta["after"] is not None else "no SA",
            " (the capture missed the probe)" if missed and not delta["rose"] else ""))
    if not captured:
        t.check("tcpdump", host, "skip", "no capture: %s" % (cap.get("error") or "tcpdump missing"))
        return saw_probe
    summary = "WAN %s: ESP out %d / in %d, ICMP in clear toward %s %d; LAN %s: ICMP %d" % (
        tf.get("wan_dev"), len(wire["esp_out"]), len(wire["esp_in"]), ",".join(tf.get("remote_subnets") or []),
        len(wire["clear_out_wan"]), ",".join(tf.get("lan_devs") or []) or "-", len(wire["lan_icmp"]))
    if wire["clear_out_wan"]:
        t.check("tcpdump", host, "fail", summary, wire["clear_out_wan"][:3])
        if not t.has("NAT exemption missing"):
            t.finding("traffic leaves in clear", "down", host,
                      "On %s the probe's packets leave by %s in clear instead of as ESP: something rewrites or "
                      "routes them around the IPsec policy (NAT, a policy routing rule, or no policy for the "
                      "pair: `ip xfrm policy`)." % (host, tf.get("wan_dev")), wire["clear_out_wan"][:3])
    elif wire["esp_out"] or wire["esp_in"]:
        t.check("tcpdump", host, "ok", summary, (wire["lan_icmp"][:1] + wire["esp_out"][:1] + wire["esp_in"][:1]))
    elif missed:
        t.check("tcpdump", host, "warn", summary + " (the capture started after the probe: run the diagnose "
                "again, or raise sitevpn_diagnose_ping_count)")
    else:
        t.check("tcpdump", host, "warn" if answered else "fail", summary, wire["lan_icmp"][:2])
    return saw_probe


def _judge_sas(c):
    """The SAs themselves, verify."""
    (fmt, managed, name, probe_result, readable, running, t, up) = (
        c.fmt, c.managed, c.name, c.probe_result, c.readable, c.running, c.t, c.up)
    if readable and not any(up.values()) and not [f for f in t.findings if f["severity"] in ("down", "unknown")]:
        t.finding("tunnel not up", "down", fmt["init"],
                  "No Child SA and nothing above explains it: `ipsec auto --up %s` on %s prints why; "
                  "`journalctl -u ipsec` on both ends." % (name, fmt["init"]),
                  ["%s: Child SA %s" % (h, "up" if u else "down") for h, u in sorted(up.items())])
    if len(running) == len(managed) == 2 and any(up.values()) and not all(up.values()):
        t.finding("half up", "degraded", ", ".join(h for h, u in sorted(up.items()) if not u),
                  "Only one end has the Child SA (a rekey or delete got lost): `ipsec auto --up %s` on %s makes "
                  "both agree again." % (name, fmt["init"]),
                  ["%s: Child SA %s" % (h, "up" if u else "down") for h, u in sorted(up.items())])
    for side, end, facts, tf, capture in readable:
        host = end["host"]
        verify = facts.get("verify") or {}
        checks = verify.get("checks") or []
        failed = [c for c in checks if not c.get("ok")]
        if not verify:
            continue
        t.check("verify", host, "ok" if not failed else "warn", "%s: %d checks, %d not OK" % (
            verify.get("source"), len(checks), len(failed)), ["%s [%s]" % (c["name"], c["status"]) for c in failed])
        for check in failed:
            if _VERIFY_COVERED.search(check["name"] or "") or _VERIFY_COVERED.search(check.get("parent") or ""):
                continue
            t.finding("ipsec verify", "degraded", host, "%s: %s" % (
                check["name"], check.get("remedy") or "see `ipsec verify` on %s" % host),
                ["%s: %s [%s]" % (host, check["name"], check["status"])])


def _judge(tunnel, ends, probe, pings, t):
    """All findings and checks of one tunnel. *ends*: [(side, summary, facts or None, why, tunnel facts, capture)]."""
    c = _Judgement(tunnel=tunnel, ends=ends, probe=probe, pings=pings, t=t, probe_result=None)
    for step in (_readable_ends, _judge_pluto, _judge_log, _judge_ike_path,
                 _judge_forwarding, _judge_probe, _judge_sas):
        step(c)
    return c.probe_result
