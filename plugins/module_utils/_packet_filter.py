# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the host's packet filter, read from its rules - for diagnose, beside ``_firewall`` which writes ours.

A small evaluator that walks a packet through the parsed iptables chains and nftables base chains the way
the kernel would (first matching rule decides, chains by hook priority), so "is UDP 500 from the peer
dropped?" and "is the tunnel traffic masqueraded before our NAT exemption?" are answered from the rules
themselves, whichever of iptables-legacy, iptables-nft or nft holds them. A rule it cannot read makes the
answer uncertain, never a guess. Standard library only, Python 3.8+.

The nftables reader and walker are in ``_nft_rules``, the matching both readers share in ``_rule_match``
(so each file stays readable and neither imports the other in a cycle); this file reads iptables-save
and evaluates all backends together.

Not a public API: names may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import shlex

from ansible_collections.sitevpn.ipsec.plugins.module_utils._nft_rules import nft_walk, parse_nft_rule, parse_nft_ruleset
from ansible_collections.sitevpn.ipsec.plugins.module_utils._rule_match import (
    _address_matches, _all_of, _iface_matches, _negate, _port_matches, _proto_number)

# what the firewall role installs (plugins/module_utils/_firewall.py)
OUR_NAT_CHAIN = "SITEVPN-POSTROUTING"
OUR_NFT_TABLE = "sitevpn_ipsec"

# tables iptables-nft keeps in nftables; when iptables-nft-save shows them, the nft listing of the
# same tables is not evaluated a second time
_XT_TABLES = ("filter", "nat", "mangle", "raw", "security")


# ---------------------------------------------------------------------------
# packets
# ---------------------------------------------------------------------------

def packet(src, dst, proto, dport=None, sport=None, iif=None, oif=None, ipsec_in=False, ipsec_out=False,
           ctstate="NEW"):
    """A packet as the evaluators read it (addresses as text, proto as a name)."""
    return {"src": src, "dst": dst, "proto": proto, "dport": dport, "sport": sport, "iif": iif, "oif": oif,
            "ipsec_in": ipsec_in, "ipsec_out": ipsec_out, "ctstate": ctstate}


# ---------------------------------------------------------------------------
# iptables-save
# ---------------------------------------------------------------------------

_IPT_TERMINAL = ("ACCEPT", "DROP", "REJECT", "MASQUERADE", "SNAT", "DNAT", "REDIRECT", "NETMAP", "QUEUE", "NFQUEUE")
_IPT_BUILTIN = ("INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING")
_COUNTERS_RE = re.compile(r"^\[(\d+):(\d+)\]\s+")


def parse_iptables_rule(line):
    """One ``-A CHAIN ...`` line of iptables-save: its matches, target and counters.

    Returns ``{chain, matches: [(kind, value, negated)], target, goto, target_args, unknown: [options],
    packets, line}``. Kinds: ``src``, ``dst``, ``proto``, ``dport``, ``sport``, ``ports``, ``iif``, ``oif``,
    ``policy`` (value ``(dir, pol)``), ``ctstate``.
    """
    counters = _COUNTERS_RE.match(line)
    packets = int(counters.group(1)) if counters else None
    text = line[counters.end():] if counters else line
    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    rule = {"chain": None, "matches": [], "target": None, "goto": False, "target_args": [], "unknown": [],
            "packets": packets, "line": text.strip()}
    policy = {}
    i, negate = 0, False
    while i < len(tokens):
        tok = tokens[i]
        arg = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok == "!":
            negate = True
            i += 1
            continue
        if tok in ("-A", "--append"):
            rule["chain"] = arg
        elif tok in ("-s", "--source", "--src"):
            rule["matches"].append(("src", arg, negate))
        elif tok in ("-d", "--destination", "--dst"):
            rule["matches"].append(("dst", arg, negate))
        elif tok in ("-p", "--protocol"):
            rule["matches"].append(("proto", arg, negate))
        elif tok in ("-i", "--in-interface"):
            rule["matches"].append(("iif", arg, negate))
        elif tok in ("-o", "--out-interface"):
            rule["matches"].append(("oif", arg, negate))
        elif tok in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            rule["matches"].append(("dport", arg, negate))
        elif tok in ("--sport", "--source-port", "--sports", "--source-ports"):
            rule["matches"].append(("sport", arg, negate))
        elif tok == "--ports":
            rule["matches"].append(("ports", arg, negate))
        elif tok in ("--ctstate", "--state"):
            rule["matches"].append(("ctstate", arg, negate))
        elif tok == "--dir":
            policy["dir"] = arg
        elif tok == "--pol":
            policy["pol"] = arg
        elif tok == "-m" or tok == "--match":
            pass   # the module name; its options follow
        elif tok == "--comment":
            pass
        elif tok in ("-j", "--jump", "-g", "--goto"):
            rule["target"] = arg
            rule["goto"] = tok in ("-g", "--goto")
            rule["target_args"] = tokens[i + 2:]
            break
        elif tok.startswith("-"):
            # a match option this reader does not evaluate (-m set, -m addrtype, -m mark ...)
            option = [("!" if negate else "") + tok]
            while i + 1 < len(tokens) and not tokens[i + 1].startswith("-") and tokens[i + 1] != "!":
                i += 1
                option.append(tokens[i])
            rule["unknown"].append(" ".join(option))
            negate = False
            i += 1
            continue
        else:
            i += 1
            continue
        negate = False
        i += 2
    if policy:
        rule["matches"].append(("policy", (policy.get("dir"), policy.get("pol")), False))
    return rule


