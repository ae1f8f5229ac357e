# sitevpn.ipsec — developer entry points. Run as root on Debian 12 (the lab needs
# namespaces, taps and User-Mode Linux). Every target installs what it needs.
#
#   make demo    two sites, a real tunnel, encrypted ping across
#   make test    everything CI runs
#   make bench   the numbers (see README)

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

# Debian packages the lab and the tests use on the host.
HOST_PACKAGES := user-mode-linux debootstrap kmod ethtool iproute2 tcpdump netcat-openbsd \
                 dpkg-dev e2fsprogs python3-venv graphviz git

.PHONY: help setup host-packages venv demo demo-down test unit lint sanity lab-test molecule \
        bench lab-up lab-down lab-status lab-selftest clean

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
demo: setup
	SITEVPN_LAB=$(DEMO_LAB) ./tests/lab/demo.sh

demo-down: venv
	$(LAB) --name $(DEMO_LAB) down

# ---- tests -------------------------------------------------------------------------------
test: setup
	$(PY) -m pytest tests -p no:cacheprovider -ra

unit: venv
	$(PY) -m pytest tests/unit -q -p no:cacheprovider

# ---- the lab by hand ----------------------------------------------------------------------
lab-up: setup
	$(LAB) up --replace

lab-status: venv
	$(LAB) status

lab-selftest: venv
	$(LAB) selftest

lab-down: venv
	$(LAB) down

clean:
	rm -rf $(VENV) tests/output .pytest_cache
