#!/usr/bin/env python3
"""Opens certnet's sealed-record vectors (sealed.json) with an independent COSE-HPKE implementation:
python-cwt (draft-ietf-cose-hpke key-encryption mode, on pyhpke and cryptography/OpenSSL), given only
each member's X25519 private key.

For every record: cbor2 decodes the signed COSE_Sign1 and its payload; the script rebuilds the
external AAD itself from the payload (CBOR ["certnet sealed v1", net, author, seq]) and takes the
COSE_Encrypt from the content's `cose_encrypt`. Each recipient (A, B, C) must open it with cwt and
find a body of the expected kind with tlp red and all three in `to`; the non-recipient (D) must not;
a copy with one ciphertext byte flipped, and the same ciphertext under another author's AAD (moved
into another record), must not open either. cwt ignores the certnet hint header (-65537) and tries
every recipient entry, padding included. Prints one line per check and `N passed, M failed`.

Run: python3 protocol/tests/vectors/check_cose_hpke.py   (pip install cwt cbor2)
"""

import base64
import json
import sys
from pathlib import Path

import cbor2
from cwt import COSE, COSEKey

HERE = Path(__file__).resolve().parent
HPKE_4_KE = 50
CHACHA20_POLY1305 = 24

passed = 0
failed = 0


def report(ok, name, detail):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}: {detail}")
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def key_of(member):
    return COSEKey.from_jwk(
        {
            "kty": "OKP",
            "crv": "X25519",
            "alg": "HPKE-4-KE",
            "d": b64(bytes.fromhex(member["encryption_secret"])),
            "x": b64(bytes.fromhex(member["encryption_key_hex"])),
        }
    )


def author_bytes(text):
    assert text.startswith("ed25519:")
    return base64.urlsafe_b64decode(text[len("ed25519:") :] + "=")


def try_open(envelope, key, aad):
    try:
        return COSE.new().decode(envelope, key, external_aad=aad)
    except Exception as e:  # cwt raises DecodeError/ValueError for a key that is not addressed
        return e


def main():
    vectors = json.loads((HERE / "sealed.json").read_text(encoding="utf-8"))
    members = {m["name"]: m for m in vectors["members"]}
    for r in vectors["records"]:
        name = r["name"]
        record = cbor2.loads(bytes.fromhex(r["record"]))
        if not (isinstance(record, cbor2.CBORTag) and record.tag == 18):
            report(False, name, "the record is not a tagged COSE_Sign1")
            continue
        payload = cbor2.loads(record.value[2])
        envelope = payload["content"]["cose_encrypt"]
        aad = cbor2.dumps(["certnet sealed v1", payload["net"], payload["author"], payload["seq"]])
        report(
            payload["kind"] == "sealed" and payload["refs"] == [] and payload["tlp"] == r["tlp"],
            name,
            f"outer payload: kind sealed, no clear refs, tlp {payload['tlp']}",
        )
        report(aad.hex() == r["external_aad"], name, "external AAD rebuilt from the payload")
        cose = cbor2.loads(envelope)
        recipients = cose.value[3]
        report(
            cose.tag == 96
            and cbor2.loads(cose.value[0]) == {1: CHACHA20_POLY1305}
            and all(cbor2.loads(x[0]) == {1: HPKE_4_KE} for x in recipients),
            name,
            f"COSE_Encrypt tag 96, alg 24, {len(recipients)} HPKE-4-KE recipient entries",
        )
        audience = sorted(author_bytes(members[n]["author"]) for n in r["recipients"])
        for who in r["recipients"]:
            out = try_open(envelope, key_of(members[who]), aad)
            if isinstance(out, Exception):
                report(False, name, f"{who} cannot open it: {out!r}")
                continue
            body = cbor2.loads(out)
            report(
                body["tlp"] == "red" and sorted(body["to"]) == audience and body["kind"] in ("incident", "update"),
                name,
                f"{who} opens it with cwt: kind {body['kind']}, tlp {body['tlp']}, {len(body['to'])} in `to`",
            )
        for who in r["not_recipients"]:
            out = try_open(envelope, key_of(members[who]), aad)
            report(isinstance(out, Exception), name, f"{who} (not a recipient) cannot open it")
        tampered = cbor2.CBORTag(96, [cose.value[0], cose.value[1], bytearray(cose.value[2]), cose.value[3]])
        tampered.value[2][5] ^= 1
        out = try_open(cbor2.dumps(tampered), key_of(members["B"]), aad)
        report(isinstance(out, Exception), name, "one flipped ciphertext byte: B cannot open it")
        moved = cbor2.dumps(["certnet sealed v1", payload["net"], author_bytes(members["D"]["author"]), payload["seq"]])
        out = try_open(envelope, key_of(members["B"]), moved)
        report(isinstance(out, Exception), name, "moved into D's record (other AAD): B cannot open it")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
