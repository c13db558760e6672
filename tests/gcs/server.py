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

Everything else (the JSON API) is the emulator's. Storage is in memory.
"""
import hashlib
import sys
import time
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


def put_object(request, response, storage, *args, **kwargs):
    bucket, name = request.params["bucket_name"], request.params["object_id"]
    # The bytes as sent (the emulator's reader would decode JSON and gzip bodies), read before any answer.
    data = server._read_raw_data(request._request_handler) or b""
    if not storage.get_bucket(bucket):
        return _error(response, HTTPStatus.NOT_FOUND, "NoSuchBucket")
    live = _live(storage, bucket, name)
    want = request.get_header("x-goog-if-generation-match")
    if want is not None and not want.isdigit():  # a generation is a number; GCS refuses anything else
        return _error(response, HTTPStatus.BAD_REQUEST, "InvalidArgument")
    if want is not None and want != (live["generation"] if live else "0"):
        return _error(response, HTTPStatus.PRECONDITION_FAILED, "PreconditionFailed")
    generation = str(max(time.time_ns() // 1000, int(live["generation"]) + 1 if live else 0))
    obj = {
        "name": name,
        "bucket": bucket,
        "generation": generation,
        "metageneration": "1",
        "size": str(len(data)),
        "etag": '"{}"'.format(hashlib.md5(data).hexdigest()),
        "updated": formatdate(usegmt=True),
        "metadata": {
            k[len("x-goog-meta-"):]: v for k, v in request._request_handler.headers.items()
            if k.lower().startswith("x-goog-meta-")
        },
    }
    for header, field in KEPT.items():
        value = request.get_header(header)
        if value is not None:
            obj[field] = value
    storage.create_file(bucket, name, data, obj)
    response["ETag"] = obj["etag"]
    response["x-goog-generation"] = generation


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
     {server.GET: get_object, server.PUT: put_object, server.DELETE: delete_object}),
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
