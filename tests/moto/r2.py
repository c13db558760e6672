"""Cloudflare R2's refusals, on moto's S3: switched on by MOTO_R2=1 (tests/moto/server.py imports this then).

R2 speaks S3 with differences (https://developers.cloudflare.com/r2/api/s3/api/). What this layer does to
every S3 request when the switch is on, each as R2 documents it:
- `x-amz-website-redirect-location` is refused (PutObject, CopyObject, CreateMultipartUpload: "❌" in the
  page's tables): R2 has no website endpoint to answer with a redirect, so a redirect needs another form.
- ACLs are refused: the `x-amz-acl` and `x-amz-grant-*` headers, and the `?acl` subresource (GetObjectAcl,
  PutObjectAcl, GetBucketAcl, PutBucketAcl are in the page's "unimplemented" tables). So are bucket websites
  (`?website`) and bucket policies (`?policy`): R2 makes a bucket public through a custom domain or r2.dev.
- The region is `auto`; "an empty value and us-east-1 will alias to the auto region". A request signed for
  another region is refused with 400 InvalidRegionName.
Each refusal is S3's XML error: 501 NotImplemented for what R2 lacks (R2 answers unimplemented features so),
400 InvalidRegionName for the region.

What R2 supports is left to moto as it is: conditional PutObject (`If-None-Match: *`, `If-Match`), CopyObject
(with `x-amz-copy-source-if-*`), DeleteObjects, ListObjectsV2, multipart uploads.
Anything that is not S3 (CloudFront's API, moto's own `/moto-api`) passes untouched.
"""

import re

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

REFUSED_HEADERS = ("x-amz-website-redirect-location", "x-amz-acl")
REFUSED_SUBRESOURCES = ("acl", "website", "policy")
REGIONS = ("auto", "us-east-1", "")
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]*)/([^/]+)/aws4_request")


def _error(start_response, status, code, message):
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def refusal(environ):
    """(status, code, message) when R2 refuses this request, else None."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = SCOPE.search(auth)
    if scope is None or scope.group(2) != "s3":
        return None
    region = scope.group(1)
    if region not in REGIONS:
        return ("400 Bad Request", "InvalidRegionName",
                f"The region name '{region}' is not valid. Must be one of: auto, us-east-1 (an alias), or empty")
    for name in REFUSED_HEADERS:
        value = environ.get("HTTP_" + name.upper().replace("-", "_"))
        if value is not None:
            return ("501 Not Implemented", "NotImplemented", f"Header '{name}' with value '{value}' not implemented")
    for key in environ:
        if key.startswith("HTTP_X_AMZ_GRANT_"):
            name = key[5:].lower().replace("_", "-")
            return ("501 Not Implemented", "NotImplemented", f"Header '{name}' not implemented")
    query = environ.get("QUERY_STRING", "")
    params = {p.split("=", 1)[0] for p in query.split("&") if p}
    for sub in REFUSED_SUBRESOURCES:
        if sub in params:
            return ("501 Not Implemented", "NotImplemented", f"The '{sub}' subresource is not implemented")
    return None


_call = DomainDispatcherApplication.__call__


def _r2_call(self, environ, start_response):  # type: ignore[no-untyped-def]
    refused = refusal(environ)
    if refused is not None:
        # The body of a refused PUT is not read; read it so the connection stays usable.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            environ["wsgi.input"].read(length)
        return _error(start_response, *refused)
    return _call(self, environ, start_response)


DomainDispatcherApplication.__call__ = _r2_call
