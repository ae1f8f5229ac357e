#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: verify_info
short_description: Run C(ipsec verify), or its checks where Libreswan no longer has it
version_added: 0.1.0
description:
  - On Libreswan 4.x (and Openswan) runs C(ipsec verify) and returns every check with a remedy for those that
    are not OK. Its exit code is the number of failed checks, not an error of this module.
  - Libreswan 5.x has no C(ipsec verify). When C(ipsec verify) answers that the command is unknown, the module
    makes the same checks itself and returns them in the same shape, with RV(source) V(builtin) - pluto running
    and listening on UDP 500 and 4500, kernel XFRM support, IP forwarding, ICMP redirects, C(rp_filter) (strict
    mode 1 is a problem, loose 2 is not), C(ipsec.conf) syntax, the NSS database, the C(ip) command.
author:
  - sitevpn maintainers (@sitevpn)
extends_documentation_fragment:
  - sitevpn.ipsec.attributes
  - sitevpn.ipsec.attributes.read_only
options:
  fail_on_failed:
    description: Fail the task when any check is not OK (the message lists them with their remedies).
    type: bool
    default: false
notes:
  - The syntax check of Libreswan 5.2 (C(ipsec checkconfig)) exits 0 and prints nothing for some conn-level
    errors (a bad subnet) that 4.10's C(ipsec addconn --checkconfig) reports; loading the conn still catches them.
  - C(ip_forward) is checked by the built-in checks only (4.x's verify dropped that check); a gateway of a
    site-to-site tunnel needs it.
"""

EXAMPLES = r"""
- name: Check the gateway, fail with remedies
  sitevpn.ipsec.verify_info:
    fail_on_failed: true

- name: Collect the checks
  sitevpn.ipsec.verify_info:
  register: verify

- name: Show what needs fixing
  ansible.builtin.debug:
    msg: "{{ verify.checks | rejectattr('ok') | map(attribute='remedy') | list }}"
"""

RETURN = r"""
source:
  description: V(ipsec verify) (4.x, Openswan) or V(builtin) (5.x).
  returned: always
  type: str
checks:
  description: Every check - C(name), C(status) (V(OK), V(FAILED), V(NOT DISABLED), V(ENABLED), V(N/A) ...), C(ok), C(remedy)
    (V(null) when ok), C(parent) (for indented sub-checks), C(details).
  returned: always
  type: list
  elements: dict
  sample: [{name: ICMP default/send_redirects, status: NOT DISABLED, ok: false, parent: Checking for IPsec support in kernel,
            remedy: "disable sending ICMP redirects: ...", details: []}]
failed_checks:
  description:
    - Names of the checks that are not OK.
    - Not called C(failed) - Ansible reads a non-empty C(failed) in a result as "the task failed".
  returned: always
  type: list
  elements: str
version:
  description: Version of Libreswan (parse of C(ipsec --version)).
  returned: always
  type: str
commands:
  description: Every argv that ran.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sitevpn.ipsec.plugins.module_utils import ipsec_output
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _verify
from ansible_collections.sitevpn.ipsec.plugins.module_utils._runner import IpsecError, IpsecRunner

#: Root of the kernel's files (a constant so unit tests can point it into a temporary directory).
PROC = "/proc"


def main():
    module = AnsibleModule(
        argument_spec=dict(fail_on_failed=dict(type="bool", default=False)),
        supports_check_mode=True,
    )
    runner = None
    try:
        runner = IpsecRunner(module)
        version = runner.version.get("version")
        verify = runner.run(["verify"])
        if _verify.verify_missing(verify.text):
            source = "builtin"
            checks = _verify.builtin_checks(module, runner, PROC)
        else:
            source = "ipsec verify"
            parsed = ipsec_output.parse_verify(verify.out)
            checks = _verify.from_verify(parsed)
            if not checks:
                raise IpsecError("`ipsec verify` printed no checks (exit %d): %s"
                                 % (verify.rc, verify.text.strip() or "no output"))
    except IpsecError as exc:
        module.fail_json(msg=exc.msg, commands=runner.commands if runner else [], **exc.details)
    failed = [item["name"] for item in checks if not item["ok"]]
    result = dict(changed=False, source=source, checks=checks, failed_checks=failed, version=version,
                  commands=runner.commands)
    if failed and module.params["fail_on_failed"]:
        reasons = ["%s [%s]: %s" % (item["name"], item["status"], item["remedy"] or "see `ipsec verify`")
                   for item in checks if not item["ok"]]
        module.fail_json(msg="%d IPsec check(s) failed (%s): %s" % (len(failed), source, "; ".join(reasons)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
