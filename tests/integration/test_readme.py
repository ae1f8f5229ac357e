# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The README's role-variable table is the roles' argument specs (make readme rewrites it)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess
import sys

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))


def test_the_role_variable_table_is_generated_from_the_argument_specs():
    run = subprocess.run([sys.executable, os.path.join(REPO, 'tests', 'tools', 'readme_tables.py')],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert run.returncode == 0, 'README.md is stale, run `make readme`:\n' + run.stdout
