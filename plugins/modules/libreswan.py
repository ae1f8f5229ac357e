#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: libreswan
short_description: Libreswan installed, configured (config setup) and running, in one call
version_added: 0.1.0
description:
  - Installs Libreswan from the distribution (apt on the Debian family, dnf or yum on the RedHat family) when
    it is missing, writes C(/etc/ipsec.conf) (the C(config setup) section, plus the C(include) of
    C(/etc/ipsec.d/*.conf) that the tunnels use), enables C(ipsec) at boot and starts it.
  - The service is restarted only when C(config setup) changed while it was running; a running pluto
    with an unchanged configuration is left alone, so established tunnels are not disturbed.
  - Detects an old Openswan installation (the seed's software) and refuses to continue unless
    O(replace_openswan=true), in which case Openswan is removed first. The RSA private key blocks Openswan
    kept in C(/etc/ipsec.secrets) are not migrated; Libreswan keeps private keys in its NSS database.
author:
  - sitevpn maintainers (@sitevpn)
extends_documentation_fragment:
  - sitevpn.ipsec.attributes
options:
  package:
    description: Package to install.
    type: str
    default: libreswan
  config_setup:
    description: Keys of the C(config setup) section (for example C(ikev1-policy), C(logfile), C(plutodebug)).
    type: dict
    default: {}
  manage_ipsec_conf:
    description: Write C(/etc/ipsec.conf). When false it is left as it is (it must include C(/etc/ipsec.d/*.conf)).
    type: bool
    default: true
  replace_openswan:
    description: Remove an Openswan installation found on the host instead of failing.
    type: bool
    default: false
  state:
    description: V(started) installs, configures and starts; V(installed) does not start the service.
    type: str
    choices: [started, installed]
    default: started
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: C(/etc/ipsec.conf) before and after.
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Libreswan installed and running
  sitevpn.ipsec.libreswan:
    config_setup:
      ikev1-policy: drop
"""

RETURN = r"""
version:
  description: Libreswan version after the run.
  returned: always
  type: str
  sample: "4.10"
os_family:
  description: Debian or RedHat (from /etc/os-release).
  returned: always
  type: str
installed:
  description: Whether the package was installed by this run.
  returned: always
  type: bool
service:
  description: What was done to the service (C(started), C(restarted), C(enabled)) and its state now.
  returned: always
  type: dict
openswan:
  description: Evidence of an Openswan installation, when found.
  returned: when found
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _install
from ansible_collections.sitevpn.ipsec.plugins.module_utils._install import ARGUMENT_SPEC, install, render_ipsec_conf

# the module's code lives in _install, where another module can run it too; the unit tests patch its
# constants there (tests/unit/plugins/modules/helper.py) and call render_ipsec_conf through this module
_IMPLEMENTATION = (_install,)
__all__ = ["main", "render_ipsec_conf"]


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**install(module))


if __name__ == "__main__":
    main()
