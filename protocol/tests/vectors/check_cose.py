#!/usr/bin/env python3
"""Checks certnet record vectors with an independent COSE implementation (pycose, on cbor2 and
cryptography/OpenSSL), given only each author's 32-byte Ed25519 public key.

For every valid record (records.json, both records of fork.json, base-valid of invalid.json): pycose
decodes the tagged COSE_Sign1 and verifies its EdDSA (alg -8) signature; the script also checks the
exact protected header, the record id (SHA-256 of the payload) and that the payload re-encodes to
the same bytes under cbor2's canonical encoding. For the bad-signature vectors, pycose must refuse
the signature. Prints one line per vector and `N passed, 0 failed`; exits 1 on any failure.

Run: python3 protocol/tests/vectors/check_cose.py   (pip install pycose)
"""

import hashlib
import json
import sys
from pathlib import Path

import cbor2
from pycose import headers
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import CoseMessage, Sign1Message

HERE = Path(__file__).resolve().parent
PROTECTED = bytes.fromhex(
    "a2012703781f6170706c69636174696f6e2f636572746e65742d7265636f72642b63626f72"
)
EDDSA = -8

passed = 0
failed = 0


def load(name):
    with open(HERE / name, encoding="utf-8") as f:
        return json.load(f)


def report(ok, name, detail):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")


def decode_sign1(data):
    """Decodes a tagged COSE_Sign1 with pycose.

    pycose 1.1 checks `isinstance(..., list)` / `dict`, but cbor2 >= 6 decodes arrays as tuples and maps
    as frozendicts (pycose issue #141), so `CoseMessage.decode` then fails on any valid message. In that
    case the tag is unwrapped here and the four elements are handed to pycose's own
    `Sign1Message.from_cose_obj`: headers, Sig_structure and verification all stay pycose's.
    """
    try:
        msg = CoseMessage.decode(data)
    except TypeError:
        outer = cbor2.loads(data)
        if not isinstance(outer, cbor2.CBORTag) or outer.tag != 18 or len(outer.value) != 4:
            raise
        protected, unprotected, payload, signature = outer.value
        msg = Sign1Message.from_cose_obj([protected, dict(unprotected), payload, signature], True)
    if not isinstance(msg, Sign1Message):
        raise ValueError(f"not a COSE_Sign1 but {type(msg).__name__}")
    return msg


def verify(record_hex, key_hex):
    """Returns (signature verified, decoded message)."""
    msg = decode_sign1(bytes.fromhex(record_hex))
    msg.key = OKPKey(crv=Ed25519, x=bytes.fromhex(key_hex))
    return msg.verify_signature(), msg


def check_valid(name, record_hex, key_hex, expected_id=None):
    try:
        ok, msg = verify(record_hex, key_hex)
        raw = cbor2.loads(bytes.fromhex(record_hex))
        problems = []
        if not ok:
            problems.append("signature does not verify")
        if not isinstance(raw, cbor2.CBORTag) or raw.tag != 18:
            problems.append("not tagged 18")
        elif raw.value[0] != PROTECTED:
            problems.append("protected header differs")
        elif raw.value[1] != {}:
            problems.append("unprotected header not empty")
        alg_id = getattr(msg.get_attr(headers.Algorithm), "identifier", None)
        if alg_id != EDDSA:
            problems.append(f"alg is {alg_id}, expected -8")
        payload = msg.payload
        rid = hashlib.sha256(payload).hexdigest()
        if expected_id is not None and rid != expected_id:
            problems.append(f"id {rid} != {expected_id}")
        strict = cbor2.loads(payload, allow_indefinite=False, allow_duplicate_keys=False)
        if cbor2.dumps(strict, canonical=True) != payload:
            problems.append("payload is not in canonical form")
        if problems:
            report(False, name, "; ".join(problems))
        else:
            report(True, name, f"pycose verifies EdDSA signature; id {rid[:16]}..")
    except Exception as e:  # noqa: BLE001 - any exception is a failed check
        report(False, name, f"{type(e).__name__}: {e}")


def check_bad(name, record_hex, key_hex):
    try:
        ok, _ = verify(record_hex, key_hex)
    except Exception as e:  # noqa: BLE001 - a refusal by exception is a refusal
        ok = False
        why = f"refused ({type(e).__name__})"
    else:
        why = "refused" if not ok else "ACCEPTED"
    report(not ok, name, f"pycose {why} the signature, as it must")


def main():
    keys = {k["name"]: k["public"] for k in load("keys.json")["keys"]}

    for r in load("records.json")["records"]:
        check_valid(f"records.json/{r['name']}", r["record"], r["author_key"], r["id"])

    fork = load("fork.json")
    author_b = keys["B"]
    for i, (rec, rid) in enumerate(zip(fork["records"], fork["ids"])):
        check_valid(f"fork.json/records[{i}]", rec, author_b, rid)

    for r in load("invalid.json")["records"]:
        if r["name"] == "base-valid":
            check_valid(f"invalid.json/{r['name']}", r["record"], keys["A"])
        elif r["reason"] == "bad_signature":
            # The payload's author is A; the signature must not verify with A's key.
            check_bad(f"invalid.json/{r['name']}", r["record"], keys["A"])

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
