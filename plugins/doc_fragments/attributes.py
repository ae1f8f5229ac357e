# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the attributes of the collection's modules mean; each module says its support and details."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and report what would change, without changing the gateway.
  diff_mode:
    description: Returns what changed (or would change in check mode) as before and after, in diff mode.
  idempotent:
    description: A second run with the same arguments reports no change and changes nothing.
"""

    # the three read-only modules (status_info, verify_info, diagnose_info): with the default fragment
    # above, which describes each attribute, this gives their support
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Never changes anything.
"""

    ACTION = r"""
options: {}
attributes:
  action:
    description: Has an action plugin of the same name; its work runs on the controller.
"""
