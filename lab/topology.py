"""Lab topologies as data: which guests, which wires, which addresses.

Every guest also gets a management interface ``mgmt0`` on a private bridge of
the lab's network namespace (192.0.2.0/24, TEST-NET-1). Ansible reaches the
guests there, through the namespace, never through the host's own network.

WAN addresses come from the documentation ranges (RFC 5737); the LANs are the
seed's Figure 35-1 (172.16.1.0/24 behind vpn1, 10.0.0.0/24 behind vpn2).
"""

import ipaddress
from dataclasses import dataclass, field
from typing import Dict, List, Optional

MGMT_NET = ipaddress.ip_network("192.0.2.0/24")
MGMT_HOST_ADDRESS = "192.0.2.1"  # the lab namespace's end of the management bridge
MGMT_FIRST_GUEST = 11


@dataclass
class Nic:
    segment: str          # bridge the interface is wired to
    ifname: str           # name inside the guest
    address: str          # CIDR, e.g. 198.51.100.10/24
    address6: Optional[str] = None   # a second, IPv6 address (CIDR), e.g. 2001:db8:1::1/64


@dataclass
class Guest:
    name: str
    role: str                         # gateway | server | router
    nics: List[Nic]
    gateway4: Optional[str] = None    # default route
    gateway6: Optional[str] = None    # IPv6 default route
    routes: List[str] = field(default_factory=list)   # extra "PREFIX via ADDR"
    site: Optional[str] = None
    distro: Optional[str] = None      # None: the lab's default distro
    forwarding: bool = False          # routers forward from boot; gateways do not
    forwarding6: bool = False         # the same for IPv6
    masquerade: Optional[str] = None  # "SRC_PREFIX:OUT_IFNAME" source NAT (NAT routers)
    memory_mb: int = 256
    hostvars: Dict[str, object] = field(default_factory=dict)

    def address_on(self, segment):
        for nic in self.nics:
            if nic.segment == segment:
                return nic.address.split("/")[0]
        return None


@dataclass
class Topology:
    name: str
    description: str
    guests: List[Guest]

    @property
    def segments(self):
        seen = []
        for guest in self.guests:
            for nic in guest.nics:
                if nic.segment not in seen:
                    seen.append(nic.segment)
        return seen

    def guest(self, name):
        for guest in self.guests:
            if guest.name == name:
                return guest
        raise KeyError("no guest %r in topology %s" % (name, self.name))

    def mgmt_address(self, name):
        index = [g.name for g in self.guests].index(name)
        return str(MGMT_NET.network_address + MGMT_FIRST_GUEST + index)


def _site(number, wan_cidr, wan_router, lan_gw_cidr, server_cidr, gw_distro=None, behind_nat=False):
    """A gateway and a LAN server: one site of Figure 35-1."""
    gw = "vpn%d" % number
    srv = "server%d" % number
    gateway = Guest(
        name=gw, role="gateway", site="site%d" % number, distro=gw_distro,
        nics=[Nic("wan%d" % number, "eth0", wan_cidr), Nic("lan%d" % number, "eth1", lan_gw_cidr)],
        gateway4=wan_router,
    )
    server = Guest(
        name=srv, role="server", site="site%d" % number, memory_mb=192,
        nics=[Nic("lan%d" % number, "eth0", server_cidr)],
        gateway4=lan_gw_cidr.split("/")[0],
    )
    return gateway, server


def seed(gw_distros=(None, None)):
    """Figure 35-1: two sites and an internet router between their WANs."""
    vpn1, server1 = _site(1, "198.51.100.10/24", "198.51.100.1", "172.16.1.1/24", "172.16.1.100/24", gw_distros[0])
    vpn2, server2 = _site(2, "203.0.113.10/24", "203.0.113.1", "10.0.0.1/24", "10.0.0.105/24", gw_distros[1])
    router = Guest(
        name="router", role="router", memory_mb=192, forwarding=True,
        nics=[Nic("wan1", "eth0", "198.51.100.1/24"), Nic("wan2", "eth1", "203.0.113.1/24")],
    )
    return Topology("seed", "Figure 35-1: vpn1+server1, vpn2+server2, router", [vpn1, vpn2, server1, server2, router])


def mixed():
    """Figure 35-1 with vpn2 on Debian 13 (Libreswan 5.x) and vpn1 on Debian 12 (4.10)."""
    topo = seed(gw_distros=(None, "trixie"))
    topo.name, topo.description = "mixed", "Figure 35-1, vpn1 Debian 12 / vpn2 Debian 13"
    return topo


