"""molecule/default, as `molecule test` runs it: create (the lab), converge (site-to-site.yml with
a PSK), idempotence, verify (ping both ways while the router watches: ESP only, no clear ICMP),
destroy (the lab, checked for leftovers)."""

import os
import subprocess
import sys

from labtest import REPO
from lab.lab import Lab


def test_molecule_default_scenario_passes_and_leaves_nothing():
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH",
                                                       os.path.join(REPO, ".venv", "collections")),
               ANSIBLE_FORCE_COLOR="0", PY_COLORS="0", NO_COLOR="1")
    proc = subprocess.run([os.path.join(bindir, "molecule"), "test", "-s", "default"], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          stdin=subprocess.DEVNULL, timeout=1800)
    sys.stdout.write(proc.stdout[-8000:])
    assert proc.returncode == 0
    assert "idempotence" in proc.stdout and "verify" in proc.stdout
    assert Lab("molecule").leftovers() == []
