#!/usr/bin/env python3
"""An independent TAXII 2.1 client (OASIS's taxii2-client) against a running certnet node.

Usage: taxii_client_check.py URL USER PASSWORD OPERATOR_TOKEN

The node holds records of TLP:CLEAR, GREEN and AMBER; USER/PASSWORD is a consumer limited to CLEAR and
GREEN (HTTP Basic, Argon2id). Checks discovery, the consumer's collections, paging through a
collection with `next` in small pages (every object once, none lost), that the consumer never
receives an AMBER object, and that the operator's token sees the AMBER collection.
Prints `N passed, N failed` and exits 1 on any failure.
"""

import sys

import requests
from taxii2client.v21 import Server, as_pages

url, user, password, token = sys.argv[1:5]
passed = 0
failed = 0


def check(what, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what} {detail}")


class Bearer(requests.auth.AuthBase):
    """`Authorization: Bearer <token>` (taxii2-client's TokenAuth sends `Token <token>`)."""

    def __init__(self, token):
        self.token = token

    def __call__(self, r):
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"

try:
    server = Server(f"{url}/taxii2/", user=user, password=password)
    check("discovery names an API root", len(server.api_roots) == 1, server.api_roots)
    root = server.api_roots[0]
    titles = sorted(c.title for c in root.collections)
    check("the consumer sees CLEAR and GREEN only", titles == ["TLP:CLEAR", "TLP:GREEN"], titles)
    for collection in root.collections:
        whole = collection.get_objects().get("objects", [])
        paged = []
        pages = 0
        for page in as_pages(collection.get_objects, per_request=2):
            paged.extend(page.get("objects", []))
            pages += 1
        check(f"{collection.title}: objects", len(whole) > 0, len(whole))
        check(
            f"{collection.title}: paging by 2 ({pages} pages) returns every object once",
            sorted((o["id"], o.get("modified", "")) for o in paged)
            == sorted((o["id"], o.get("modified", "")) for o in whole),
        )
        leaked = [o["id"] for o in paged if AMBER in o.get("object_marking_refs", [])]
        check(f"{collection.title}: no AMBER object", not leaked, leaked)
    operator = Server(f"{url}/taxii2/", auth=Bearer(token))
    titles = sorted(c.title for c in operator.api_roots[0].collections)
    check("the operator sees AMBER too", "TLP:AMBER" in titles, titles)
except Exception as e:  # noqa: BLE001 - any client error is a failed check
    check("the client talked to the node", False, repr(e))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
