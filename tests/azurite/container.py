"""Create a container in Azurite, signed with its well-known development account (SharedKey).

    python3 tests/azurite/container.py http://127.0.0.1:PORT/devstoreaccount1 NAME

Azurite, like Azure, makes no container on its own; the tests create theirs with this (standard library only).
The signature follows https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key (Create
Container: https://learn.microsoft.com/rest/api/storageservices/create-container).
"""
import base64
import hashlib
import hmac
import sys
import urllib.request
from email.utils import formatdate
from urllib.parse import urlparse

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
VERSION = "2021-08-06"


def create(endpoint, name):
    url = f"{endpoint.rstrip('/')}/{name}?restype=container"
    date = formatdate(usegmt=True)
    ctype = "application/octet-stream"  # urllib would add its own otherwise
    headers = {"x-ms-date": date, "x-ms-version": VERSION, "Content-Length": "0", "Content-Type": ctype}
    canonical_headers = f"x-ms-date:{date}\nx-ms-version:{VERSION}\n"
    canonical_resource = f"/{ACCOUNT}{urlparse(url).path}\nrestype:container"
    # VERB, then 11 standard headers, empty but Content-Type (Content-Length 0 is signed as empty).
    to_sign = "PUT\n" + "\n" * 4 + ctype + "\n" + "\n" * 6 + canonical_headers + canonical_resource
    mac = hmac.new(base64.b64decode(KEY), to_sign.encode(), hashlib.sha256).digest()
    headers["Authorization"] = f"SharedKey {ACCOUNT}:{base64.b64encode(mac).decode()}"
    req = urllib.request.Request(url, method="PUT", headers=headers, data=b"")
    try:
        urllib.request.urlopen(req).read()
    except urllib.error.HTTPError as e:
        if e.code != 409:  # ContainerAlreadyExists
            raise SystemExit(f"creating container {name}: HTTP {e.code}: {e.read().decode(errors='replace')}")


if __name__ == "__main__":
    create(sys.argv[1], sys.argv[2])
