# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""sitevpn.ipsec monitor: this gateway's tunnels as Prometheus metrics, for node_exporter's textfile collector.

Run by the sitevpn-monitor.timer (role sitevpn.ipsec.monitor). Python 3 standard library only; the parsers
are the collection's own (the ipsec_output package and _conn.py, deployed beside this file by the role), so the metrics
read Libreswan's output exactly as the modules do. What a tunnel is comes from the conn files the collection
wrote (/etc/ipsec.d/*.conf with its marker): "configured" is what the last run put there. Every command runs
with a deadline (a hung pluto costs one scrape, never blocks it), and the file is replaced atomically.

    python3 sitevpn_monitor.py --textfile-dir /var/lib/prometheus/node-exporter [--once-to-stdout]
"""

import argparse
import glob
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _conn            # noqa: E402  (deployed beside this file)
import ipsec_output     # noqa: E402

CONF_DIR = "/etc/ipsec.d"
STATE_FILE = "/var/lib/sitevpn-monitor/state.json"
METRICS_FILE = "sitevpn_ipsec.prom"
COMMAND_TIMEOUT = 10
# whack answers `ipsec status` and `ipsec trafficstatus` itself; asked directly, it spares a shell (the
# `ipsec` wrapper) per command, which on a small gateway is most of the collector's cost
WHACK_PATHS = ("/usr/libexec/ipsec/whack", "/usr/lib/ipsec/whack", "/usr/local/libexec/ipsec/whack")
DEFAULT_LIFETIME = 8 * 3600

_HEADER_RE = re.compile(r'tunnel "(?P<name>[^"]+)" \((?P<left>\S+) <-> (?P<right>\S+)\)')
_PEER_RE = re.compile(r"the peer (?P<peer>\S+) holds")
_KEY_RE = re.compile(r"^\s+(?P<key>[a-z0-9_-]+)=(?P<value>.*)$")


def _seconds(value, default=DEFAULT_LIFETIME):
    match = re.match(r"^\s*(\d+)\s*([smhd]?)\s*$", value or "")
    if not match:
        return default
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def configured(conf_dir=CONF_DIR):
    """{tunnel: {peer, connections, ike_lifetime, sa_lifetime}} of the conn files the collection wrote."""
    tunnels = {}
    for path in sorted(glob.glob(os.path.join(conf_dir, "*.conf"))):
        try:
            with open(path) as handle:
                text = handle.read()
        except (IOError, OSError):
            continue
        if not _conn.is_managed(text):
            continue
        lines = text.splitlines()
        header = _HEADER_RE.search(lines[0])
        if not header:
            continue
        peer = _PEER_RE.search(lines[1] if len(lines) > 1 else "")
        keys = {}
        for line in lines:
            match = _KEY_RE.match(line)
            if match:
                keys[match.group("key")] = match.group("value").strip()
        subnets = {}
        for side in ("left", "right"):
            value = keys.get(side + "subnets") or keys.get(side + "subnet") or ""
            subnets[side] = [s for s in re.split(r"[,\s{}]+", value) if s] or ["(host)"]
        name = header.group("name")
        tunnels[name] = {
            "peer": peer.group("peer") if peer else "",
            "connections": _conn.sub_connections({"name": name, "left": {"subnets": subnets["left"]},
                                                  "right": {"subnets": subnets["right"]}}),
            "ike_lifetime": _seconds(keys.get("ikelifetime")),
            "sa_lifetime": _seconds(keys.get("salifetime") or keys.get("keylife") or keys.get("lifetime")),
        }
    return tunnels


def _run(argv):
    """(rc, text) of a read-only command with a deadline; rc None when it could not run in time."""
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=COMMAND_TIMEOUT,
                              env=dict(os.environ, LC_ALL="C", LANG="C"), universal_newlines=True, check=False)
        return proc.returncode, proc.stdout
    except (OSError, subprocess.SubprocessError):
        return None, ""


_XFRM_HEAD_RE = re.compile(r"^\s*proto esp spi 0x(?P<spi>[0-9a-f]+)", re.M)
_XFRM_CURRENT_RE = re.compile(r"lifetime current:\s*\n\s*(?P<bytes>\d+)\(bytes\),\s*(?P<packets>\d+)\(packets\)")


def xfrm_packets(text):
    """{spi (8 hex digits): packets} from ``ip -s xfrm state``."""
    result = {}
    for block in re.split(r"(?m)^(?=src )", text or ""):
        head, current = _XFRM_HEAD_RE.search(block), _XFRM_CURRENT_RE.search(block)
        if head and current:
            result[head.group("spi").rjust(8, "0")] = int(current.group("packets"))
    return result


_SPI_RE = re.compile(r"\besp\.(?P<spi>[0-9a-f]+)@(?P<address>\S+)")


def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics(object):
    def __init__(self):
        self.families = []     # (name, type, help, [(labels, value)])

    def add(self, name, kind, text, samples):
        self.families.append((name, kind, text, samples))

    def render(self):
        out = []
        for name, kind, text, samples in self.families:
            out.append("# HELP %s %s" % (name, text))
            out.append("# TYPE %s %s" % (name, kind))
            for labels, value in samples:
                inner = ",".join('%s="%s"' % (k, _label(v)) for k, v in labels)
                out.append("%s%s %s" % (name, "{%s}" % inner if inner else "", value))
        return "\n".join(out) + "\n"


def find_whack(paths=WHACK_PATHS):
    for path in paths:
        if os.access(path, os.X_OK):
            return path
    return None


def _installed(ipsec):
    """What identifies the installed Libreswan: its `ipsec` program's path, size and time (a package
    upgrade changes them), so that `ipsec --version` runs once per version, not once per scrape."""
    path = shutil.which(ipsec)
    try:
        info = os.stat(path) if path else None
    except OSError:
        info = None
    return "%s:%d:%d" % (path, info.st_size, info.st_mtime) if info else None


def _version(state, ipsec):
    key = _installed(ipsec)
    if key and state.get("version_of") == key and state.get("version"):
        return state["version"], key
    rc, text = _run([ipsec, "--version"])
    version = ipsec_output.parse_version(text).get("version") if rc == 0 else None
    return version, key if version else None


def collect(state, conf_dir=CONF_DIR, ipsec="ipsec", now=None, whack=None):
    """The metrics text and the new state ({tunnel: [up, since]}, errors). *whack* is pluto's whack program
    when it was found (`ipsec status` is then `whack --status`)."""
    now = time.time() if now is None else now
    errors = []
    tunnels = configured(conf_dir)
    version, version_of = _version(state, ipsec)

    def ask_pluto(verb):
        return _run([whack, "--" + verb] if whack else [ipsec, verb])

    status_rc, status_text = ask_pluto("status")
    pluto_up = status_rc == 0 and "Pluto is not running" not in status_text
    status = ipsec_output.parse_status(status_text) if pluto_up else {"states": []}
    traffic_rc, traffic_text = ask_pluto("trafficstatus") if pluto_up else (None, "")
    sas = ipsec_output.parse_trafficstatus(traffic_text) if traffic_rc == 0 else []
    if pluto_up and traffic_rc != 0:
        errors.append("ipsec trafficstatus failed")
    xfrm_rc, xfrm_text = _run(["ip", "-s", "xfrm", "state"]) if pluto_up else (None, "")
    packets = xfrm_packets(xfrm_text) if xfrm_rc == 0 else {}

    by_conn = {}
    for st in status.get("states", []):
        if st.get("established"):
            by_conn.setdefault(st["name"], []).append(st)
    m = Metrics()
    configured_s, up_s, ike_s, child_s, rx_s, tx_s, rxp_s, txp_s, age_s, rekey_s, change_s = ([] for _i in range(11))
    new_state = {}
    for name, tunnel in sorted(tunnels.items()):
        base = (("tunnel", name), ("peer", tunnel["peer"]))
        configured_s.append((base, 1))
        ike = [s for c in tunnel["connections"] for s in by_conn.get(c, []) if s.get("kind") == "ike"]
        ike_s.append((base, len(ike)))
        all_up = True
        for conn in tunnel["connections"]:
            labels = base + (("connection", conn),)
            children = [s for s in by_conn.get(conn, []) if s.get("kind") == "child"]
            mine = [sa for sa in sas if sa["name"] == conn]
            all_up = all_up and bool(children) and bool(mine)
            child_s.append((labels, len(children)))
            rx_s.append((labels, sum(sa.get("in_bytes") or 0 for sa in mine)))
            tx_s.append((labels, sum(sa.get("out_bytes") or 0 for sa in mine)))
            spis_in, spis_out = [], []
            for child in children:
                # 'esp.OUT@peer esp.IN@us': pluto prints the outbound SPI first
                for index, match in enumerate(_SPI_RE.finditer(child.get("sa_details") or "")):
                    (spis_in if index % 2 else spis_out).append(match.group("spi").rjust(8, "0"))
            rxp_s.append((labels, sum(packets.get(spi, 0) for spi in spis_in)))
            txp_s.append((labels, sum(packets.get(spi, 0) for spi in spis_out)))
            added = [int(sa["add_time"]) for sa in mine if str(sa.get("add_time") or "").isdigit()]
            if added:
                age_s.append((labels, max(0, int(now) - max(added))))
            rekeys = [int(m_.group(1)) for c in children
                      for m_ in [re.search(r"\bREKEY in (\d+)s", c.get("events") or "")] if m_]
            if rekeys:
                rekey_s.append((labels, min(rekeys)))
        up_s.append((base, 1 if all_up else 0))
        was = state.get("tunnels", {}).get(name)
        since = was[1] if was and bool(was[0]) == all_up else now
        new_state[name] = [all_up, since]
        change_s.append((base, "%.0f" % since))
    m.add("sitevpn_tunnel_configured", "gauge", "1 for every tunnel the collection configured on this gateway.",
          configured_s)
    m.add("sitevpn_tunnel_up", "gauge", "1 when every connection of the tunnel has an established Child SA.", up_s)
    m.add("sitevpn_tunnel_ike_sas", "gauge", "Established IKE SAs of the tunnel (more than 1 for long: duplicates).",
          ike_s)
    m.add("sitevpn_tunnel_child_sas", "gauge", "Established Child SAs per connection (NAME or NAME/1x1 ...).", child_s)
    m.add("sitevpn_tunnel_receive_bytes_total", "counter", "Bytes received through the connection's Child SAs "
          "(resets when an SA is replaced).", rx_s)
    m.add("sitevpn_tunnel_transmit_bytes_total", "counter", "Bytes sent through the connection's Child SAs "
          "(resets when an SA is replaced).", tx_s)
    m.add("sitevpn_tunnel_receive_packets_total", "counter", "Packets received through the connection's Child SAs "
          "(kernel XFRM counters).", rxp_s)
    m.add("sitevpn_tunnel_transmit_packets_total", "counter", "Packets sent through the connection's Child SAs "
          "(kernel XFRM counters).", txp_s)
    m.add("sitevpn_tunnel_child_sa_age_seconds", "gauge", "Age of the connection's newest Child SA.", age_s)
    m.add("sitevpn_tunnel_child_sa_rekey_seconds", "gauge", "Seconds until the connection's Child SA is rekeyed.",
          rekey_s)
    m.add("sitevpn_tunnel_last_change_timestamp_seconds", "gauge", "When the tunnel last went up or down "
          "(as seen by this collector).", change_s)
    m.add("sitevpn_pluto_up", "gauge", "1 when pluto answers `ipsec status`.", [((), 1 if pluto_up else 0)])
    m.add("sitevpn_libreswan_info", "gauge", "The Libreswan version installed.",
          [((("version", version or "unknown"),), 1)])
    errors_total = int(state.get("errors_total", 0)) + len(errors)
    m.add("sitevpn_collector_errors_total", "counter", "Collector runs that could not read something.",
          [((), errors_total)])
    return m, {"tunnels": new_state, "errors_total": errors_total, "version": version, "version_of": version_of}, \
        errors


def write_atomic(directory, text):
    """Replace directory/METRICS_FILE at once (node_exporter never reads half a file)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".sitevpn_ipsec.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.rename(tmp, os.path.join(directory, METRICS_FILE))
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _load_state(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return {}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--textfile-dir", default="/var/lib/prometheus/node-exporter")
    parser.add_argument("--conf-dir", default=CONF_DIR)
    parser.add_argument("--state", default=STATE_FILE)
    parser.add_argument("--ipsec", default="ipsec")
    parser.add_argument("--whack", default=None, help="pluto's whack program (default: found in %s; "
                        "without it, `ipsec status` and `ipsec trafficstatus`)" % ", ".join(WHACK_PATHS))
    parser.add_argument("--stdout", action="store_true", help="print the metrics instead of writing the file")
    args = parser.parse_args(argv)
    started = time.time()
    state = _load_state(args.state)
    metrics, new_state, errors = collect(state, args.conf_dir, args.ipsec, now=started,
                                         whack=args.whack or find_whack())
    metrics.add("sitevpn_collector_last_success_timestamp_seconds", "gauge", "When the collector last wrote its "
                "metrics.", [((), "%.3f" % time.time())])
    metrics.add("sitevpn_collector_duration_seconds", "gauge", "Wall time of the last collector run.",
                [((), "%.3f" % (time.time() - started))])
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    metrics.add("sitevpn_collector_cpu_seconds", "gauge", "CPU time of the last collector run, from the start of "
                "its Python to here, with its commands.",
                [((), "%.3f" % (own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime))])
    text = metrics.render()
    if args.stdout:
        sys.stdout.write(text)
    else:
        os.makedirs(args.textfile_dir, exist_ok=True)
        write_atomic(args.textfile_dir, text)
    state_dir = os.path.dirname(args.state)
    if state_dir:
        os.makedirs(state_dir, exist_ok=True)
    with open(args.state + ".tmp", "w") as handle:
        json.dump(new_state, handle)
    os.rename(args.state + ".tmp", args.state)
    for error in errors:
        sys.stderr.write("sitevpn-monitor: %s\n" % error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