def parse_iptables_save(text):
    """``iptables-save [-c]`` -> ``{table: {policies: {chain: policy or None}, rules: {chain: [rule]}}}``."""
    tables = {}
    current = None
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            current = tables.setdefault(line[1:], {"policies": {}, "rules": {}})
            continue
        if current is None:
            continue
        if line.startswith(":"):
            parts = line[1:].split()
            current["policies"][parts[0]] = parts[1] if len(parts) > 1 and parts[1] != "-" else None
            current["rules"].setdefault(parts[0], [])
            continue
        if line == "COMMIT":
            current = None
            continue
        rule = parse_iptables_rule(line)
        if rule["chain"]:
            current["rules"].setdefault(rule["chain"], []).append(rule)
    return tables


def _ipt_match(rule, pkt):
    """True, False, or None when the rule uses something this reader cannot evaluate."""
    if rule["unknown"]:
        return None
    return _all_of(_ipt_results(rule, pkt))


def _ipt_results(rule, pkt):
    """Each match of an iptables rule against *pkt*: True, False or None (cannot tell), as it goes."""
    for kind, value, negated in rule["matches"]:
        if kind == "src":
            result = _address_matches(value, pkt.get("src"))
        elif kind == "dst":
            result = _address_matches(value, pkt.get("dst"))
        elif kind == "proto":
            want = str(value).lower()
            result = True if want in ("all", "0") else _proto_number(want) == _proto_number(pkt.get("proto"))
        elif kind == "iif":
            result = _iface_matches(value, pkt.get("iif"))
        elif kind == "oif":
            result = _iface_matches(value, pkt.get("oif"))
        elif kind == "dport":
            result = _port_matches(value, pkt.get("dport"))
        elif kind == "sport":
            result = _port_matches(value, pkt.get("sport"))
        elif kind == "ports":
            result = bool(_port_matches(value, pkt.get("dport")) or _port_matches(value, pkt.get("sport")))
        elif kind == "ctstate":
            states = [state.strip().upper() for state in str(value).split(",")]
            result = (pkt.get("ctstate") or "NEW") in states
        elif kind == "policy":
            direction, pol = value
            protected = pkt.get("ipsec_in") if direction == "in" else pkt.get("ipsec_out")
            result = bool(protected) if pol == "ipsec" else not protected
        else:
            result = None
        yield _negate(result, negated)


def iptables_walk(table, chain, pkt, uncertain=None, depth=0):
    """Walk *pkt* through *chain* of one parsed iptables table.

    Returns ``(verdict, rule)``: the target that decided (``ACCEPT``, ``DROP``, ``MASQUERADE`` ...) and the
    rule line, or ``(None, None)`` when the chain ran out (a built-in chain's policy is the caller's business).
    Rules that cannot be evaluated are skipped and listed in *uncertain*.
    """
    if uncertain is None:
        uncertain = []
    if depth > 20:
        return None, None
    for rule in table["rules"].get(chain, []):
        matched = _ipt_match(rule, pkt)
        if matched is None:
            if rule["target"] not in (None, "LOG", "NFLOG", "MARK", "CONNMARK", "RETURN", "TCPMSS"):
                uncertain.append(rule["line"])
            continue
        if not matched:
            continue
        target = rule["target"]
        if target in _IPT_TERMINAL:
            return target, rule["line"]
        if target == "RETURN":
            return None, None
        if target in table["rules"]:
            verdict, line = iptables_walk(table, target, pkt, uncertain, depth + 1)
            if verdict is not None or rule["goto"]:
                return verdict, line
    return None, None


