# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Parser of ``ipsec status`` / ``ipsec auto --status`` / ``ipsec whack --status`` output."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ._common import (
    _instance_text,
    _int_or_none,
    _never_raise,
    _safe_lines,
    split_output,
)
from ._version import _VERSION_RE, parse_version


# ---------------------------------------------------------------------------
# ipsec status / ipsec auto --status / ipsec whack --status
# ---------------------------------------------------------------------------

# State lines: '#2: "c":500 STATE_V2_ESTABLISHED_CHILD_SA (established Child SA); ...'
# (4.x), '#2: "c":500 ESTABLISHED_CHILD_SA (established Child SA)' (5.1-5.3),
# '#2: "c":500 established Child SA; REKEY in 27s; ...' (5.4), Openswan '#4: "c"
# STATE_QUICK_R2 (IPsec SA established); EVENT_SA_REPLACE in 3635s; ...', instances
# '#2: "rw"[1] 192.1.2.23:500 established Child SA; ...'.  The IKE port follows the name
# or the peer address; the peer address (instances only) may be IPv6.
_STATE_LINE_RE = re.compile(
    r'^#(?P<serial>\d+): "(?P<name>[^"]*)"(?P<inst>(?:\[[^\]]*\])*)'
    r'(?:(?<=\]) (?P<addr>\S+?))?'
    r'(?::(?P<port>\d+))?'
    r'(?: (?P<rest>.*))?$')

# 'STATE_QUICK_R2 (IPsec SA established); EVENT...' / 'ESTABLISHED_CHILD_SA (established
# Child SA)' - an upper-case state name followed by the parenthesised story.
_STATE_NAME_RE = re.compile(r'^(?P<state>[A-Z][A-Z0-9_]{2,})(?::)? \((?P<desc>.*?)\)(?=;|\s*$)')
# Openswan/3.x may print 'STATE_MAIN_I4: ISAKMP SA established' style states too.
_STATE_COLON_RE = re.compile(r'^(?P<state>STATE_[A-Z0-9_]+): (?P<desc>[^;]*)')

# The per-state SA detail line: '#2: "c" esp.92ef1705@192.0.2.2 esp.8b2bade2@192.0.2.1
# tun.0@... Traffic: ESPin=0B ESPout=0B ESPmax=2^63B' (and Openswan's without Traffic:).
_SA_DETAIL_RE = re.compile(r'^(?:esp|ah|comp|tun)\.\S*@')
# 'ESPin=84B' / 'AHout=0B' / 'ESPmax=2^63B': protocol, direction, value; plain byte
# counts become ints, anything else ('2^63B') stays as printed.
_TRAFFIC_KV_RE = re.compile(r'\b([A-Z]+)(in|out|max)=(\S+)')
_BYTES_RE = re.compile(r'^(\d+)B?$')

# Which SA a state is: story words first, state-name fragments second.
_CHILD_STORY_RE = re.compile(r'\bChild SA\b|\bIPsec SA\b|\bQI\d|\bQR\d|\bCHILD\b|\bnewest IPSEC\b', re.I)
_IKE_STORY_RE = re.compile(
    r'\bIKE SA\b|\bISAKMP SA\b|\bPARENT SA\b|\bIKE_SA_INIT\b|\bIKE_AUTH\b|\bM[IR]\d|\bA[IR]\d'
    r'|\bv2[IR]\d|\bnewest ISAKMP\b', re.I)
_CHILD_STATE_RE = re.compile(r'QUICK|CHILD|IPSEC|V2_NEW_CHILD|V2_REKEY_CHILD')
_IKE_STATE_RE = re.compile(r'MAIN|AGGR|PARENT|IKE_SA|IKE_AUTH|V2_REKEY_IKE|ISAKMP')
_ESTABLISHED_RE = re.compile(r'\bestablished\b', re.I)

# "; IKE SA #3" / "; ISAKMP SA #1" (5.x) / "; isakmp#1" (4.x) names the parent SA.
_PARENT_RE = re.compile(r'\b(?:IKE SA|ISAKMP SA|isakmp) ?#(\d+)', re.I)

# Connection lines: '"c": 10.1.0.0/24===...; erouted; eroute owner: #2' (summary) and
# '"c":   policy: IKEv2+PSK+...' (detail, indented).  Instances: '"rw"[1]: ...'; some
# releases print the peer after the instance: '"rw"[1] 192.1.2.23: ...'.
_CONN_LINE_RE = re.compile(
    r'^"(?P<name>[^"]*)"(?P<inst>(?:\[[^\]]*\])*)(?: (?P<addr>[^\s"]+?))?:(?P<rest>.*)$')

