# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: ``ipsec verify`` for Libreswan 5.x, which no longer has it.

The checks 4.x's ``ipsec verify`` made, done in Python from ``/proc`` plus a few
``ipsec`` calls, returned in the shape :func:`ipsec_output.parse_verify` gives
(``name``, ``status``, ``ok``, ``remedy``, ``parent``, ``details``) so callers
cannot tell the sources apart except by ``source``. Names are chosen so that
:func:`ipsec_output.verify_remedy` finds the same remedy sentences.

The file checks take the ``/proc`` root as an argument (tests point it into a
temporary directory); the command checks take the runner.

Not a public API: names may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.sitevpn.ipsec.plugins.module_utils import ipsec_output

# 'ipsec verify' on 5.x: '/usr/sbin/ipsec: unknown IPsec command "verify" ("ipsec help" for list)' (5.2, live).
_UNKNOWN_VERIFY_RE = re.compile(r'unknown (?:IPsec )?command\W+verify\b|\bverify\b.{0,20}\bnot (?:found|supported)\b',
                                re.I)

# IKE ports in /proc/net/udp{,6} (hex, local_address column 'ADDR:PORT').
IKE_PORT = 500
NAT_T_PORT = 4500


def verify_missing(text):
    """True when ``ipsec verify`` said it does not exist (Libreswan 5.x)."""
    return bool(_UNKNOWN_VERIFY_RE.search(text or ''))


def check(name, ok, status=None, details=None, parent=None):
    status = status or ('OK' if ok else 'FAILED')
    return {
        'name': name,
        'status': status,
        'ok': bool(ok),
        'parent': parent,
        'details': list(details or []),
        'remedy': None if ok else (ipsec_output.verify_remedy(name) or
                                   (ipsec_output.verify_remedy(parent) if parent else None)),
    }


def from_verify(parsed):
    """The checks of a ``parse_verify`` result, without the parser's bookkeeping."""
    keys = ('name', 'status', 'ok', 'parent', 'details', 'remedy')
    return [dict((key, item.get(key)) for key in keys) for item in parsed.get('checks', [])]


def _read_int(path):
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (IOError, OSError, ValueError):
        return None


def listening_ports(proc):
    """UDP ports something listens on, from ``/proc/net/udp`` and ``udp6``."""
    ports = set()
    for name in ('udp', 'udp6'):
        try:
            with open(os.path.join(proc, 'net', name)) as handle:
                lines = handle.read().splitlines()[1:]
        except (IOError, OSError):
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 1 and ':' in fields[1]:
                try:
                    ports.add(int(fields[1].rsplit(':', 1)[1], 16))
                except ValueError:
                    continue
    return ports


def sysctl_checks(proc):
    """IP forwarding, ICMP redirects and rp_filter, as verify judged them."""
    conf = os.path.join(proc, 'sys', 'net', 'ipv4')
    checks = []
    forward = _read_int(os.path.join(conf, 'ip_forward'))
    checks.append(check('IP forwarding (net.ipv4.ip_forward)', forward == 1,
                        status=None if forward == 1 else 'FAILED',
                        details=['net.ipv4.ip_forward = %s' % forward]))
    for what in ('send_redirects', 'accept_redirects'):
        for scope in ('all', 'default'):
            value = _read_int(os.path.join(conf, 'conf', scope, what))
            checks.append(check('ICMP %s/%s' % (scope, what), value == 0 or value is None,
                                status='OK' if not value else 'NOT DISABLED',
                                details=['net.ipv4.conf.%s.%s = %s' % (scope, what, value)]))
    # rp_filter: the kernel uses max(conf.all, conf.IFACE); 1 (strict) drops decrypted packets
    # whose reverse route is not the tunnel, 2 (loose) is fine.
    strict = []
    conf_dir = os.path.join(conf, 'conf')
    all_value = _read_int(os.path.join(conf_dir, 'all', 'rp_filter'))
    if all_value == 1:
        strict.append('all')
    try:
        interfaces = sorted(os.listdir(conf_dir))
    except OSError:
        interfaces = []
    for iface in interfaces:
        if iface in ('all', 'default', 'lo'):
            continue
        if _read_int(os.path.join(conf_dir, iface, 'rp_filter')) == 1:
            strict.append(iface)
    parent = 'Checking rp_filter'
    checks.append(check(parent, not strict, status='OK' if not strict else 'ENABLED',
                        details=['strict (1): %s' % ', '.join(strict)] if strict else []))
    for iface in strict:
        checks.append(check('/proc/sys/net/ipv4/conf/%s/rp_filter' % iface, False, status='ENABLED', parent=parent))
    return checks


def builtin_checks(module, runner, proc):
    """Every check, in the order ``ipsec verify`` printed them."""
    checks = []
    xfrm = os.path.exists(os.path.join(proc, 'net', 'xfrm_stat'))
    details = ['%s exists' % os.path.join(proc, 'net', 'xfrm_stat')] if xfrm else []
    if not xfrm:
        ip_state = runner.optional_command('ip', ['xfrm', 'state'])
        xfrm = ip_state is not None and ip_state.rc == 0
        details = ['`ip xfrm state` exit %s' % (ip_state.rc if ip_state is not None else 'n/a (no ip command)')]
    checks.append(check('Checking for IPsec support in kernel (XFRM)', xfrm, details=details))
    checks.extend(sysctl_checks(proc))

    syntax_args = ['addconn', '--checkconfig'] if runner.major < 5 else ['checkconfig']
    syntax = runner.run(syntax_args)
    complaints = [line.strip() for line in syntax.err.splitlines() if line.strip()]
    checks.append(check('Pluto ipsec.conf syntax', syntax.rc == 0 and not complaints,
                        details=complaints or (['exit %d' % syntax.rc] if syntax.rc else [])))

    status = runner.verb('status', mutating=False)
    error = ipsec_output.detect_error(status.text)
    running = status.rc == 0 and not (error and error['kind'] == 'not_loaded')
    parent = 'Checking that pluto is running'
    checks.append(check(parent, running, details=[] if running else [status.text.strip()]))
    ports = listening_ports(proc)
    checks.append(check('Pluto listening for IKE on udp %d' % IKE_PORT, IKE_PORT in ports, parent=parent))
    checks.append(check('Pluto listening for IKE/NAT-T on udp %d' % NAT_T_PORT, NAT_T_PORT in ports, parent=parent))

    listing = runner.run(['showhostkey', '--list'])
    hostkeys = ipsec_output.parse_showhostkey(listing.text)
    nss_ok = not (hostkeys['error'] and hostkeys['error']['kind'] == 'nss_not_initialised')
    checks.append(check('Checking NSS database', nss_ok,
                        details=[] if nss_ok else [hostkeys['error']['line']]))

    ip_path = module.get_bin_path('ip', required=False, opt_dirs=['/usr/sbin', '/sbin', '/usr/bin', '/bin'])
    checks.append(check("Checking 'ip' command", bool(ip_path), details=[ip_path] if ip_path else []))
    return checks
