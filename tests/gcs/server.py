"""gcp-storage-emulator with the part of Cloud Storage's XML API that git-publish's client uses.

    .venv/bin/python tests/gcs/server.py [PORT]     (0, the default, picks a free port and prints it)

git-publish reaches GCS through the `object_store` crate, which speaks the XML API
(https://cloud.google.com/storage/docs/xml-api/overview). gcp-storage-emulator (PyPI) is a JSON-API emulator: of
the XML API it has only a bare PUT (which drops every header but Content-Type) and GET (without ETag,
Last-Modified or x-goog-generation), and it checks no precondition. This layer adds, on the emulator's own
storage, each as Google documents it:

- PUT Object (https://cloud.google.com/storage/docs/xml-api/put-object-upload): the headers kept and given back
  (Content-Type, Cache-Control, Content-Encoding, Content-Disposition, x-goog-meta-*,
  https://cloud.google.com/storage/docs/xml-api/reference-headers), `x-goog-if-generation-match` honoured (0: only
  if absent; else only if the live generation is that one; otherwise 412 PreconditionFailed,
  https://cloud.google.com/storage/docs/request-preconditions; a value that is not a number is a 400), and the
  answer's ETag and x-goog-generation.
- GET Object (https://cloud.google.com/storage/docs/xml-api/get-object-download): the stored headers, ETag,
  Last-Modified and x-goog-generation; 404 NoSuchKey.
- DELETE Object (https://cloud.google.com/storage/docs/xml-api/delete-object): 204, or 404 NoSuchKey.
- GET Bucket, list-type=2 (https://cloud.google.com/storage/docs/xml-api/get-bucket-list): ListBucketResult with
  prefix, one page.
- PUT Bucket (https://cloud.google.com/storage/docs/xml-api/put-bucket-create): the tests make their buckets so.
- XML multipart uploads (https://cloud.google.com/storage/docs/multipart-uploads), for files of 16 MiB and more:
  initiate (`POST ?uploads`, https://cloud.google.com/storage/docs/xml-api/post-object-multipart, the object's
  headers kept for the end), upload a part (`PUT ?partNumber=N&uploadId=ID`,
  https://cloud.google.com/storage/docs/xml-api/put-object-multipart, answered with the part's ETag), complete
  (`POST ?uploadId=ID` with the parts listed, https://cloud.google.com/storage/docs/xml-api/post-object-complete:
  the object is the listed parts in order; a part not uploaded is 400 InvalidPart) and abort (`DELETE ?uploadId=ID`,
  https://cloud.google.com/storage/docs/xml-api/delete-multipart: 204).

Everything else (the JSON API) is the emulator's. Storage is in memory.
"""
import hashlib
import re
import sys
import time
import uuid
from urllib.parse import parse_qs, urlparse
from email.utils import formatdate
from http import HTTPStatus
from xml.sax.saxutils import escape

from gcp_storage_emulator import server
from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers.buckets import create_bucket

KEPT = {
    "Content-Type": "contentType",
    "Cache-Control": "cacheControl",
    "Content-Encoding": "contentEncoding",
    "Content-Disposition": "contentDisposition",
}


def _error(response, status, code):
    response.status = status
    response.write_file(f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code></Error>".encode(),
                        "application/xml")


def _live(storage, bucket, name):
    try:
        return storage.get_file_obj(bucket, name)
    except NotFound:
        return None


def _headers(request):
    """The headers an object keeps, as the request sent them."""
    kept = {h: request.get_header(h) for h in KEPT if request.get_header(h) is not None}
    meta = {
        k[len("x-goog-meta-"):]: v for k, v in request._request_handler.headers.items()
        if k.lower().startswith("x-goog-meta-")
    }
    return kept, meta