# Routing word right after the summary: 'unrouted', 'erouted', 'prospective erouted',
# 'routed-ondemand', 'routed-tunnel', 'unrouted-bare-negotiation' ...
_ROUTING_RE = re.compile(r'^(?:prospective )?(?:e|un)?routed(?:[-\w]*)$|^routed-[-\w]+$', re.I)
# '...; erouted; eroute owner: #2' (4.x, Openswan): the Child SA owning the kernel policy.
_EROUTE_OWNER_RE = re.compile(r'\beroute owner: #(\d+)')
# 5.x detail: 'routing: routed-tunnel; owner: Child SA #2; established IKE SA: #1; ...'
_ROUTING_DETAIL_RE = re.compile(r'^routing: (?P<routing>[^;]+)')
_OWNER_DETAIL_RE = re.compile(r'\bowner: (?:Child|IPsec) SA #(\d+)')
# 'policy: IKEv2+PSK+ENCRYPT+TUNNEL+...' -> IKE version from the IKEv1/IKEv2 flag.
_POLICY_RE = re.compile(r'^policy: (?P<policy>[^;]*)')
_POLICY_VERSION_RE = re.compile(r'(?:^|\+)IKEv([12])(?=\+|$|;|\s)')
# 'IKEv2 algorithm newest: ...' also tells the version when the policy line is absent.
_ALGO_NEWEST_V2_RE = re.compile(r'^IKEv2 algorithm newest:')

# 'Total IPsec connections: loaded 7, active 0' (4.x) / 'loaded 1, routed 0, active 0' (5.3+).
_TOTAL_RE = re.compile(r'^Total IPsec connections:\s*(?P<rest>.*)$')
_WORD_COUNT_RE = re.compile(r'([A-Za-z-]+) (\d+)')
# 'IKE SAs: total(1), half-open(0), open(0), authenticated(1), anonymous(0)'
_SA_COUNT_RE = re.compile(r'^(?P<what>IKE|IPsec) SAs:\s*(?P<rest>.*)$')
_PAREN_COUNT_RE = re.compile(r'([A-Za-z-]+)\((\d+)\)')
# 'interface eth0 192.0.2.254:UDP/4500 (NAT)' (5.x), 'interface eth0 UDP 192.0.2.1:500'
# (4.x), 'interface eth0/eth0 192.168.1.100' (Openswan).
_INTERFACE_RE = re.compile(r'^interface (?P<name>\S+) (?P<detail>.+)$')
# 'using kernel interface: xfrm' (first line of 4.x/5.x status).
_KERNEL_IF_RE = re.compile(r'^using kernel interface: (\S+)')


# a connection detail key: 'policy', 'ike_life', 'our idtype', 'v2-auth-hash-policy' ...
_FIELD_NAME_RE = re.compile(r'^[A-Za-z][\w -]*$')


def _split_semicolons(text):
    return [part.strip() for part in text.split(';') if part.strip()]


def _empty_status(text=None):
    return {
        'connections': {},
        'states': [],
        'totals': {},
        'interfaces': [],
        'kernel_interface': None,
        'version': None,
        'lines': _safe_lines(text) if text is not None else [],
    }


def _conn_key(name, instance):
    return name if instance is None else '%s[%s]' % (name, instance)


def _new_connection(name, instance, address):
    return {
        'name': name,
        'instance': instance,
        'instance_address': address,
        'summary': None,
        'local': None,
        'remote': None,
        'routing': None,
        'eroute_owner': None,
        'routing_owner': None,
        'ike_version': None,
        'policy': None,
        'oriented': None,
        'fields': {},
        'lines': [],
    }


def _state_kind(state_name, description, rest):
    story = description or ''
    if _CHILD_STORY_RE.search(story):
        return 'child'
    if _IKE_STORY_RE.search(story):
        return 'ike'
    if state_name:
        if _CHILD_STATE_RE.search(state_name):
            return 'child'
        if _IKE_STATE_RE.search(state_name):
            return 'ike'
    if re.search(r'\bnewest IPSEC\b|\beroute owner\b', rest or ''):
        return 'child'
    if re.search(r'\bnewest ISAKMP\b', rest or ''):
        return 'ike'
    return None


