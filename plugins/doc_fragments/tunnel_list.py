# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The input every filter over the tunnel list takes: the same words in each filter's documentation."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  _input:
    description: The C(sitevpn_tunnels) list.
    type: list
    elements: dict
    required: true
"""
