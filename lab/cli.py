"""Command line of the lab: python -m lab COMMAND (run as root, from the project's virtualenv)."""

import argparse
import json
import os
import sys

from . import datapath, image, kernel, topology
from .lab import Lab, LabError


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab", description=(
        "Site-to-site IPsec lab of User-Mode Linux guests (the seed's Figure 35-1)."))
    parser.add_argument("--name", default=os.environ.get("SITEVPN_LAB", "default"),
                        help="lab name; several labs can run at once (default: $SITEVPN_LAB or 'default')")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("kernel", help="build (or reuse) the lab's own UML kernel; print its path and release")
    p.add_argument("--force", action="store_true", help="rebuild even when cached")
    p.add_argument("--refresh", action="store_true", help="read the mirror's package indexes again now")

    p = sub.add_parser("image", help="build (or reuse) the cached guest image")
    p.add_argument("--distro", default=image.DEFAULT_DISTRO, choices=image.DISTROS)
    p.add_argument("--force", action="store_true", help="rebuild even when cached")

    p = sub.add_parser("up", help="start a lab")
    p.add_argument("--topology", default="seed", choices=sorted(topology.TOPOLOGIES))
    p.add_argument("--distro", default=image.DEFAULT_DISTRO, choices=image.DISTROS,
                   help="distro of guests whose topology does not fix one (Debian 12 = bookworm)")
    p.add_argument("--replace", action="store_true", help="tear an existing lab of that name down first")

    p = sub.add_parser("status", help="show the guests and whether they answer")
    p.add_argument("--json", action="store_true")
    sub.add_parser("inventory", help="print the path of the lab's Ansible inventory (a directory)")
    p = sub.add_parser("vars", help="use these vars files as the inventory's group_vars/all (tunnels, ...)")
    p.add_argument("files", nargs="*")
    sub.add_parser("down", help="stop everything and remove every trace")
    sub.add_parser("leftovers", help="list what a torn-down lab left behind; exit 1 if anything")
    sub.add_parser("selftest", help="prove the guests' ESP datapath with hand-made XFRM states")

    p = sub.add_parser("ssh", help="a shell (or a command) on a guest")
    p.add_argument("guest")
    p.add_argument("cmd", nargs=argparse.REMAINDER)

    p = sub.add_parser("restart", help="reboot a guest (keeps its disk)")
    p.add_argument("guest")
    p.add_argument("--hard", action="store_true", help="power cut instead of a clean poweroff")

    p = sub.add_parser("proof", help="child SAs, ping across while watching the WAN, ESP counters (exit 1 if not proven)")
    p.add_argument("--from", dest="source", default="server1")
    p.add_argument("--to", dest="target", default=None, help="address (default: server2's LAN address)")
    p.add_argument("--wire", default="wan1")

    p = sub.add_parser("capture", help="watch a wire while pinging across, print what crossed it")
    p.add_argument("segment", help="wan1, wan2, lan1, ...")
    p.add_argument("--ping", nargs=2, metavar=("FROM_GUEST", "TO_ADDRESS"))
    p.add_argument("--seconds", type=float, default=3.0)

    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("the lab needs root (namespaces, taps, UML)")
    lab = Lab(args.name)
    try:
        return _dispatch(lab, args)
    except LabError as exc:
        sys.stderr.write("lab: %s\n" % exc)
        return 2


def _dispatch(lab, args):
    if args.command == "kernel":
        if args.refresh:
            kernel.resolve(refresh=True)
        binary = kernel.build(force=args.force)
        print("%s %s" % (binary, kernel.release_of(binary)))
    elif args.command == "image":
        print(image.build(args.distro, force=args.force))
    elif args.command == "up":
        if args.replace and lab.exists():
            lab.down()
        lab.up(args.topology, args.distro)
        print(lab.inventory)
    elif args.command == "status":
        rows = lab.status()
        if args.json:
            print(json.dumps({"name": lab.name, "state": lab.state, "guests": rows}, indent=2))
        else:
            print("lab %s (topology %s, namespace %s, booted in %s s)" % (
                lab.name, lab.state["topology"], lab.netns, lab.state.get("boot_seconds")))
            for row in rows:
                print("  %-8s %-8s %-9s pid %-7s %-8s ssh %-3s mgmt %-11s %s" % (
                    row["guest"], row["role"], row["distro"], row["pid"],
                    "running" if row["running"] else "STOPPED", "ok" if row["ssh"] else "NO",
                    row["mgmt"], " ".join(row["addresses"])))
            print("inventory: %s" % lab.inventory)
            return 0 if all(r["running"] and r["ssh"] for r in rows) else 1
    elif args.command == "inventory":
        lab.state
        print(lab.inventory)
    elif args.command == "vars":
        lab.state
        print(lab.set_vars(args.files))
    elif args.command == "down":
        lab.down()
    elif args.command == "leftovers":
        left = lab.leftovers()
        for item in left:
            print(item)
        print("%d leftovers of lab %s" % (len(left), lab.name))
        return 1 if left else 0
    elif args.command == "selftest":
        return 0 if datapath.selftest(lab)["ok"] else 1
    elif args.command == "ssh":
        lab.state
        os.execvp("ssh", ["ssh", "-F", lab.ssh_config, "-t" if not args.cmd else "-T", args.guest] + args.cmd)
    elif args.command == "restart":
        lab.restart(args.guest, hard=args.hard)
    elif args.command == "proof":
        return 0 if datapath.proof(lab, args.source, args.target, args.wire)["ok"] else 1
    elif args.command == "capture":
        with datapath.Capture(lab, args.segment) as wire:
            if args.ping:
                result = datapath.ping(lab, args.ping[0], args.ping[1])
                print(result["output"])
            else:
                import time
                time.sleep(args.seconds)
        print("\n".join(wire.lines))
        print(json.dumps(wire.summary, indent=2))
    return 0
