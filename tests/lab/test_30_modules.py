"""Each module of the collection against real gateways: Libreswan 4.10 (vpn1, Debian 12) and 5.x
(vpn2, Debian 13), on the lab's "mixed" topology.

The playbook tests/lab/playbooks/modules.yml does the work: for every module the four-step habit
(check mode, apply, check mode again, apply again - the second and fourth report unchanged), then
the failures a user meets first: a wrong RSA key and a wrong PSK (auth_failed, with the remedy),
and a peer that does not answer (timeout).
"""

import os

from labtest import REPO, release


def test_modules_four_steps_and_failure_kinds_on_libreswan_4_and_5(lab_for):
    lab = lab_for("mixed", name="modules")
    try:
        run = lab.playbook(os.path.join(REPO, "tests", "lab", "playbooks", "modules.yml"))
        assert run.rc == 0, run.out[-4000:]
        assert run.failed == 0
    finally:
        release("modules")
