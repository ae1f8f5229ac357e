# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""RSA public keys as Libreswan writes them (``plugins/plugin_utils/_keys.py``).

``leftrsasigkey=0s...`` is base64 of the RFC 3110 record: exponent length (one byte,
or a zero byte then two bytes), exponent, modulus. An appliance usually exports PEM.
Keys are generated here with cryptography; no private key is stored anywhere.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import os
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _keys
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._keys import KeyProblem

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.normpath(os.path.join(HERE, '..', '..', '..', '..'))
SHARED = os.path.join(os.path.dirname(REPO_ROOT), 'shared')
FIXTURES_DIR = os.path.join(SHARED, 'fixtures', 'libreswan-testsuite')
SEED_DIR = os.path.join(SHARED, 'seed')

_cache = {}


def public_key(bits):
    """A fresh RSA public key of ``bits`` (one per size per run; the private half is dropped)."""
    if bits not in _cache:
        _cache[bits] = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    return _cache[bits]


def pem(key):
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode('ascii')


def record(exponent, modulus, long_form=False):
    """An RFC 3110 record built by hand, independent of the code under test."""
    e = exponent.to_bytes((exponent.bit_length() + 7) // 8, 'big')
    n = modulus.to_bytes((modulus.bit_length() + 7) // 8, 'big')
    head = b'\x00' + len(e).to_bytes(2, 'big') if long_form else bytes([len(e)])
    return head + e + n


def b64(data):
    return base64.b64encode(data).decode('ascii')


# --- round trips -------------------------------------------------------------------------

@pytest.mark.parametrize('bits', [2048, 3072])
def test_pem_to_0s_and_back(bits):
    """PEM -> 0s... -> PEM gives the same key; the 0s form is exactly the RFC 3110 record."""
    key = public_key(bits)
    numbers = key.public_numbers()
    value = _keys.to_rfc3110(pem(key))
    assert value == '0s' + b64(record(numbers.e, numbers.n))
    assert _keys.to_pem(value) == pem(key)
    assert _keys.to_rfc3110(value) == value     # idempotent


@pytest.mark.parametrize('bits', [2048, 3072])
def test_bits_and_exponent_are_reported(bits):
    """check() says how big the key is, and its exponent."""
    info = _keys.check(pem(public_key(bits)))
    assert info['bits'] == bits
    assert info['exponent'] == 65537
    assert info['rfc3110'].startswith('0sAwEAA')    # 03 01 00 01: length 3, exponent 65537


def test_0x_hex_form_is_the_same_key():
    """Old Libreswan/FreeS/WAN configs write the record in hex, 0x...."""
    numbers = public_key(2048).public_numbers()
    raw = record(numbers.e, numbers.n)
    assert _keys.to_rfc3110('0x' + raw.hex()) == '0s' + b64(raw)
    assert _keys.to_rfc3110('0x' + raw.hex().upper()) == '0s' + b64(raw)


@pytest.mark.parametrize('prefix', ['leftrsasigkey=', 'rightrsasigkey='])
def test_conn_line_prefix_is_stripped(prefix):
    """A line pasted from `ipsec showhostkey --left` output, key name included, is accepted."""
    value = _keys.to_rfc3110(pem(public_key(2048)))
    assert _keys.to_rfc3110('\t' + prefix + value + '\n') == value


def test_wrapped_0s_value_is_accepted():
    """The seed's keys are wrapped over lines; whitespace inside the base64 is ignored."""
    value = _keys.to_rfc3110(pem(public_key(2048)))
    wrapped = '\n'.join(value[i:i + 64] for i in range(0, len(value), 64))
    assert _keys.to_rfc3110(wrapped) == value


def test_long_exponent_length_form_is_read():
    """RFC 3110: a zero byte then a two-byte length. A made-up record with 65537 written that way."""
    numbers = public_key(2048).public_numbers()
    long_form = '0s' + b64(record(numbers.e, numbers.n, long_form=True))
    info = _keys.check(long_form)
    assert info['exponent'] == 65537 and info['bits'] == 2048
    # written back in the short form, which is what Libreswan prints for a short exponent
    assert info['rfc3110'] == '0s' + b64(record(numbers.e, numbers.n))


def test_exponent_longer_than_255_bytes_round_trips_in_long_form():
    """An exponent of 300 bytes needs the long form, both ways (a made-up key; e < n, odd)."""
    n = public_key(3072).public_numbers().n
    e = (1 << (300 * 8 - 1)) | 1
    value = '0s' + b64(record(e, n, long_form=True))
    info = _keys.check(value)
    assert info['exponent'] == e
    assert info['rfc3110'] == value
    assert base64.b64decode(value[2:])[:3] == b'\x00\x01\x2c'    # 0, then 300


# --- refusals -----------------------------------------------------------------------------

@pytest.mark.parametrize('value, message', [
    ('', 'is empty'),
    ('   ', 'is empty'),
    (None, 'is empty'),
    ('AwEAAc3x', 'must start with 0s (base64), 0x (hex) or -----BEGIN PUBLIC KEY-----'),
    ('ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ', 'must start with 0s'),
    ('0sAwEAA!!', 'is not valid base64/hex'),
    ('0sAwEAAQ', 'is not valid base64/hex'),          # bad padding
    ('0x03010001zz', 'is not valid base64/hex'),
    ('0x030', 'is not valid base64/hex'),              # odd number of hex digits
    ('0sAAE=', 'too short'),                           # 2 bytes
    ('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', 'does not parse'),
], ids=['empty', 'blank', 'none', 'no-prefix', 'ssh-key', 'bad-base64-chars', 'bad-padding', 'bad-hex',
        'odd-hex', 'too-short', 'bad-pem'])
def test_malformed_values_are_refused(value, message):
    """Anything that is not a key says why, as a KeyProblem (a ValueError)."""
    with pytest.raises(KeyProblem) as caught:
        _keys.load(value)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize('cut', ['exponent', 'modulus', 'long-length'])
def test_truncated_record_is_refused(cut):
    """A record cut short (the seed warns that copy-paste corrupts keys) is refused."""
    numbers = public_key(2048).public_numbers()
    full = record(numbers.e, numbers.n)
    data = {
        'exponent': full[:3],                          # says 3 exponent bytes, has 2
        'modulus': full[:4],                           # exponent, no modulus
        'long-length': b'\x00\x01\x00' + b'\x01' * 10,  # says 256 exponent bytes, has 10
    }[cut]
    with pytest.raises(KeyProblem, match='truncated'):
        _keys.load('0s' + b64(data))


def test_not_an_rsa_key_numbers_are_refused():
    """A record whose exponent is even is no RSA key."""
    n = public_key(2048).public_numbers().n
    with pytest.raises(KeyProblem, match='not a valid RSA public key'):
        _keys.load('0s' + b64(record(65536, n)))


def test_ec_pem_is_refused():
    """Libreswan's rsasigkey is RSA; an EC public key is refused by name."""
    ec_pem = pem(ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(KeyProblem, match='not an RSA key'):
        _keys.load(ec_pem)


def test_key_below_2048_bits_is_refused():
    """check() refuses keys under MIN_BITS, saying how many bits they have."""
    with pytest.raises(KeyProblem, match='has 1024 bits; at least 2048 are needed'):
        _keys.check(pem(public_key(1024)))
    # load() alone does not judge size: to_pem can still show the key to a human
    assert _keys.to_pem(pem(public_key(1024))) == pem(public_key(1024))


def test_min_bits_can_be_raised_to_what_newhostkey_makes():
    """Libreswan's own `ipsec newhostkey` minimum (2192) can be asked for."""
    with pytest.raises(KeyProblem, match='has 2048 bits; at least 2192'):
        _keys.check(pem(public_key(2048)), min_bits=_keys.LIBRESWAN_MIN_BITS)
    assert _keys.check(pem(public_key(3072)), min_bits=_keys.LIBRESWAN_MIN_BITS)['bits'] == 3072


def test_seed_howto_keys_are_refused():
    """The keys printed in the seed HOWTO were mangled by the page (it warns copy-paste does that):
    they are refused, not half-accepted. Cut out of the document at test time."""
    if not os.path.isdir(SEED_DIR):
        pytest.skip('seed document not found at %s' % SEED_DIR)
    text = ''.join(open(os.path.join(SEED_DIR, name), encoding='utf-8', errors='replace').read()
                   for name in sorted(os.listdir(SEED_DIR)))
    # the value goes on over the following lines until an indented "  key=" line
    values = [m.group(2) for m in re.finditer(r'(left|right)rsasigkey=(0s\S+(?:\n(?!\s)[^\n]*)*)', text)]
    if not values:
        pytest.skip('no rsasigkey= in the seed document')
    for value in values:
        with pytest.raises(KeyProblem):
            _keys.check(value)


# --- real values from Libreswan's own test suite -------------------------------------------

RSASIGKEY_RE = re.compile(r'(?:left|right)rsasigkey=(0s[A-Za-z0-9+/=]+)')


def _fixture_keys():
    found, placeholders = set(), 0
    for dirpath, _dirs, files in os.walk(FIXTURES_DIR):
        for name in files:
            with open(os.path.join(dirpath, name), encoding='utf-8', errors='replace') as handle:
                text = handle.read()
            found.update(RSASIGKEY_RE.findall(text))
            placeholders += len(re.findall(r'rsasigkey=0s<<', text))
    return sorted(found), placeholders


def test_rsasigkeys_from_the_libreswan_testsuite_parse_or_are_refused_as_placeholders():
    """Every real leftrsasigkey=/rightrsasigkey= value in the upstream transcripts parses as RSA.

    Libreswan's harness normalises the keys of its transcripts to ``0s<<RAW-PUBKEY#n>>``; a user
    who copies such a line from a test log gets a clear refusal, never a half-parsed key.
    """
    if not os.path.isdir(FIXTURES_DIR):
        pytest.skip('upstream transcripts not found at %s' % FIXTURES_DIR)
    keys, placeholders = _fixture_keys()
    assert keys or placeholders, 'no rsasigkey= line at all in %s' % FIXTURES_DIR
    for value in keys:
        info = _keys.check(value, min_bits=1024)
        assert info['bits'] >= 1024 and info['rfc3110'] == value
    if placeholders:
        with pytest.raises(KeyProblem):
            _keys.check('0s<<RAW-PUBKEY#1>>')
