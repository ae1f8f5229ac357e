#!/usr/bin/env python3
"""Inventory script for molecule: the hosts of the lab `molecule` (empty until create.yml ran).

Molecule wants its inventory links to exist before the scenario starts; the lab writes its
inventory only when it is up. This script bridges the two: it prints the lab's inventory.json.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.path.dirname(os.path.dirname(HERE)))
STATE = os.environ.get("SITEVPN_LAB_STATE", os.path.join(PROJECT, ".lab"))
PATH = os.path.join(STATE, "molecule", "inventory.json")

if "--host" in sys.argv:
    print("{}")
elif os.path.exists(PATH):
    with open(PATH) as handle:
        sys.stdout.write(handle.read())
else:
    print(json.dumps({"_meta": {"hostvars": {}}}))
