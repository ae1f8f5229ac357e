# sitevpn.ipsec — developer entry points. Run as root on Debian 12 (the lab needs
# namespaces, taps and User-Mode Linux). Every target installs what it needs.
#
#   make demo    two sites, a real tunnel, encrypted ping across (builds the lab's kernel once)
#   make test    everything CI runs: the gates below, then pytest
#   make bench   the numbers (see README)
#   make lint    ansible-lint, production profile (.ansible-lint)
#   make sanity  ansible-test sanity on the collection as built, no ignore entries
#   make build   sitevpn-ipsec-<version>.tar.gz (ansible-galaxy collection build)
#   make ee      that tarball plus the build context of execution-environment.yml in context/
#   make changelog-lint  antsibull-changelog lint of changelogs/fragments

SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

VENV        ?= .venv
PY          := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
COLLECTIONS := $(CURDIR)/$(VENV)/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
LAB         := $(PY) -m lab
DEMO_LAB    ?= demo

# Debian packages the lab and the tests use on the host: the lab builds its own UML kernel
# (lab/kernel.py: gcc make flex bison bc libelf-dev xz-utils), the guests' images (debootstrap,
# dpkg-dev), runs them (iproute2, ethtool, netcat), watches their wires (tcpdump); nftables for
# the host-side nftables test.
HOST_PACKAGES := gcc make flex bison bc libelf-dev xz-utils binutils debootstrap kmod ethtool iproute2 \
                 tcpdump netcat-openbsd dpkg-dev e2fsprogs python3-venv graphviz git nftables

.PHONY: help readme setup host-packages venv demo demo-down test unit lint sanity lab-test molecule \
        bench lab-up lab-down lab-status lab-selftest lab-build clean build ee changelog-lint promtool

help:
	@sed -n 's/^#   //p' Makefile

setup: host-packages venv

