"""Lab tests: real UML gateways, real IKE, real ESP (see lab/ and the README).

Each test module that needs a lab asks for one with the ``lab_for`` fixture
factory; labs are shared across modules by topology within a session and
torn down at the end, and every tear-down is checked to leave nothing behind.

Run as root. ``SITEVPN_SKIP_LAB=1`` skips these tests (say so in any report).
"""

import os

import pytest

from labtest import SESSIONS as _SESSIONS
from labtest import LabSession


def pytest_collection_modifyitems(config, items):
    if os.environ.get("SITEVPN_SKIP_LAB") == "1":
        skip = pytest.mark.skip(reason="SITEVPN_SKIP_LAB=1: lab tests not run")
        for item in items:
            if "tests/lab/" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def lab_for(request):
    """lab_for('seed') -> a LabSession of that topology, shared within the session.

    ``name`` gives a test module a lab of its own (state it must not share)."""

    def factory(topology="seed", name=None):
        key = name or topology
        if key not in _SESSIONS:
            session = LabSession("t-" + key, topology)
            session.up()
            _SESSIONS[key] = session
        return _SESSIONS[key]

    yield factory
    if os.environ.get("SITEVPN_KEEP_LAB") == "1":   # debugging: leave the labs up (`python -m lab --name t-... down`)
        return
    errors = []
    for session in list(_SESSIONS.values()):
        try:
            session.down()
        except Exception as exc:      # every lab is torn down, whatever one of them left behind
            errors.append(str(exc))
    _SESSIONS.clear()
    assert not errors, errors
