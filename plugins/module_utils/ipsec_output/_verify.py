# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Parser of ``ipsec verify`` output (4.x and Openswan; gone in 5.x) and its remedies."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ._common import (
    _never_raise,
    _safe_lines,
    _to_text,
    split_output,
)
from ._version import _VERSION_RE, parse_version


# ---------------------------------------------------------------------------
# ipsec verify (4.x and Openswan; gone in 5.x)
# ---------------------------------------------------------------------------

# 'label<blanks or TAB>[STATUS]' - the verdict is the last bracket group on the line;
# a line holding only '[OK]' belongs to the wrapped label printed just before it.
# (Split with rfind rather than one regex: a lazy label followed by optional blanks
# would backtrack quadratically on long blank-filled lines.)
_VERIFY_STATUS_RE = re.compile(r'^[A-Za-z][A-Za-z0-9 /_-]{0,30}$')


def _split_verify_line(line):
    """``'label<TAB>[OK]'`` -> ``('label', 'OK')``; None when the line carries no verdict."""
    if not line.endswith(']'):
        return None
    start = line.rfind('[')
    if start < 0:
        return None
    status = line[start + 1:-1]
    if not _VERIFY_STATUS_RE.match(status):
        return None
    return line[:start].rstrip(' \t.:'), status


#: Verdicts that mean "nothing to fix".  ``DISABLED`` is what verify prints for features
#: that should be off (opportunistic encryption); ``N/A`` for checks that do not apply.
#: Everything else (FAILED, NOT DISABLED, WARNING, ENABLED - e.g. rp_filter - and any
#: verdict this module does not know) is *not* ok.
VERIFY_OK_STATUSES = frozenset(['OK', 'N/A', 'DISABLED', 'PASSED', 'YES', 'SKIPPED'])

#: Check-name regex (case-insensitive) -> what to do about a check that is not ok.
#: The first matching entry wins (dicts keep insertion order).
VERIFY_REMEDIES = {
    r'opportunistic|\bOE\b': 'ignore: opportunistic encryption is not used by site-to-site tunnels',
    r'ip[ _]?forward': 'enable net.ipv4.ip_forward=1 (the firewall role does it)',
    r'rp_filter': 'set net.ipv4.conf.<wan>.rp_filter (and .all) to 0 or 2 on the WAN interfaces',
    r'send_redirects': 'disable sending ICMP redirects: net.ipv4.conf.all.send_redirects=0 '
                       'and net.ipv4.conf.default.send_redirects=0',
    r'accept_redirects': 'disable accepting ICMP redirects: net.ipv4.conf.all.accept_redirects=0 '
                         'and net.ipv4.conf.default.accept_redirects=0',
    r'pluto (?:is )?running|pluto listening|checking that pluto': 'start the IPsec service: systemctl start ipsec',
    r'\bNSS\b|initnss': 'initialise the NSS database: ipsec initnss',
    r"'ip' command|\bip command\b": 'install iproute2',
    r"iptables|nftables|'nft' command": 'install nftables (it provides the iptables-nft commands)',
    r'NAT and MASQUERAD': 'exempt tunnel traffic from NAT/masquerading (the firewall role does it)',
    r'ipsec\.secrets?|RSA private key': 'check /etc/ipsec.secrets (permissions 0600, syntax)',
    r'ipsec\.conf syntax': "fix /etc/ipsec.conf: 'ipsec addconn --checkconfig' shows the error",
    r'obsolete ipsec\.conf': 'remove the obsolete options from /etc/ipsec.conf',
    r'prelink': 'remove prelink (it interferes with FIPS self-checks)',
    r'IPsec support in kernel|XFRM|NETKEY': 'load the kernel IPsec modules (xfrm_user, esp4) or use a kernel that has them',
}

_VERIFY_REMEDY_RES = tuple((re.compile(pattern, re.I), remedy) for pattern, remedy in VERIFY_REMEDIES.items())


def verify_remedy(name):
    """Remedy sentence for an ``ipsec verify`` check name, or None if none is known."""
    try:
        name = _to_text(name)
    except Exception:  # pylint: disable=broad-except
        return None
    for regex, remedy in _VERIFY_REMEDY_RES:
        if regex.search(name):
            return remedy
    return None


def _empty_verify(text=None):
    return {
        'checks': [],
        'failed': [],
        'preamble': [],
        'version': None,
        'lines': _safe_lines(text) if text is not None else [],
    }


@_never_raise(_empty_verify)
def parse_verify(text):
    """Parse ``ipsec verify`` (Libreswan 4.x, Openswan 2.x).

    Returns ``checks``: ``[{name, status (upper-case text in the brackets), ok, indent,
    parent (name of the enclosing check for indented sub-checks, else None), details
    (free-text lines printed after it), remedy (None when ok), line}]``; ``failed``: the
    names of checks that are not ok; ``preamble``: free text before the first check;
    ``version``: :func:`parse_version` of a version line (``Libreswan 4.10``,
    ``Linux Openswan U2.2.0/...``) if printed; ``lines``.

    ``ok`` is True exactly for :data:`VERIFY_OK_STATUSES` (OK, N/A, DISABLED ...), False
    for FAILED, NOT DISABLED, WARNING, ENABLED and anything unknown.  The exit status of
    verify (number of failures) is for the caller to compare.
    """
    result = _empty_verify()
    pairs = split_output(text)
    result['lines'] = [line for _code, line in pairs]
    checks = result['checks']
    for _code, line in pairs:
        if not line.strip():
            continue
        match = _split_verify_line(line)
        if match is None:
            if checks:
                checks[-1]['details'].append(line.strip())
            else:
                result['preamble'].append(line.strip())
            if result['version'] is None and _VERSION_RE.search(line):
                result['version'] = parse_version(line)
            continue
        label, status = match
        indent = len(label) - len(label.lstrip())
        name = label.strip().rstrip(':').strip()
        if not name:
            # status on its own line: the label was the free-text line just before it
            owner = checks[-1]['details'] if checks else result['preamble']
            if owner:
                name = owner.pop()
            else:
                name = ''
        status = re.sub(r'\s+', ' ', status.strip()).upper()
        parent = None
        for previous in reversed(checks):
            if previous['indent'] < indent:
                parent = previous['name']
                break
        ok = status in VERIFY_OK_STATUSES
        remedy = None
        if not ok:
            remedy = verify_remedy(name) or (verify_remedy(parent) if parent else None)
        checks.append({
            'name': name,
            'status': status,
            'ok': ok,
            'indent': indent,
            'parent': parent,
            'details': [],
            'remedy': remedy,
            'line': line,
        })
    result['failed'] = [check['name'] for check in checks if not check['ok']]
    return result
