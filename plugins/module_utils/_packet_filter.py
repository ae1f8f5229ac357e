# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the host's packet filter, read from its rules - for diagnose, beside ``_firewall`` which writes ours.

A small evaluator that walks a packet through the parsed iptables chains and nftables base chains the way
the kernel would (first matching rule decides, chains by hook priority), so "is UDP 500 from the peer
dropped?" and "is the tunnel traffic masqueraded before our NAT exemption?" are answered from the rules
themselves, whichever of iptables-legacy, iptables-nft or nft holds them. A rule it cannot read makes the
answer uncertain, never a guess. Standard library only, Python 3.8+.

Not a public API: names may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re
import shlex

# what the firewall role installs (plugins/module_utils/_firewall.py)
OUR_NAT_CHAIN = "SITEVPN-POSTROUTING"
OUR_NFT_TABLE = "sitevpn_ipsec"

# tables iptables-nft keeps in nftables; when iptables-nft-save shows them, the nft listing of the
# same tables is not evaluated a second time
_XT_TABLES = ("filter", "nat", "mangle", "raw", "security")


# ---------------------------------------------------------------------------
# addresses
# ---------------------------------------------------------------------------

def _net(text):
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        return None


def _addr(text):
    try:
        return ipaddress.ip_address(str(text).strip())
    except ValueError:
        return None


def in_subnet(address, subnet):
    addr, net = _addr(address), _net(subnet)
    return bool(addr is not None and net is not None and addr.version == net.version and addr in net)


# ---------------------------------------------------------------------------
# packets and rule matching shared by both rule languages
# ---------------------------------------------------------------------------

_PROTOCOLS = {"icmp": 1, "tcp": 6, "udp": 17, "esp": 50, "ah": 51, "gre": 47, "ipv6-icmp": 58, "icmpv6": 58,
              "sctp": 132}


def _proto_number(value):
    value = str(value).strip().lower()
    if value.isdigit():
        return int(value)
    return _PROTOCOLS.get(value)


def packet(src, dst, proto, dport=None, sport=None, iif=None, oif=None, ipsec_in=False, ipsec_out=False,
           ctstate="NEW"):
    """A packet as the evaluators read it (addresses as text, proto as a name)."""
    return {"src": src, "dst": dst, "proto": proto, "dport": dport, "sport": sport, "iif": iif, "oif": oif,
            "ipsec_in": ipsec_in, "ipsec_out": ipsec_out, "ctstate": ctstate}


def _address_matches(value, address):
    """*value* is one address/CIDR or a comma list; True/False, or None when it cannot be read."""
    if address is None:
        return None
    result = False
    for item in str(value).split(","):
        item = item.strip()
        if not item:
            continue
        if "-" in item and "/" not in item:
            low, _sep, high = item.partition("-")
            low, high, addr = _addr(low), _addr(high), _addr(address)
            if None in (low, high, addr) or low.version != addr.version:
                continue
            if low <= addr <= high:
                result = True
            continue
        net = _net(item)
        if net is None:
            return None
        if in_subnet(address, str(net)):
            result = True
    return result


def _port_matches(spec, port):
    if port is None:
        return None
    for item in str(spec).replace(":", "-").split(","):
        item = item.strip()
        if not item:
            continue
        low, _sep, high = item.partition("-")
        try:
            if int(low) <= port <= int(high or low):
                return True
        except ValueError:
            return None
    return False


def _iface_matches(pattern, iface):
    if iface is None:
        return None
    pattern = pattern.strip('"')
    if pattern.endswith("+") or pattern.endswith("*"):
        return iface.startswith(pattern[:-1])
    return iface == pattern


def _all_of(results):
    """A rule matches when every match does: False at the first that does not, None when one cannot be told."""
    uncertain = False
    for result in results:
        if result is None:
            uncertain = True
        elif not result:
            return False
    return None if uncertain else True


def _negate(result, negated):
    if result is None:
        return None
    return not result if negated else result


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
# nft list ruleset
# ---------------------------------------------------------------------------

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
