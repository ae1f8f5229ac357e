# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the host's nftables rules, read from ``nft list ruleset`` - the nft half of ``_packet_filter``.

Parses the listing into tables and chains (base chains with their hook, priority and policy; rules kept
as text) and walks a packet through one chain the way the kernel would: first matching rule decides,
``jump``/``goto`` followed, an identity SNAT reported as the NAT exemption the firewall role installs.
A rule using something it cannot read makes the answer uncertain, never a guess.

Separate from ``_packet_filter`` (which evaluates all backends together and reads iptables-save) only
to keep each file readable; the matching both use is in ``_rule_match``. Standard library only,
Python 3.8+.

Not a public API: names may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sitevpn.ipsec.plugins.module_utils._rule_match import (
    _address_matches, _all_of, _iface_matches, _negate, _port_matches, _proto_number)


_NFT_PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}
_CHAIN_TYPE_RE = re.compile(
    r"type\s+(?P<type>\w+)\s+hook\s+(?P<hook>\w+)(?:\s+device\s+\S+)?\s+priority\s+(?P<prio>[^;]+);"
    r"(?:\s*policy\s+(?P<policy>\w+)\s*;)?")


def _nft_priority(text):
    text = text.strip()
    match = re.match(r"^(?P<name>[a-z]+)?\s*(?:(?P<sign>[+-])\s*(?P<off>\d+))?$", text)
    if match and match.group("name") in _NFT_PRIORITIES:
        offset = int(match.group("off") or 0) * (-1 if match.group("sign") == "-" else 1)
        return _NFT_PRIORITIES[match.group("name")] + offset
    try:
        return int(text)
    except ValueError:
        return 0


def parse_nft_ruleset(text):
    """``nft list ruleset`` -> ``[{family, name, chains: {name: {type, hook, priority, policy, rules}}}]``.

    Rules are kept as text (counters and handles included); sets, maps and flowtables are skipped.
    """
    tables = []
    table = chain = None
    skip_depth = 0
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if skip_depth:
            skip_depth += line.count("{") - line.count("}")
            continue
        match = re.match(r"^table\s+(\w+)\s+(\S+)\s*\{", line)
        if match:
            table = {"family": match.group(1), "name": match.group(2), "chains": {}}
            tables.append(table)
            chain = None
            continue
        if table is None:
            continue
        match = re.match(r"^chain\s+(\S+)\s*\{", line)
        if match:
            chain = {"name": match.group(1), "type": None, "hook": None, "priority": None, "policy": None,
                     "rules": []}
            table["chains"][chain["name"]] = chain
            continue
        if re.match(r"^(set|map|flowtable|ct\s+\w+|counter|quota|limit|secmark|synproxy)\s+\S+\s*\{", line):
            skip_depth = line.count("{") - line.count("}")
            continue
        if line == "}":
            if chain is not None:
                chain = None
            else:
                table = None
            continue
        if chain is None:
            continue
        typed = _CHAIN_TYPE_RE.search(line)
        if typed and line.startswith("type "):
            chain["type"], chain["hook"] = typed.group("type"), typed.group("hook")
            chain["priority"] = _nft_priority(typed.group("prio"))
            chain["policy"] = typed.group("policy") or "accept"
            continue
        if line.startswith("comment ") or line.startswith("policy "):
            if line.startswith("policy "):
                chain["policy"] = line.split()[1].rstrip(";")
            continue
        chain["rules"].append(line)
    return tables


def _nft_tokens(text):
    """Words of an nft rule; ``{ a, b }`` becomes one token ``{a,b}``, quoted strings stay whole."""
    tokens, i = [], 0
    text = re.sub(r"\s*#.*$", "", text)
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "{":
            end = text.find("}", i)
            end = len(text) if end < 0 else end
            tokens.append("{" + ",".join(part.strip() for part in text[i + 1:end].split(",") if part.strip()) + "}")
            i = end + 1
        elif char == '"':
            end = text.find('"', i + 1)
            end = len(text) if end < 0 else end
            tokens.append(text[i:end + 1])
            i = end + 1
        else:
            end = i
            while end < len(text) and not text[end].isspace():
                end += 1
            tokens.append(text[i:end])
            i = end
    return tokens


def _values(token):
    if token.startswith("{"):
        return [part for part in token.strip("{}").split(",") if part]
    return [token]


_NFT_VERDICTS = ("accept", "drop", "reject", "return", "continue", "queue", "masquerade", "snat", "dnat",
                 "redirect", "jump", "goto")


