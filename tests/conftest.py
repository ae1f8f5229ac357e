# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""In CI nothing is skipped: a skip there is a failure that says what was missing.

Locally a test may skip when something it reads is absent (``../shared/fixtures``, the seed
document, a host tool such as ``nft``): the skip says why, and the run still tells the rest.
In CI (``CI=true``, as ``.ci/run`` runs) the same skip would hide that about 2,000 parser
cases, or a whole backend, were never exercised; so there every skip, whatever its reason,
is reported as a failure carrying that reason.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest


def in_ci():
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not in_ci() or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = "skipped in CI, which must run everything: %s" % reason
