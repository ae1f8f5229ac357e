# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private, controller side: what every part of the tunnel model shares.

The tunnel's keys, the list of problems and the :class:`ModelError` that reports them, and the readers
of a key, a flag and a host variable. ``_model`` and the parts it is split into (``_ends``,
``_topologies``, ``_crypto_checks``) all use them; they live here, apart, so that each of those can
import them without importing ``_model``, which imports them all (no import cycle).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib

from ansible.module_utils.parsing.convert_bool import boolean


# every key a tunnel may have (roles/tunnel/meta/argument_specs.yml describes the same ones; a unit test ties them)
TUNNEL_KEYS = {
    "name", "left", "right", "left_subnets", "right_subnets", "auth", "psk", "auto", "ike_version", "ike",
    "esp", "pfs", "dpd_delay", "dpd_timeout", "dpd_action", "initiator", "state", "options", "probe",
    "allow_weak", "left_sourceip", "right_sourceip", "own_ike_sa", "updown", "mtu", "mss_clamping", "mode",
    "interface_id", "left_selectors", "right_selectors",
}


class ModelError(Exception):
    """Every problem found, each as (tunnel, field, message)."""

    def __init__(self, problems):
        self.problems = problems
        super(ModelError, self).__init__(self.message)

    @property
    def message(self):
        lines = ["%d problem%s in sitevpn_tunnels (no host was touched):" % (
            len(self.problems), "" if len(self.problems) == 1 else "s")]
        for tunnel, field, text in self.problems:
            lines.append("  - tunnel %s, field %s: %s" % (tunnel, field, text))
        return "\n".join(lines)


class _Problems(object):
    def __init__(self):
        self.items = []

    def add(self, tunnel, field, text):
        self.items.append((tunnel, field, text))


def _did_you_mean(word, known):
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.75)
    return " (did you mean %s?)" % close[0] if close else ""


def _unknown_keys(mapping, known, label, problems, field=None, what=""):
    """Refuse keys that are not strings (YAML's on/off/yes/no and numbers) and keys the model does not
    know, with the known ones listed: a typo must not silently mean "default"."""
    for key in mapping:
        if not isinstance(key, str):
            problems.add(label, field or str(key), "the key %r is not a string: YAML reads unquoted on/off/yes/no/"
                         "true/false and numbers as other types; quote the key (known: %s)"
                         % (key, ", ".join(sorted(known))))
    unknown = sorted(k for k in mapping if isinstance(k, str) and k not in known)
    if unknown:
        hints = "".join(_did_you_mean(k, known) for k in unknown)
        problems.add(label, field or ", ".join(unknown), "unknown key(s) %s%s%s; known: %s"
                     % (", ".join(unknown), what, hints, ", ".join(sorted(known))))


def strict_bool(value):
    """True/False from YAML or a string ('false' from -e is false); raises TypeError otherwise.
    For variables, which `-e key=value` hands over as strings."""
    return boolean(value, strict=True)


def _flag(mapping, key, default, label, problems):
    """A true/false field of a tunnel or topology: a YAML boolean, nothing else ("false" in quotes is a
    string, and a string would be true to Jinja). ``default`` comes from a variable (strict_bool)."""
    if key not in mapping:
        return default
    value = mapping[key]
    if not isinstance(value, bool):
        problems.add(label, key, "must be true or false (a YAML boolean, unquoted), not %r" % (value,))
        return default
    return value


def _hostvar(hostvars, host, key, default=None):
    try:
        value = hostvars[host].get(key)
    except (KeyError, AttributeError):
        return default
    return default if value is None else value
