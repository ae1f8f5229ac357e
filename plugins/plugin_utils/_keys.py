# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private, controller side: RSA public keys as Libreswan writes them, checked with cryptography.

Libreswan's ``leftrsasigkey=0s...`` is base64 of the RFC 3110 RSA key record:
an exponent length (one byte, or a zero byte and two bytes), the exponent, then
the modulus. cryptography builds and checks the key from those two numbers; it
also reads PEM (SubjectPublicKeyInfo), which is what an appliance usually
exports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii

from ansible.errors import AnsibleError

CRYPTOGRAPHY_IMPORT_ERROR = None
try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
except ImportError as exc:  # checked where it is needed, with a message that says what to do
    serialization = rsa = None
    CRYPTOGRAPHY_IMPORT_ERROR = exc

MIN_BITS = 2048         # below this a peer key is refused
LIBRESWAN_MIN_BITS = 2192  # what `ipsec newhostkey` accepts today (multiple of 16)


class KeyProblem(ValueError):
    pass


def _record_numbers(record):
    if len(record) < 3:
        raise KeyProblem("the RFC 3110 key record is too short")
    if record[0] == 0:
        exp_len = int.from_bytes(record[1:3], "big")
        offset = 3
    else:
        exp_len = record[0]
        offset = 1
    exponent = record[offset:offset + exp_len]
    modulus = record[offset + exp_len:]
    if len(exponent) != exp_len or not modulus:
        raise KeyProblem("the RFC 3110 key record is truncated")
    return int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big")


def require_cryptography():
    """AnsibleError saying what to install when the controller has no cryptography (the CA needs it too)."""
    if rsa is None:
        raise AnsibleError("sitevpn.ipsec needs the Python package cryptography on the Ansible controller "
                           "(pip install cryptography): %s" % CRYPTOGRAPHY_IMPORT_ERROR)


def load(text):
    """An RSA public key object from ``0s...`` (RFC 3110), ``0x...`` or PEM text."""
    require_cryptography()
    if not isinstance(text, str) or not text.strip():
        raise KeyProblem("the public key is empty")
    value = text.strip()
    for prefix in ("leftrsasigkey=", "rightrsasigkey=", "leftpubkey=", "rightpubkey="):
        if value.startswith(prefix):
            value = value[len(prefix):]
    if value.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(value.encode("ascii"))
        except (ValueError, TypeError) as exc:
            raise KeyProblem("the PEM public key does not parse: %s" % exc)
        if not isinstance(key, rsa.RSAPublicKey):
            raise KeyProblem("the PEM key is not an RSA key (%s)" % type(key).__name__)
        return key
    try:
        if value.startswith("0s"):
            record = base64.b64decode("".join(value[2:].split()), validate=True)
        elif value.startswith("0x"):
            record = binascii.unhexlify("".join(value[2:].split()))
        else:
            raise KeyProblem("the public key must start with 0s (base64), 0x (hex) or -----BEGIN PUBLIC KEY-----")
    except (binascii.Error, ValueError) as exc:
        if isinstance(exc, KeyProblem):
            raise
        raise KeyProblem("the public key is not valid base64/hex: %s" % exc)
    exponent, modulus = _record_numbers(bytearray(record))
    try:
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    except ValueError as exc:
        raise KeyProblem("not a valid RSA public key: %s" % exc)


def check(text, min_bits=MIN_BITS):
    """Parse and check a public key; returns ``{bits, exponent, rfc3110}``."""
    key = load(text)
    numbers = key.public_numbers()
    if key.key_size < min_bits:
        raise KeyProblem("the RSA key has %d bits; at least %d are needed" % (key.key_size, min_bits))
    if numbers.e < 3 or numbers.e % 2 == 0:
        raise KeyProblem("the RSA public exponent %d is not valid" % numbers.e)
    return {"bits": key.key_size, "exponent": numbers.e, "rfc3110": _rfc3110(numbers)}


def _rfc3110(numbers):
    exponent = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
    modulus = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    if len(exponent) < 256:
        head = bytes([len(exponent)])
    else:
        head = b"\0" + len(exponent).to_bytes(2, "big")
    return "0s" + base64.b64encode(head + exponent + modulus).decode("ascii")


def to_rfc3110(text, min_bits=MIN_BITS):
    """Any accepted form -> the ``0s...`` value a conn needs."""
    return check(text, min_bits)["rfc3110"]


def to_pem(text):
    """Any accepted form -> PEM SubjectPublicKeyInfo (to hand to an appliance)."""
    return load(text).public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