def iptables_hook_verdict(table, chain, pkt, uncertain=None):
    """A built-in chain: the deciding target and rule, else the chain policy (rule None)."""
    verdict, line = iptables_walk(table, chain, pkt, uncertain)
    if verdict is None:
        return table["policies"].get(chain) or "ACCEPT", None
    return verdict, line


# ---------------------------------------------------------------------------
# the host's packet filter, all backends together
# ---------------------------------------------------------------------------

def firewall_model(sources):
    """Parsed rulesets: *sources* maps ``iptables-legacy``, ``iptables-nft`` and ``nft`` to command output."""
    model = {"iptables-legacy": None, "iptables-nft": None, "nft": None}
    for name in ("iptables-legacy", "iptables-nft"):
        if sources.get(name):
            parsed = parse_iptables_save(sources[name])
            model[name] = parsed or None
    if sources.get("nft"):
        tables = parse_nft_ruleset(sources["nft"])
        if model["iptables-nft"]:
            # the tables iptables-nft manages are read from iptables-nft-save (same rules, easier to read)
            tables = [t for t in tables if not (t["family"] in ("ip", "ip6") and t["name"] in _XT_TABLES)]
        model["nft"] = tables or None
    return model


# (iptables table, built-in chain, its priority at the hook)
_IPT_HOOKS = {"input": ("filter", "INPUT", 0), "forward": ("filter", "FORWARD", 0),
              "postrouting": ("nat", "POSTROUTING", 100)}


def _hook_chains(model, hook, version=4):
    """Every chain attached to *hook*, as ``(priority, backend, label, walker)``, in the kernel's order."""
    chains = []
    table_name, chain_name, prio = _IPT_HOOKS[hook]
    for backend in ("iptables-legacy", "iptables-nft"):
        tables = model.get(backend) or {}
        if table_name in tables and (chain_name in tables[table_name]["rules"]
                                     or chain_name in tables[table_name]["policies"]):
            table = tables[table_name]

            def walker(pkt, uncertain, table=table, chain=chain_name):
                return iptables_hook_verdict(table, chain, pkt, uncertain)
            chains.append((prio, backend, "%s %s" % (table_name, chain_name), walker))
    families = ("ip", "inet") if version == 4 else ("ip6", "inet")
    for table in model.get("nft") or []:
        if table["family"] not in families:
            continue
        for chain in table["chains"].values():
            if chain["hook"] != hook:
                continue
            if hook == "postrouting" and chain["type"] != "nat":
                continue
            if hook != "postrouting" and chain["type"] not in ("filter", None):
                continue

            def walker(pkt, uncertain, table=table, chain=chain):
                verdict, line = nft_walk(table, chain["name"], pkt, uncertain)
                if verdict is None:
                    return (chain["policy"] or "accept").upper(), None
                return verdict.upper(), line
            chains.append((chain["priority"] or 0, "nft", "%s %s %s" % (table["family"], table["name"], chain["name"]),
                           walker))
    chains.sort(key=lambda item: item[0])
    return chains


def filter_verdict(model, hook, pkt):
    """Is *pkt* dropped on *hook* (``input``/``forward``)? Every base chain must let it through.

    Returns ``{verdict: ACCEPT|DROP|REJECT, backend, chain, rule, uncertain: [rule lines not evaluated]}``;
    ``rule`` is None when a chain policy decided.
    """
    uncertain = []
    accepted = []
    version = 6 if ":" in str(pkt.get("src") or "") else 4
    for _prio, backend, label, walker in _hook_chains(model, hook, version):
        verdict, line = walker(pkt, uncertain)
        if verdict in ("DROP", "REJECT"):
            return {"verdict": verdict, "backend": backend, "chain": label, "rule": line, "uncertain": uncertain,
                    "accepted_by": accepted}
        if line:
            accepted.append("%s %s: %s" % (backend, label, line))
    return {"verdict": "ACCEPT", "backend": None, "chain": None, "rule": None, "uncertain": uncertain,
            "accepted_by": accepted}


