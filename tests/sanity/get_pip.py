# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for the get-pip bootstrap script ansible-test downloads.

ansible-test creates an empty virtualenv for each sanity test and puts pip
into it with ``get-pip-<version>.py`` from ci-files.testing.ansible.com, a
host this machine cannot reach. Like the real script, this one runs pip from a
pip wheel (fetched from PyPI by ``make sanity`` and kept next to this file) to
install pip itself: ``install --upgrade --force-reinstall <args>``.
``make sanity`` copies it to ``$HOME/.ansible/test/cache/get_pip_<version>.py``
under a HOME of its own, where ansible-test looks before downloading.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import sys


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    wheels = sorted(glob.glob(os.path.join(here, 'pip-*.whl')))
    if not wheels:
        sys.exit('no pip wheel next to %s (make sanity fetches it)' % __file__)
    sys.path.insert(0, wheels[-1])
    # like get-pip.py: --no-setuptools/--no-wheel only mean "do not add them"
    args = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel
    sys.exit(pip_main(['install', '--upgrade', '--force-reinstall', '--find-links', here] + args))


if __name__ == '__main__':
    main()