def _write(response, storage, bucket, name, data, headers, want=None):
    """Store `data` at `name` with `headers` (from `_headers`), if `want` (x-goog-if-generation-match) holds."""
    if not storage.get_bucket(bucket):
        return _error(response, HTTPStatus.NOT_FOUND, "NoSuchBucket")
    live = _live(storage, bucket, name)
    if want is not None and not want.isdigit():  # a generation is a number; GCS refuses anything else
        return _error(response, HTTPStatus.BAD_REQUEST, "InvalidArgument")
    if want is not None and want != (live["generation"] if live else "0"):
        return _error(response, HTTPStatus.PRECONDITION_FAILED, "PreconditionFailed")
    generation = str(max(time.time_ns() // 1000, int(live["generation"]) + 1 if live else 0))
    kept, meta = headers
    obj = {
        "name": name,
        "bucket": bucket,
        "generation": generation,
        "metageneration": "1",
        "size": str(len(data)),
        "etag": '"{}"'.format(hashlib.md5(data).hexdigest()),
        "updated": formatdate(usegmt=True),
        "metadata": meta,
    }
    for header, value in kept.items():
        obj[KEPT[header]] = value
    storage.create_file(bucket, name, data, obj)
    response["ETag"] = obj["etag"]
    response["x-goog-generation"] = generation
    return obj


def _raw(request):
    """The bytes as sent (the emulator's reader would decode JSON and gzip bodies), read before any answer."""
    return server._read_raw_data(request._request_handler) or b""


def put_object(request, response, storage, *args, **kwargs):
    if "uploadId" in request.query:
        return put_part(request, response, storage)
    bucket, name = request.params["bucket_name"], request.params["object_id"]
    data = _raw(request)
    _write(response, storage, bucket, name, data, _headers(request),
           request.get_header("x-goog-if-generation-match"))


# Multipart uploads in progress: upload id -> bucket, name, the initiating request's headers, parts by number.
UPLOADS = {}


def post_object(request, response, storage, *args, **kwargs):
    bucket, name = request.params["bucket_name"], request.params["object_id"]
    body = _raw(request)
    if "uploads" in parse_qs(urlparse(request._request_handler.path).query, keep_blank_values=True):
        if not storage.get_bucket(bucket):
            return _error(response, HTTPStatus.NOT_FOUND, "NoSuchBucket")
        upload_id = uuid.uuid4().hex
        UPLOADS[upload_id] = {"bucket": bucket, "name": name, "headers": _headers(request), "parts": {}}
        xml = ("<?xml version='1.0' encoding='UTF-8'?><InitiateMultipartUploadResult><Bucket>{}</Bucket>"
               "<Key>{}</Key><UploadId>{}</UploadId></InitiateMultipartUploadResult>").format(
                   escape(bucket), escape(name), upload_id)
        return response.write_file(xml.encode(), "application/xml")
    upload = UPLOADS.get((request.query.get("uploadId") or [""])[0])
    if upload is None:
        return _error(response, HTTPStatus.NOT_FOUND, "NoSuchUpload")
    listed = [int(n) for n in re.findall(rb"<PartNumber>\s*(\d+)\s*</PartNumber>", body)]
    if not listed or any(n not in upload["parts"] for n in listed):
        return _error(response, HTTPStatus.BAD_REQUEST, "InvalidPart")
    data = b"".join(upload["parts"][n] for n in listed)
    obj = _write(response, storage, upload["bucket"], upload["name"], data, upload["headers"])
    if isinstance(obj, dict):
        del UPLOADS[request.query["uploadId"][0]]
        xml = ("<?xml version='1.0' encoding='UTF-8'?><CompleteMultipartUploadResult><Bucket>{}</Bucket>"
               "<Key>{}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>").format(
                   escape(upload["bucket"]), escape(upload["name"]), escape(obj["etag"]))
        response.write_file(xml.encode(), "application/xml")


def put_part(request, response, storage):
    data = _raw(request)
    upload = UPLOADS.get((request.query.get("uploadId") or [""])[0])
    number = (request.query.get("partNumber") or [""])[0]
    if upload is None:
        return _error(response, HTTPStatus.NOT_FOUND, "NoSuchUpload")
    if not number.isdigit():
        return _error(response, HTTPStatus.BAD_REQUEST, "InvalidArgument")
    upload["parts"][int(number)] = data
    response["ETag"] = '"{}"'.format(hashlib.md5(data).hexdigest())


def get_object(request, response, storage, *args, **kwargs):
    bucket, name = request.params["bucket_name"], request.params["object_id"]
    obj = _live(storage, bucket, name)
    if obj is None or "etag" not in obj:
        return _error(response, HTTPStatus.NOT_FOUND, "NoSuchKey")
    for header, field in KEPT.items():
        if field in obj and header != "Content-Type":
            response[header] = obj[field]
    for k, v in (obj.get("metadata") or {}).items():
        response["x-goog-meta-" + k] = v
    response["ETag"] = obj["etag"]
    response["Last-Modified"] = obj["updated"]
    response["x-goog-generation"] = obj["generation"]
    response.write_file(storage.get_file(bucket, name), obj.get("contentType", "application/octet-stream"))


def delete_object(request, response, storage, *args, **kwargs):
    bucket, name = request.params["bucket_name"], request.params["object_id"]
    if "uploadId" in request.query:  # abort a multipart upload
        UPLOADS.pop(request.query["uploadId"][0], None)
        response.status = HTTPStatus.NO_CONTENT
        return
    if _live(storage, bucket, name) is None:
        return _error(response, HTTPStatus.NOT_FOUND, "NoSuchKey")
    storage.delete_file(bucket, name)
    response.status = HTTPStatus.NO_CONTENT


def list_bucket(request, response, storage, *args, **kwargs):
    bucket = request.params["bucket_name"]
    if not storage.get_bucket(bucket):
        return _error(response, HTTPStatus.NOT_FOUND, "NoSuchBucket")
    prefix = (request.query.get("prefix") or [""])[0]
    names = sorted(n for n in storage.objects.get(bucket, {}) if n.startswith(prefix))
    items = []
    for n in names:
        o = storage.objects[bucket][n]
        items.append(f"<Contents><Key>{escape(n)}</Key><Size>{o.get('size', '0')}</Size>"
                     f"<LastModified>{time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime())}</LastModified>"
                     f"<ETag>{escape(o.get('etag') or '')}</ETag></Contents>")
    body = ("<?xml version='1.0' encoding='UTF-8'?><ListBucketResult><Name>{}</Name><Prefix>{}</Prefix>"
            "<KeyCount>{}</KeyCount><IsTruncated>false</IsTruncated>{}</ListBucketResult>").format(
                escape(bucket), escape(prefix), len(items), "".join(items))
    response.write_file(body.encode(), "application/xml")


def put_bucket(request, response, storage, *args, **kwargs):
    create_bucket(request.params["bucket_name"], storage)


XML_API = (
    (r"^/(?P<bucket_name>[-.\w%]+)$", {server.GET: list_bucket, server.PUT: put_bucket}),
    (r"^/(?P<bucket_name>[-.\w%]+)/(?P<object_id>.*[^/]+)$",
     {server.GET: get_object, server.PUT: put_object, server.POST: post_object, server.DELETE: delete_object}),
)
# The emulator's own routes first (its /storage/v1, /upload, /download and /b paths), then the XML API in place
# of its bare one.
server.HANDLERS = tuple(h for h in server.HANDLERS if not h[0].startswith(r"^/(?P<bucket_name>")) + XML_API

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    srv = server.create_server("127.0.0.1", port, in_memory=True)
    srv.start()
    print(f"gcs emulator listening on http://127.0.0.1:{srv._api._httpd.server_address[1]}", flush=True)
    while True:
        time.sleep(3600)
