"""An IKEv2 responder that can do no Diffie-Hellman group: the foreign peer of issue 16, on the wire.

Runs inside a lab guest (python3, standard library only) on UDP 500 of the given address. Every
IKE_SA_INIT request gets an INVALID_KE_PAYLOAD notification (RFC 7296 1.3, 3.10.1) that asks for the
group named on the command line - also when the request already used that group, which is what a
peer does whose crypto library cannot compute the group it selected. Nothing else is answered.

    python3 invalid_ke_peer.py ADDRESS [GROUP]      (GROUP: IANA number, default 19)
"""

import socket
import struct
import sys

IKE_SA_INIT = 34
RESPONSE = 0x20
NOTIFY = 41
INVALID_KE_PAYLOAD = 17


def answer(request, group):
    """The INVALID_KE_PAYLOAD response to one IKE_SA_INIT request, or None for anything else."""
    if len(request) < 28 or request[17] != 0x20 or request[18] != IKE_SA_INIT or request[19] & RESPONSE:
        return None
    notify = struct.pack("!BBHBBHH", 0, 0, 10, 0, 0, INVALID_KE_PAYLOAD, group)
    header = request[:8] + b"\0" * 8 + struct.pack("!BBBBII", NOTIFY, 0x20, IKE_SA_INIT, RESPONSE, 0,
                                                   28 + len(notify))
    return header + notify


def main():
    address = sys.argv[1]
    group = int(sys.argv[2]) if len(sys.argv) > 2 else 19
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, 500))
    print("answering IKE_SA_INIT on %s:500 with INVALID_KE_PAYLOAD(%d)" % (address, group), flush=True)
    while True:
        data, peer = sock.recvfrom(65535)
        reply = answer(data, group)
        if reply:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