def nat():
    """Figure 35-1, but vpn2 sits behind a NAT router (a home or branch DSL box).

    vpn2's WAN is 192.168.0.0/24 behind ``natbox``, which masquerades it to
    203.0.113.2; the internet router sees only that address.
    """
    topo = seed()
    topo.name, topo.description = "nat", "Figure 35-1 with vpn2 behind a NAT router"
    vpn2 = topo.guest("vpn2")
    vpn2.nics[0] = Nic("home2", "eth0", "192.168.0.10/24")
    vpn2.gateway4 = "192.168.0.1"
    vpn2.hostvars["lab_public_nat_address"] = "203.0.113.2"
    natbox = Guest(
        name="natbox", role="router", memory_mb=192, forwarding=True, masquerade="192.168.0.0/24:eth0",
        nics=[Nic("wan2", "eth0", "203.0.113.2/24"), Nic("home2", "eth1", "192.168.0.1/24")],
        gateway4="203.0.113.1",
    )
    topo.guests.append(natbox)
    return topo


def hub3():
    """Three sites: vpn1 is the hub (head office), vpn2 and vpn3 are spokes.

    The documentation ranges are only three /24s, so site 2 and site 3 share
    203.0.113.0/24 as two /25 WANs on separate router ports.
    """
    topo = seed()
    topo.name, topo.description = "hub3", "three sites, hub vpn1, spokes vpn2 and vpn3"
    vpn2, router = topo.guest("vpn2"), topo.guest("router")
    vpn2.nics[0].address = "203.0.113.10/25"
    router.nics[1].address = "203.0.113.1/25"
    router.nics.append(Nic("wan3", "eth2", "203.0.113.129/25"))
    vpn3, server3 = _site(3, "203.0.113.138/25", "203.0.113.129", "172.16.3.1/24", "172.16.3.100/24")
    topo.guests[4:4] = [vpn3, server3]
    return topo


def v6lan(gw_distros=(None, None)):
    """Figure 35-1 with IPv6 LANs beside the IPv4 ones (2001:db8:1::/64 behind vpn1, 2001:db8:2::/64
    behind vpn2, RFC 3849), over the IPv4 WAN. The gateways have no IPv6 route toward each other's LAN:
    nothing but the tunnel carries it."""
    topo = seed(gw_distros)
    topo.name, topo.description = "v6lan", "Figure 35-1 with IPv6 LANs over the IPv4 WAN"
    for number in (1, 2):
        gateway, server = topo.guest("vpn%d" % number), topo.guest("server%d" % number)
        gateway.nics[1].address6 = "2001:db8:%d::1/64" % number
        server.nics[0].address6 = "2001:db8:%d::100/64" % number
        server.gateway6 = "2001:db8:%d::1" % number
    return topo


def dual(gw_distros=(None, None)):
    """v6lan with an IPv6 WAN too: 2001:db8:100::/64 between vpn1 and the router, 2001:db8:200::/64
    between the router and vpn2 (the router forwards both families). A tunnel's family on the WAN is
    the family of the addresses its ends are given (sitevpn_public_address)."""
    topo = v6lan(gw_distros)
    topo.name, topo.description = "dual", "Figure 35-1, IPv4 and IPv6 on LANs and WAN"
    router = topo.guest("router")
    router.forwarding6 = True
    for number in (1, 2):
        router.nics[number - 1].address6 = "2001:db8:%d00::1/64" % number
        gateway = topo.guest("vpn%d" % number)
        gateway.nics[0].address6 = "2001:db8:%d00::10/64" % number
        gateway.gateway6 = "2001:db8:%d00::1" % number
    return topo


def dual_mixed():
    """dual with vpn2 on Debian 13 (Libreswan 5.x), as ``mixed`` is to the seed."""
    topo = dual(gw_distros=(None, "trixie"))
    topo.name, topo.description = "dual-mixed", "dual, vpn1 Debian 12 / vpn2 Debian 13"
    return topo


TOPOLOGIES = {"seed": seed, "mixed": mixed, "nat": nat, "hub3": hub3, "v6lan": v6lan, "dual": dual,
              "dual-mixed": dual_mixed}


def get(name):
    try:
        return TOPOLOGIES[name]()
    except KeyError:
        raise SystemExit("unknown topology %r (known: %s)" % (name, ", ".join(sorted(TOPOLOGIES))))
