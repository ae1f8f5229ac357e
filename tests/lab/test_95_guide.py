"""docs/site-to-site.md, part "Operating it", run on the lab exactly as written.

The guide is read in order: a ```yaml block titled ``inventory/group_vars/all.yml`` becomes the lab
inventory's group_vars; every line of a ```sh block runs with ``inventory`` meaning the lab's inventory
(the collection found through ``ANSIBLE_COLLECTIONS_PATH``, as the guide says for a checkout) and must
succeed; ``<!-- doc-test: expect "TEXT" -->`` requires TEXT in the output of the block before it;
``<!-- doc-test: on HOST: COMMAND -->`` runs COMMAND on a lab guest (what the reader does by hand, e.g.
put a LAN on a gateway).
"""

import os
import re
import shlex
import subprocess
import sys

import yaml

from labtest import REPO, ansible_env, flat

GUIDE = os.path.join(REPO, "docs", "site-to-site.md")
PART = "# Operating it"
STEP = re.compile(r'```(?P<lang>yaml|sh)(?: title="(?P<title>[^"]+)")?\n(?P<body>.*?)```'
                  r'|<!-- doc-test: (?P<test>.*?) -->', re.S)


def steps():
    with open(GUIDE) as handle:
        text = handle.read()
    assert PART in text, "the guide lost its part %r" % PART
    text = text[text.index(PART):]
    for match in STEP.finditer(text):
        if match.group("test"):
            yield "test", match.group("test"), None
        else:
            yield match.group("lang"), match.group("body"), match.group("title")


def test_the_steps_are_there():
    kinds = [kind for kind, _body, _title in steps()]
    assert kinds.count("sh") >= 8 and kinds.count("yaml") >= 4 and kinds.count("test") >= 8


def test_the_seed_example_inventory_is_proven_on_the_lab(lab_for):
    """examples/seed describes the lab's own picture (Figure 35-1, the same addresses): its tunnel comes up and
    carries the probe, with its host variables (the seed's IKE IDs)."""
    lab = lab_for("seed", name="guide")
    example = os.path.join(REPO, "examples", "seed")
    for host in ("vpn1", "vpn2"):
        with open(os.path.join(example, "host_vars", host + ".yml")) as handle:
            lab.host_vars(host, **yaml.safe_load(handle))
    lab.vars(os.path.join(example, "group_vars", "all.yml"))
    run = lab.playbook()
    assert run.rc == 0, run.out[-3000:]
    assert run.says("answered, ESP bytes")
    assert "rightid=@net-to-net.vpn2.another-site.example" in lab.sh("vpn1", "cat /etc/ipsec.d/net-to-net.conf").stdout


def test_the_operators_guide_works_as_written(lab_for, tmp_path):
    lab = lab_for("seed", name="guide")
    env = ansible_env(PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    last = None
    for number, (kind, body, title) in enumerate(steps()):
        if kind == "yaml":
            assert title == "inventory/group_vars/all.yml", "a yaml block of the guide with no known file: %r" % title
            path = tmp_path / ("step-%02d.yml" % number)
            path.write_text(body)
            lab.vars(str(path))
        elif kind == "sh":
            outputs = []
            for line in body.splitlines():
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                argv = [lab.lab.inventory if word == "inventory" else word for word in shlex.split(line)]
                proc = subprocess.run(argv, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, universal_newlines=True, timeout=900)
                sys.stdout.write("\n$ %s\n%s\n" % (line, proc.stdout[-4000:]))
                assert proc.returncode == 0, "the guide's `%s` failed:\n%s" % (line, proc.stdout[-3000:])
                outputs.append(proc.stdout)
            last = "\n".join(outputs)
        else:
            on = re.match(r"on (\S+): (.*)$", body)
            expect = re.match(r'expect "(.*)"$', body)
            if on:
                lab.sh(on.group(1), on.group(2))
            elif expect:
                assert last is not None, "expect before any command: %s" % body
                assert flat(expect.group(1)) in flat(last), "the guide promises %r after its command; the output:\n%s" % (
                    expect.group(1), last[-3000:])
            else:
                raise AssertionError("unknown doc-test comment: %s" % body)