def parse_nft_rule(text):
    """One nft rule: ``{matches: [(kind, values, negated)], verdict, verdict_args, unknown, line}``."""
    tokens = _nft_tokens(text)
    rule = {"matches": [], "verdict": None, "verdict_args": [], "unknown": [], "line": text.strip()}
    i = 0

    def value_at(index):
        negated = False
        if index < len(tokens) and tokens[index] in ("!=", "=="):
            negated = tokens[index] == "!="
            index += 1
        return (tokens[index] if index < len(tokens) else ""), negated, index + 1

    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in ("ip", "ip6") and nxt in ("saddr", "daddr"):
            value, negated, i = value_at(i + 2)
            if value.startswith("@"):
                rule["unknown"].append("%s %s %s" % (tok, nxt, value))
                continue
            rule["matches"].append(("src" if nxt == "saddr" else "dst", _values(value), negated))
        elif (tok == "ip" and nxt == "protocol") or (tok == "meta" and nxt == "l4proto") or \
                (tok == "ip6" and nxt == "nexthdr"):
            value, negated, i = value_at(i + 2)
            rule["matches"].append(("proto", _values(value), negated))
        elif tok == "meta" and nxt == "nfproto":
            value, negated, i = value_at(i + 2)
            rule["matches"].append(("nfproto", _values(value), negated))
        elif tok in ("udp", "tcp", "th", "sctp") and nxt in ("dport", "sport"):
            value, negated, i = value_at(i + 2)
            if tok != "th":
                rule["matches"].append(("proto", [tok], False))
            rule["matches"].append((nxt, _values(value), negated))
        elif tok in ("iifname", "oifname", "iif", "oif"):
            value, negated, i = value_at(i + 1)
            rule["matches"].append(("iif" if tok.startswith("i") else "oif", _values(value), negated))
        elif tok == "meta" and nxt in ("iifname", "oifname", "iif", "oif"):
            value, negated, i = value_at(i + 2)
            rule["matches"].append(("iif" if nxt.startswith("i") else "oif", _values(value), negated))
        elif tok in ("meta", "rt") and nxt == "ipsec":
            value, negated, i = value_at(i + 2)
            present = (value == "exists") != negated
            rule["matches"].append(("ipsec_in" if tok == "meta" else "ipsec_out", [present], False))
        elif tok == "ct" and nxt == "state":
            value, negated, i = value_at(i + 2)
            rule["matches"].append(("ctstate", [v.upper() for v in _values(value)], negated))
        elif tok == "counter":
            i += 1
            while i < len(tokens) and tokens[i] in ("packets", "bytes"):
                i += 2
        elif tok == "comment":
            i += 2
        elif tok == "log":
            i += 1
            while i < len(tokens) and tokens[i] in ("prefix", "level", "group", "snaplen", "queue-threshold", "flags"):
                i += 2
        elif tok in _NFT_VERDICTS:
            rule["verdict"] = tok
            rule["verdict_args"] = [t for t in tokens[i + 1:] if t != "comment" and not t.startswith('"')]
            break
        else:
            rule["unknown"].append(tok)
            i += 1
    return rule


def _nft_match(rule, pkt):
    """True, False, or None when the rule uses something this reader cannot evaluate."""
    if rule["unknown"]:
        return None
    return _all_of(_nft_results(rule, pkt))


def _nft_results(rule, pkt):
    """Each match of an nft rule against *pkt*: True, False or None (cannot tell), as it goes."""
    for kind, values, negated in rule["matches"]:
        if kind in ("src", "dst"):
            results = [_address_matches(value, pkt.get(kind)) for value in values]
            result = None if None in results else any(results)
        elif kind == "proto":
            result = _proto_number(pkt.get("proto")) in [_proto_number(value) for value in values]
        elif kind == "nfproto":
            version = 6 if ":" in str(pkt.get("src") or "") else 4
            result = ("ipv%d" % version) in values
        elif kind in ("dport", "sport"):
            results = [_port_matches(value, pkt.get(kind)) for value in values]
            result = None if None in results else any(results)
        elif kind in ("iif", "oif"):
            results = [_iface_matches(value, pkt.get(kind)) for value in values]
            result = None if None in results else any(results)
        elif kind in ("ipsec_in", "ipsec_out"):
            result = bool(pkt.get(kind)) == values[0]
        elif kind == "ctstate":
            result = (pkt.get("ctstate") or "NEW") in values
        else:
            result = None
        yield _negate(result, negated)


def nft_walk(table, chain_name, pkt, uncertain=None, depth=0):
    """Walk *pkt* through one nft chain: ``(verdict, rule line)`` or ``(None, None)`` at the end."""
    if uncertain is None:
        uncertain = []
    chain = table["chains"].get(chain_name)
    if chain is None or depth > 20:
        return None, None
    for line in chain["rules"]:
        rule = parse_nft_rule(line)
        matched = _nft_match(rule, pkt)
        if matched is None:
            if rule["verdict"] not in (None, "continue", "return"):
                uncertain.append(line)
            continue
        if not matched or rule["verdict"] in (None, "continue"):
            continue
        if rule["verdict"] == "return":
            return None, None
        if rule["verdict"] in ("jump", "goto"):
            target = rule["verdict_args"][0] if rule["verdict_args"] else None
            verdict, found = nft_walk(table, target, pkt, uncertain, depth + 1)
            if verdict is not None or rule["verdict"] == "goto":
                return verdict, found
            continue
        if rule["verdict"] == "snat" and re.search(r"\bto\s+ip6?\s+saddr\b", line):
            return "exempt", line    # identity SNAT: what the firewall role uses as the NAT exemption
        return rule["verdict"], line
    return None, None
