#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: psk
short_description: Read or generate the pre-shared keys of PSK tunnels on the gateway that owns them
version_added: 0.1.0
description:
  - For PSK tunnels whose inventory gives no key, the gateway that owns the tunnel (its left end) is the source
    of truth. Run this module there, register the result, and hand the keys to M(sitevpn.ipsec.conns) on both
    ends.
  - For each tunnel, if C(/etc/ipsec.d/NAME.secrets) exists and was written by this collection (its first line
    holds the marker C(Managed by sitevpn.ipsec)), the key in it is returned. Otherwise a new random key is generated
    with Python's C(secrets) module.
  - Writes nothing. M(sitevpn.ipsec.conns) writes the secrets files, so after it ran a second call returns the
    same keys and reports no change.
  - The task B(must) set C(no_log) to V(true); the module refuses to run otherwise, because its result holds the
    keys in clear text.
author:
  - sitevpn maintainers (@sitevpn)
extends_documentation_fragment:
  - sitevpn.ipsec.attributes
options:
  tunnels:
    description: Names of the PSK tunnels.
    type: list
    elements: str
    required: true
  regenerate:
    description:
      - Rotation. V(true) generates new keys for every tunnel in O(tunnels); a list names the tunnels to
        rotate. Both ends must then get the new key (run M(sitevpn.ipsec.conns) on both).
    type: raw
    default: false
  length:
    description: Bytes of randomness per generated key (the key is their URL-safe base64 text, about 4/3 as long).
    type: int
    default: 48
attributes:
  check_mode:
    support: full
    details: Behaves the same (it never writes); a key generated in check mode is not stored anywhere.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: Once M(sitevpn.ipsec.conns) has written the secrets files, repeated runs return the same keys and
      report no change. Until then each run generates new keys. O(regenerate) always changes.
notes:
  - Register the result (C(register)) and use it in the same play. Do not turn the keys into facts, because facts
    may be cached on disk by a fact cache.
  - The keys cannot be masked by the module itself (Ansible's C(no_log_values) masks the returned data too, so a
    registered result would hold C(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER) - and both ends would agree on that as their key). C(no_log)
    on the task hides the whole result from the screen and logs while the registered variable keeps the keys;
    that is why the module requires it.
"""

EXAMPLES = r"""
- name: Keys of the tunnels this gateway owns (left end)
  sitevpn.ipsec.psk:
    tunnels: [net-to-net]
  register: owned_psks
  no_log: true

- name: Rotate one key
  sitevpn.ipsec.psk:
    tunnels: [net-to-net, branch]
    regenerate: [branch]
  register: owned_psks
  no_log: true
"""

RETURN = r"""
psks:
  description: Tunnel name to key (text, as C(conns) expects in each tunnel's C(psk)).
  returned: success
  type: dict
  sample: {net-to-net: "<hidden by no_log>"}
generated:
  description: Tunnels whose key was generated in this run (no managed secrets file, or rotation).
  returned: success
  type: list
  elements: str
existing:
  description: Tunnels whose key was read from their managed secrets file.
  returned: success
  type: list
  elements: str
"""

import base64
import binascii
import os
import re
import secrets

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.parsing.convert_bool import boolean
from ansible_collections.sitevpn.ipsec.plugins.module_utils._conn import MARKER, NAME_RE

#: Where conns writes NAME.secrets (a constant so unit tests can point it into a temporary directory).
CONF_DIR = "/etc/ipsec.d"

# render_secrets: '@left @right : PSK 0s<base64 of the utf-8 key>'; a quoted key is accepted too.
_PSK_LINE_RE = re.compile(r'^\S.*?\s:\s*PSK\s+(?:0s(?P<b64>[A-Za-z0-9+/=]+)|"(?P<quoted>[^"]*)")\s*$')


def read_managed_key(path):
    """(key or None, why not): the key of a secrets file this collection wrote."""
    try:
        with open(path) as handle:
            text = handle.read()
    except (IOError, OSError):
        return None, "absent"
    lines = text.splitlines()
    if not lines or MARKER not in lines[0]:
        return None, "not managed"
    for line in lines[1:]:
        match = _PSK_LINE_RE.match(line)
        if not match:
            continue
        if match.group("quoted") is not None:
            return match.group("quoted"), None
        try:
            return base64.b64decode(match.group("b64")).decode("utf-8"), None
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return None, "unreadable"
    return None, "unreadable"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            tunnels=dict(type="list", elements="str", required=True),
            regenerate=dict(type="raw", default=False),
            length=dict(type="int", default=48),
        ),
        supports_check_mode=True,
    )
    if not module.no_log:
        module.fail_json(msg="sitevpn.ipsec.psk returns pre-shared keys in clear text: add `no_log: true` to this "
                             "task (and register its result; do not set it as a fact).")
    params = module.params
    if not 16 <= params["length"] <= 1024:
        module.fail_json(msg="length=%d: use 16 to 1024 bytes of randomness (default 48)" % params["length"])
    for name in params["tunnels"]:
        if not NAME_RE.match(name):
            module.fail_json(msg="tunnel name %r is not valid: letters, digits, '.', '_' and '-', at most 48 "
                                 "characters, starting with a letter or digit" % name)
    regenerate = params["regenerate"]
    if isinstance(regenerate, list):
        unknown = sorted(set(regenerate) - set(params["tunnels"]))
        if unknown:
            module.fail_json(msg="regenerate names tunnels that are not in tunnels: %s" % ", ".join(unknown))
        rotate = set(regenerate)
    else:
        try:
            rotate = set(params["tunnels"]) if boolean(regenerate, strict=True) else set()
        except TypeError:
            module.fail_json(msg="regenerate must be a boolean or a list of tunnel names")

    psks, generated, existing = {}, [], []
    for name in params["tunnels"]:
        path = os.path.join(CONF_DIR, name + ".secrets")
        key, why = (None, "rotation") if name in rotate else read_managed_key(path)
        if key:
            existing.append(name)
        else:
            if why == "not managed":
                module.warn("%s exists but was not written by sitevpn.ipsec; a new key was generated for tunnel %s "
                            "(conns will refuse to overwrite that file's conn)" % (path, name))
            elif why == "unreadable":
                module.warn("%s holds no readable PSK line; a new key was generated for tunnel %s" % (path, name))
            key = secrets.token_urlsafe(params["length"])
            generated.append(name)
        psks[name] = key
    module.exit_json(changed=bool(generated), psks=psks, generated=generated, existing=existing)


if __name__ == "__main__":
    main()
