# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure parsers for the text printed by Libreswan's (and Openswan's) ``ipsec`` command.

Nothing here runs a command or imports Ansible: every function takes the text a
command printed (``str``, ``bytes``, a list of lines or ``None``) and returns plain
dicts and lists, so modules, action plugins and unit tests can share them.

Forms accepted
--------------
* **Libreswan 4.x live output** (Debian 12 ships 4.10): every line pluto relays through
  ``whack`` starts with a three digit status code and a space (``002 ``, ``004 ``,
  ``000 ``, ``006 ``, ``021 ``, ``031 `` ...).  The code is stripped from the text and
  kept beside it (``codes``), because 4.x derives its exit status from it.
* **Libreswan 5.x / 6.x output** and the upstream test-suite transcripts: the same
  sentences without the code; log-level tags such as ``IMPAIR:`` or ``ERROR:`` may
  precede the connection name.
* **Openswan 2.x** (the seed HOWTO): ``STATE_MAIN_I4: ISAKMP SA established``,
  ``STATE_QUICK_I2: sent QI2, IPsec SA established {ESP=>0x... <0x...}``,
  ``000 #4: "c" STATE_QUICK_R2 (IPsec SA established); ...`` and ``ipsec verify``
  with ``[N/A]``.
* Windows/CRLF line ends, lone CRs, ANSI colour escapes, ``bytes`` with invalid UTF-8.

Rules every parser follows
--------------------------
* Decide from the *story text* that pluto prints (``established Child SA``,
  ``IPsec SA established``, ``AUTHENTICATION_FAILED`` ...), never from ``STATE_*``
  names alone: those names changed in 5.1 and vanished in 5.4.
* Unknown lines are kept in ``lines`` and otherwise ignored; they never make a parse
  fail.  No parser raises on any input: a bug in a parser is turned into a safe
  "nothing recognised" result carrying a ``parse_error`` key (set ``_STRICT = True``
  to let the exception through, as the unit tests do).

Public functions
----------------
``parse_auto_up``, ``parse_trafficstatus``, ``parse_status`` (+ ``established_children``),
``parse_showhostkey`` / ``parse_showhostkey_list``, ``parse_verify`` (+ ``verify_remedy``,
``VERIFY_REMEDIES``), ``parse_version``, ``parse_add``, ``parse_down``, and the helpers
``split_output`` and ``detect_error``.

Layout
------
This package is the former single file ``ipsec_output.py``, split by command:
``_common`` (line handling, the never-raise safety net, pluto log lines, failure
classification), ``_auto_up``, ``_trafficstatus``, ``_status``, ``_showhostkey``,
``_verify``, ``_version``, ``_add`` and ``_down``.  Import from the package, not from
those submodules.  Inside the package every import is relative, so it also works
copied as a plain directory (the monitor role deploys it beside its collector).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ._common import ERROR_KINDS, detect_error, split_output
from ._auto_up import parse_auto_up
from ._trafficstatus import parse_trafficstatus
from ._status import established_children, parse_status
from ._showhostkey import parse_showhostkey, parse_showhostkey_list
from ._verify import VERIFY_OK_STATUSES, VERIFY_REMEDIES, parse_verify, verify_remedy
from ._version import parse_version
from ._add import ignored_keywords, parse_add
from ._down import parse_down


# When True, a bug inside a parser raises instead of being turned into a safe result.
# The unit tests switch it on so that the "never raises" safety net cannot hide bugs.
# It lives here, on the package, only: the safety net (_common._never_raise) reads it
# from here each time a parser fails, so ``ipsec_output._STRICT = True`` takes effect.
_STRICT = False


__all__ = [
    'ERROR_KINDS',
    'VERIFY_OK_STATUSES',
    'VERIFY_REMEDIES',
    'detect_error',
    'established_children',
    'ignored_keywords',
    'parse_add',
    'parse_auto_up',
    'parse_down',
    'parse_showhostkey',
    'parse_showhostkey_list',
    'parse_status',
    'parse_trafficstatus',
    'parse_verify',
    'parse_version',
    'split_output',
    'verify_remedy',
]
