#!/usr/bin/env bash
# `make demo`: the seed's Figure 35-1 as real gateways, one playbook run, and the proof.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${SITEVPN_LAB:-demo}
lab() { python -m lab --name "$name" "$@"; }

echo "== 1. Lab: two sites (vpn1 + server1, vpn2 + server2) and an internet router, as UML guests"
lab up --replace
lab status
inventory=$(lab inventory)
lab vars tests/lab/vars/net-to-net-rsa.yml >/dev/null

echo
echo "== 2. ansible-playbook playbooks/site-to-site.yml (install, firewall, RSA keys, conn, up, ping)"
ansible-playbook -i "$inventory" playbooks/site-to-site.yml

echo
lab proof --from server1 --wire wan1

cat <<EOT

== Look around
  python -m lab --name $name ssh vpn1              a shell on vpn1 (also vpn2, server1, server2, router)
  python -m lab --name $name ssh vpn1 ipsec status  what pluto knows
  python -m lab --name $name capture wan1 --ping server1 10.0.0.105
  ansible-playbook -i $inventory playbooks/site-to-site.yml   again: 0 changed
  (activate the tools first: source .venv/bin/activate)
== Tear down (leaves nothing behind)
  make demo-down
EOT
