"""molecule/default, as `molecule test` runs it: create (the lab), converge (site-to-site.yml with
a PSK), idempotence, verify (ping both ways while the router watches: ESP only, no clear ICMP),
destroy (the lab, checked for leftovers)."""

import os
import re
import subprocess
import sys

import yaml

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
    # rc 0 means every stage of the sequence passed: make sure the sequence has the ones that prove
    # something (molecule fails idempotence on any changed=N>0 of the second converge)
    with open(os.path.join(REPO, "molecule", "default", "molecule.yml")) as handle:
        sequence = yaml.safe_load(handle)["scenario"]["test_sequence"]
    assert sequence.index("converge") < sequence.index("idempotence") < sequence.index("verify")
    # and verify.yml's own proof, as it printed it
    seen = re.search(r"(\d+) ESP packets,\s+0 ICMP in clear on the router", proc.stdout)
    assert seen and int(seen.group(1)) >= 12, "verify.yml's proof is missing from the output"
    assert Lab("molecule").leftovers() == []