# Installs only what is missing, so a warm machine pays one dpkg-query.
host-packages:
	@missing=$$(for p in $(HOST_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done)
	if [ -n "$$missing" ]; then
	  echo "setup: installing Debian packages:" $$missing
	  apt-get update -q >/dev/null
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	# the collection, as Ansible finds it: <path>/ansible_collections/sitevpn/ipsec
	mkdir -p $(COLLECTIONS)/ansible_collections/sitevpn
	ln -sfn $(CURDIR) $(COLLECTIONS)/ansible_collections/sitevpn/ipsec
	touch $@

# ---- the demo ------------------------------------------------------------------------
demo: LAB_DISTROS = bookworm
demo: setup lab-build
	SITEVPN_LAB=$(DEMO_LAB) ./tests/lab/demo.sh

demo-down: venv
	$(LAB) --name $(DEMO_LAB) down

# ---- tests -------------------------------------------------------------------------------
# The gates run first, in this order; any failure stops the run before pytest.
# pytest then covers unit, integration and lab tests (tests/lab: real UML gateways), molecule's
# default scenario included (tests/lab/test_90_molecule.py). Every lab is torn down and checked
# for leftovers.
# In CI (CI=true) a missing ../shared/fixtures or host tool fails the tests instead of skipping them.
test: setup lint sanity changelog-lint ee lab-build promtool
	$(PY) -m pytest tests -p no:cacheprovider -ra --durations=30

molecule: venv
	molecule test -s default

unit: venv
	$(PY) -m pytest tests/unit -q -p no:cacheprovider

bench: LAB_DISTROS = bookworm
bench: setup lab-build
	$(PY) bench/bench.py

# Prometheus' rule checker for the example alert rules: only the promtool binary of Debian's
# prometheus package, unpacked into the venv (installing the package would start a server).
promtool: $(VENV)/bin/promtool
$(VENV)/bin/promtool: | venv
	tmp=$$(mktemp -d)
	trap 'rm -rf "$$tmp"' EXIT
	(cd "$$tmp" && apt-get download -q prometheus >/dev/null 2>&1) || \
	  (apt-get update -q >/dev/null && cd "$$tmp" && apt-get download -q prometheus >/dev/null)
	dpkg-deb --fsys-tarfile "$$tmp"/prometheus_*.deb | tar -x -C "$$tmp" ./usr/bin/promtool
	install -m 0755 "$$tmp/usr/bin/promtool" $@

# ---- the lab by hand ----------------------------------------------------------------------
# The lab's UML kernel and the guest images, built once and cached (progress printed here, not
# inside a test). LAB_DISTROS: the images the tests use.
LAB_DISTROS ?= bookworm trixie
lab-build: setup
	$(LAB) kernel
	for distro in $(LAB_DISTROS); do $(LAB) image --distro $$distro >/dev/null; done

lab-up: setup
	$(LAB) up --replace

lab-status: venv
	$(LAB) status

lab-selftest: venv
	$(LAB) selftest

lab-down: venv
	$(LAB) down

# ---- gates and artifacts -----------------------------------------------------------------
COLLECTION_VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
TARBALL := sitevpn-ipsec-$(COLLECTION_VERSION).tar.gz

# the README's role-variable table, from the roles' argument specs (tests/integration/test_readme.py checks it)
readme: venv
	$(PY) tests/tools/readme_tables.py --write

lint: venv
	# VIRTUAL_ENV: ansible-lint keeps its cache in $(VENV)/.ansible, not in the tree
	VIRTUAL_ENV=$(CURDIR)/$(VENV) ansible-lint --nocolor

changelog-lint: venv
	antsibull-changelog lint

# From the working copy, as a user would: galaxy.yml's build_ignore keeps the lab,
# the venv and the caches out (tests/integration/test_galaxy_build.py checks).
build: venv
	ansible-galaxy collection build --force --output-path $(CURDIR) .

ee: build
	ansible-builder create --file execution-environment.yml --context context --output-filename Containerfile

# ansible-test needs the collection at .../ansible_collections/sitevpn/ipsec: the built
# tarball is unpacked into such a tree (what ships is what is tested; lab/, bench/ and
# tests/lab/ are not part of the collection). ansible-test makes a virtualenv per sanity
# test and puts pip into it with get-pip from ci-files.testing.ansible.com, which this
# machine cannot reach: tests/sanity/get_pip.py stands in for it, with the pip wheel from
# PyPI, from the cache under a HOME of ansible-test's own (its virtualenvs are kept there
# too, so later runs install nothing). The requirements of each test come from PyPI.
ANSIBLE_TEST_PIP := 24.2
PYTHON_VERSION = $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ANSIBLE_TEST_HOME := $(CURDIR)/$(VENV)/ansible-test-home
SANITY_ARGS ?=

sanity: build
	if [ -s tests/sanity/ignore-2.19.txt ]; then echo "tests/sanity/ignore-2.19.txt must stay empty"; exit 1; fi
	cache=$(ANSIBLE_TEST_HOME)/.ansible/test/cache
	mkdir -p $$cache
	ls $$cache/pip-$(ANSIBLE_TEST_PIP)-*.whl >/dev/null 2>&1 || \
	  $(PY) -m pip download -q --no-deps --dest $$cache pip==$(ANSIBLE_TEST_PIP)
	cp tests/sanity/get_pip.py $$cache/get_pip_$(subst .,_,$(ANSIBLE_TEST_PIP)).py
	tree=$$(mktemp -d /tmp/sitevpn-sanity.XXXXXX)
	trap 'rm -rf "$$tree"' EXIT
	mkdir -p $$tree/ansible_collections/sitevpn/ipsec
	tar -xzf $(TARBALL) -C $$tree/ansible_collections/sitevpn/ipsec
	cd $$tree/ansible_collections/sitevpn/ipsec
	HOME=$(ANSIBLE_TEST_HOME) ansible-test sanity --venv --python $(PYTHON_VERSION) --color no $(SANITY_ARGS)

clean:
	rm -rf $(VENV) tests/output .pytest_cache context $(TARBALL)