def _parse_state_line(match, line):
    rest = match.group('rest') or ''
    state_name = None
    description = None
    tail = rest
    named = _STATE_NAME_RE.match(rest)
    colon = _STATE_COLON_RE.match(rest)
    if named:
        state_name = named.group('state')
        description = named.group('desc')
        tail = rest[named.end():]
    elif colon:
        state_name = colon.group('state')
        description = colon.group('desc').strip()
        tail = rest[colon.end():]
    else:
        parts = rest.split(';', 1)
        description = parts[0].strip() or None
        tail = ';' + parts[1] if len(parts) > 1 else ''
    # the story decides; a 5.0 "ESTABLISHED_CHILD_SA" name without story still counts
    established = bool(_ESTABLISHED_RE.search(description or ''))
    if not description and state_name and 'ESTABLISHED' in state_name:
        established = True
    parent = _PARENT_RE.search(tail)
    return {
        'serial': int(match.group('serial')),
        'name': match.group('name'),
        'instance': _instance_text(match.group('inst')),
        'instance_address': match.group('addr'),
        'port': _int_or_none(match.group('port')),
        'state': state_name,
        'description': description,
        'kind': _state_kind(state_name, description, tail),
        'established': established,
        'newest': bool(re.search(r'\bnewest\b', tail)),
        'eroute_owner': bool(re.search(r'\beroute owner\b', tail)),
        'parent_serial': int(parent.group(1)) if parent else None,
        'events': tail.strip('; ') or None,
        'traffic': {},
        'sa_details': None,
        'raw': line,
        'extra_lines': [],
    }


def _merge_sa_detail(result, states_by_serial, match, line):
    """Merge an SA detail line (``esp.XXXX@peer ... Traffic: ...``) into the state with its serial.

    When the detail line comes first, a placeholder state without a story holds the details
    until the state line itself arrives (see :func:`_add_state_line`).
    """
    serial = int(match.group('serial'))
    rest = match.group('rest') or ''
    state = states_by_serial.get(serial)
    if state is None:
        state = _parse_state_line(match, line)
        state.update({'description': None, 'kind': None, 'established': False, 'events': None})
        states_by_serial[serial] = state
        result['states'].append(state)
    state['sa_details'] = rest
    state['extra_lines'].append(line)
    for proto, direction, value in _TRAFFIC_KV_RE.findall(rest):
        number = _BYTES_RE.match(value)
        state['traffic'][proto + direction] = int(number.group(1)) if number else value


def _add_state_line(result, states_by_serial, match, line):
    """Add one ``#N: ...`` line to ``result['states']`` (SA detail lines merge into their state)."""
    serial = int(match.group('serial'))
    rest = match.group('rest') or ''
    if _SA_DETAIL_RE.match(rest) or (serial in states_by_serial and 'Traffic:' in rest):
        _merge_sa_detail(result, states_by_serial, match, line)
        return
    state = _parse_state_line(match, line)
    if serial in states_by_serial and states_by_serial[serial]['description'] is None:
        # detail line came first: keep its SA details
        old = states_by_serial[serial]
        state['sa_details'] = old['sa_details']
        state['traffic'] = old['traffic']
        state['extra_lines'] = old['extra_lines']
        result['states'][result['states'].index(old)] = state
    else:
        result['states'].append(state)
    states_by_serial[serial] = state


def _note_status_summary(result, line):
    """Totals, SA counts, interfaces and the kernel interface; True when *line* was one of them."""
    total = _TOTAL_RE.match(line)
    if total:
        for word, number in _WORD_COUNT_RE.findall(total.group('rest')):
            result['totals'][word] = int(number)
        return True
    sa_count = _SA_COUNT_RE.match(line)
    if sa_count:
        key = 'ike_sas' if sa_count.group('what') == 'IKE' else 'ipsec_sas'
        result['totals'][key] = dict((word, int(number)) for word, number
                                     in _PAREN_COUNT_RE.findall(sa_count.group('rest')))
        return True
    iface = _INTERFACE_RE.match(line)
    if iface:
        result['interfaces'].append({'name': iface.group('name'), 'detail': iface.group('detail'),
                                     'line': line})
        return True
    kernel = _KERNEL_IF_RE.match(line)
    if kernel:
        result['kernel_interface'] = kernel.group(1)
        return True
    return False


def _add_conn_line(result, match, line):
    """Add one ``"name"...: ...`` line to its connection in ``result['connections']``."""
    instance = _instance_text(match.group('inst'))
    key = _conn_key(match.group('name'), instance)
    conn = result['connections'].get(key)
    if conn is None:
        conn = _new_connection(match.group('name'), instance, match.group('addr'))
        result['connections'][key] = conn
    conn['lines'].append(line)
    _parse_conn_rest(conn, match.group('rest'))