def nat_verdict(model, pkt):
    """What source NAT does to *pkt* at postrouting, chains in priority order.

    ``exempt`` (a chain accepted it, or an identity SNAT bound it, before anything masqueraded it),
    ``masqueraded`` (a MASQUERADE/SNAT rule caught it; ``rule`` says which) or ``none`` (no NAT rule
    matched at all).
    """
    uncertain = []
    exempt = None
    version = 6 if ":" in str(pkt.get("src") or "") else 4
    for _prio, backend, label, walker in _hook_chains(model, "postrouting", version):
        verdict, line = walker(pkt, uncertain)
        if verdict in ("MASQUERADE", "SNAT", "NETMAP"):
            return {"verdict": "masqueraded", "backend": backend, "chain": label, "rule": line,
                    "exempted_by": exempt, "uncertain": uncertain}
        if verdict == "EXEMPT":
            return {"verdict": "exempt", "backend": backend, "chain": label, "rule": line, "uncertain": uncertain}
        if verdict == "ACCEPT" and line is not None and exempt is None:
            exempt = {"backend": backend, "chain": label, "rule": line}
    if exempt:
        return dict(exempt, verdict="exempt", uncertain=uncertain)
    return {"verdict": "none", "backend": None, "chain": None, "rule": None, "uncertain": uncertain}


def exemption_installed(model, local_subnet, remote_subnet):
    """Is the firewall role's NAT exemption for this pair in place, and first in line?

    ``{installed, first, where}``: our chain jumped to from rule 1 of nat POSTROUTING (iptables) with an
    ACCEPT for the pair, or the identity SNAT in table ``inet sitevpn_ipsec`` (nftables).
    """
    for backend in ("iptables-legacy", "iptables-nft"):
        nat = (model.get(backend) or {}).get("nat")
        if not nat:
            continue
        ours = [r for r in nat["rules"].get(OUR_NAT_CHAIN, []) if r["target"] == "ACCEPT"
                and ("src", local_subnet, False) in r["matches"] and ("dst", remote_subnet, False) in r["matches"]]
        if ours:
            postrouting = nat["rules"].get("POSTROUTING", [])
            first = bool(postrouting) and postrouting[0]["target"] == OUR_NAT_CHAIN and not postrouting[0]["matches"]
            jumped = any(r["target"] == OUR_NAT_CHAIN for r in postrouting)
            return {"installed": jumped, "first": first, "where": backend,
                    "rule": ours[0]["line"], "jump": jumped}
    for table in model.get("nft") or []:
        if table["name"] != OUR_NFT_TABLE:
            continue
        for chain in table["chains"].values():
            if chain["hook"] != "postrouting":
                continue
            for line in chain["rules"]:
                rule = parse_nft_rule(line)
                if rule["verdict"] == "snat" and ("src", [local_subnet], False) in rule["matches"] \
                        and ("dst", [remote_subnet], False) in rule["matches"]:
                    return {"installed": True, "first": True, "where": "nft", "rule": line, "jump": True}
    return {"installed": False, "first": False, "where": None, "rule": None, "jump": False}


def delete_command(backend, table, rule_line, chain=None):
    """The command that removes *rule_line* - for a remedy sentence, never run here.

    iptables: ``-A CHAIN ...`` of iptables-save, *table* its table. nft: a rule of ``nft -a list
    ruleset`` (ending ``# handle N``), *chain* its chain as ``family table chain``.
    """
    if not rule_line:
        return None
    if backend == "nft":
        handle = re.search(r"#\s*handle\s+(\d+)\s*$", rule_line)
        if not handle or not chain or len(chain.split()) != 3:
            return None
        return "nft delete rule %s handle %s" % (chain, handle.group(1))
    if backend not in ("iptables-legacy", "iptables-nft") or not rule_line.startswith("-A "):
        return None
    binary = "iptables-legacy" if backend == "iptables-legacy" else "iptables"
    prefix = "" if table == "filter" else "-t %s " % table
    return "%s %s-D %s" % (binary, prefix, rule_line[3:])