@_never_raise(_empty_status)
def parse_status(text):
    """Parse ``ipsec status`` / ``ipsec auto --status`` / ``ipsec whack --status``.

    Accepts 4.x (every line ``000 ``), 5.x (no prefix, ``STATE_V2_`` dropped in 5.1, state
    names dropped in 5.4) and Openswan 2.x.  Returns::

        {
          'connections': {key: {name, instance, instance_address, summary, local, remote,
                                routing, eroute_owner (int), routing_owner (int),
                                ike_version, policy, oriented, fields, lines}},
          'states': [{serial, name, instance, instance_address, port, state (STATE_* or
                      None), description ('established Child SA', 'IPsec SA established'
                      ...), kind ('ike'|'child'|None), established (bool), newest,
                      eroute_owner (bool), parent_serial, events, traffic
                      ({'ESPin': 84, ...}), sa_details, raw, extra_lines}],
          'totals': {'loaded': 1, 'routed': 0, 'active': 0,
                     'ike_sas': {'total': 1, ...}, 'ipsec_sas': {...}},
          'interfaces': [{name, detail, line}],
          'kernel_interface': 'xfrm' or None,
          'version': parse_version() dict when a version line is printed, else None,
          'lines': [...],
        }

    Connection keys are the name as printed plus ``[N]`` for instances
    (``'rw[1]'``).  A state's SA detail line (``esp.XXXX@peer ... Traffic: ...``) is merged
    into the state with the same serial instead of becoming a state of its own.
    """
    result = _empty_status()
    pairs = split_output(text)
    result['lines'] = [line for _code, line in pairs]
    states_by_serial = {}

    for _code, line in pairs:
        stripped = line.strip()
        if not stripped:
            continue

        state_match = _STATE_LINE_RE.match(stripped)
        if state_match:
            _add_state_line(result, states_by_serial, state_match, stripped)
            continue
        if _note_status_summary(result, stripped):
            continue
        conn_match = _CONN_LINE_RE.match(stripped)
        if conn_match:
            _add_conn_line(result, conn_match, stripped)
            continue

        if result['version'] is None and _VERSION_RE.search(stripped):
            result['version'] = parse_version(stripped)

    return result


def _parse_conn_rest(conn, rest):
    """Fill *conn* from the text after '"name":' of one connection line."""
    if rest.startswith('  ') or not rest.strip():
        # indented detail line: "key: value; key: value;"
        detail = rest.strip()
        for part in _split_semicolons(detail):
            # "key: value" / "key=value" / "key:value"; split at the first separator
            # (str.find, not a lazy regex: blank runs would make that quadratic)
            cut = min([index for index in (part.find(':'), part.find('=')) if index > 0] or [0])
            key = part[:cut].strip()
            if cut and _FIELD_NAME_RE.match(key):
                conn['fields'][key] = part[cut + 1:].strip()
        routing = _ROUTING_DETAIL_RE.match(detail)
        if routing:
            conn['routing'] = routing.group('routing').strip()
            owner = _OWNER_DETAIL_RE.search(detail)
            if owner:
                conn['routing_owner'] = int(owner.group(1))
        policy = _POLICY_RE.match(detail)
        if policy:
            conn['policy'] = policy.group('policy').strip()
            version = _POLICY_VERSION_RE.search(conn['policy'])
            if version:
                conn['ike_version'] = int(version.group(1))
        if conn['ike_version'] is None and _ALGO_NEWEST_V2_RE.match(detail):
            conn['ike_version'] = 2
        if re.match(r'^(?:host: )?oriented\b', detail):
            conn['oriented'] = True
        elif re.match(r'^(?:host: )?unoriented\b', detail):
            conn['oriented'] = False
        return
    # summary line: "left...right; routing; eroute owner: #N; ..."
    parts = [part.strip() for part in rest.strip().split(';')]
    conn['summary'] = parts[0] if parts else None
    if conn['summary'] and '...' in conn['summary']:
        conn['local'], conn['remote'] = conn['summary'].split('...', 1)
    if len(parts) > 1 and _ROUTING_RE.match(parts[1]):
        conn['routing'] = parts[1]
    owner = _EROUTE_OWNER_RE.search(rest)
    if owner:
        conn['eroute_owner'] = int(owner.group(1))


def established_children(status, instances=False):
    """Connection names that have an established Child (IPsec) SA in a :func:`parse_status` result.

    Names are printed names without the instance suffix (``'rw'`` for ``"rw"[1]``), or
    with it (``'rw[1]'``) when *instances* is True.  Never raises: anything that is not a
    status dict gives an empty set.
    """
    names = set()
    try:
        for state in status.get('states', []):
            if state.get('kind') == 'child' and state.get('established'):
                if instances:
                    names.add(_conn_key(state.get('name'), state.get('instance')))
                else:
                    names.add(state.get('name'))
    except (AttributeError, TypeError):
        return set()
    return names
