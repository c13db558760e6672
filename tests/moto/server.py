"""moto's server with the CloudFront behaviour git-publish's tests need and moto 5.2.5 lacks.

Run as the tests' S3/CloudFront server (scripts/moto-server). What it adds, each the documented AWS behaviour:
- an origin keeps its OriginAccessControlId, and a cache behaviour its FunctionAssociations (moto drops both
  from the config it stores, so GetDistributionConfig could not show what `git publish setup` made);
- UpdateFunction (If-Match) and PublishFunction (If-Match), with a function's DEVELOPMENT and LIVE stages:
  GetFunction/DescribeFunction with Stage=LIVE answer 404 until the function is published;
- UpdateDistribution and UpdateFunction refuse a stale If-Match with 412 PreconditionFailed (moto accepts any
  value), so a concurrent edit in the console is refused as CloudFront refuses it.
- a bucket policy statement whose principal is an AWS service (`{"Service": "cloudfront.amazonaws.com"}`)
  applies to that service only: moto applied it to every request, so the Deny that keeps CloudFront from
  serving `.git-publish/*` also locked the publisher out of its own record. Requests that reach this server
  are anonymous or signed by an access key, never by a service.
- CreateInvalidation with a CallerReference used before returns that invalidation when the paths are the
  same, and refuses with 409 InvalidationBatchAlreadyExists when they differ (moto made a new one each time).
Also: ACM issues a requested certificate at once (MOTO_ACM_VALIDATION_WAIT=0; AWS takes minutes, after the
DNS records exist).
With MOTO_R2=1, Cloudflare R2's refusals on S3 (tests/moto/r2.py).
Everything else is moto as installed.
"""

import os
import sys

os.environ.setdefault("MOTO_ACM_VALIDATION_WAIT", "0")

from moto.cloudfront import models as m
from moto.cloudfront import responses as r
from moto.cloudfront import urls as u
from moto.cloudfront.exceptions import CloudFrontException
from moto.core.responses import ActionResult
from moto.moto_api._internal import mock_random


def _random_etag() -> str:
    return "E" + "".join(mock_random.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(13))


class PreconditionFailed(CloudFrontException):
    code = 412

    def __init__(self) -> None:
        super().__init__("PreconditionFailed", "The If-Match version is missing or not valid for the resource.")


class NoSuchFunctionExists(CloudFrontException):
    code = 404

    def __init__(self, name: str) -> None:
        super().__init__("NoSuchFunctionExists", f"The function {name} does not exist.")


# ---- origins keep their OAC, cache behaviours their functions -------------------------------------------

_origin_init = m.Origin.__init__


def _origin(self, origin):  # type: ignore[no-untyped-def]
    _origin_init(self, origin)
    self.origin_access_control_id = origin.get("OriginAccessControlId") or ""


m.Origin.__init__ = _origin

_behaviour_init = m.DefaultCacheBehaviour.__init__


def _behaviour(self, config):  # type: ignore[no-untyped-def]
    _behaviour_init(self, config)
    fa = config.get("FunctionAssociations") or {}
    items = fa.get("Items") or []
    self.function_associations = {"Quantity": len(items), "Items": items} if items else {"Quantity": 0}


m.DefaultCacheBehaviour.__init__ = _behaviour

# ---- If-Match is checked ----------------------------------------------------------------------------------

_update_distribution = m.CloudFrontBackend.update_distribution


def _update_dist(self, dist_config, _id, if_match):  # type: ignore[no-untyped-def]
    dist = self.distributions.get(_id)
    if dist is not None and if_match and if_match != dist.etag:
        raise PreconditionFailed()
    out = _update_distribution(self, dist_config, _id, if_match)
    dist.etag = _random_etag()
    return out[0], out[1], dist.etag


m.CloudFrontBackend.update_distribution = _update_dist

# ---- bucket policies: service principals are not the requester ---------------------------------------------

import json

from moto.s3 import models as s3m


def _get_permission(self, action, resource):  # type: ignore[no-untyped-def]
    from moto.iam.access_control import IAMPolicy, PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    policy = json.loads(self.policy.decode())
    statements = policy.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    statements = [
        st for st in statements or [] if not (isinstance(st.get("Principal"), dict) and "Service" in st["Principal"])
    ]
    if not statements:
        return PermissionResult.NEUTRAL
    return IAMPolicy(json.dumps(dict(policy, Statement=statements))).is_action_permitted(action, resource)


s3m.FakeBucket.get_permission = _get_permission

# ---- UpdateFunction, PublishFunction, stages ----------------------------------------------------------------

u.url_paths["{0}/2020-05-31/function/(?P<function_name>[^/]+)/publish$"] = r.CloudFrontResponse.dispatch


def _function(backend, name):  # type: ignore[no-untyped-def]
    try:
        return backend.describe_function(name=name)
    except Exception:
        raise NoSuchFunctionExists(name)


def _stage(self):  # type: ignore[no-untyped-def]
    return (self.querystring.get("Stage") or ["DEVELOPMENT"])[0]


def _live(fn, name):  # type: ignore[no-untyped-def]
    if getattr(fn, "live_code", None) is None:
        raise NoSuchFunctionExists(name)
    return fn


def update_function(self):  # type: ignore[no-untyped-def]
    name = self._get_param("Name")
    fn = _function(self.backend, name)
    if self.headers.get("If-Match") != fn.etag:
        raise PreconditionFailed()
    fn.config = self._get_param("FunctionConfig", {}) or fn.config
    fn.code = self._get_param("FunctionCode")
    fn.etag = _random_etag()
    fn.status = "UNPUBLISHED"
    return ActionResult({"FunctionSummary": fn.function_summary, "ETag": fn.etag})


def publish_function(self):  # type: ignore[no-untyped-def]
    name = self._get_param("Name")
    fn = _function(self.backend, name)
    if self.headers.get("If-Match") != fn.etag:
        raise PreconditionFailed()
    fn.live_code = fn.code
    fn.status = "UNASSOCIATED"
    summary = dict(fn.function_summary)
    summary["FunctionMetadata"] = dict(summary["FunctionMetadata"], Stage="LIVE")
    return ActionResult({"FunctionSummary": summary})


_get_function = r.CloudFrontResponse.get_function
_describe_function = r.CloudFrontResponse.describe_function


def get_function(self):  # type: ignore[no-untyped-def]
    name = self._get_param("Name")
    if _stage(self) == "LIVE":
        fn = _live(_function(self.backend, name), name)
        return ActionResult({"FunctionCode": fn.live_code, "ETag": fn.etag, "ContentType": "application/octet-stream"})
    _function(self.backend, name)
    return _get_function(self)


def describe_function(self):  # type: ignore[no-untyped-def]
    name = self._get_param("Name")
    fn = _function(self.backend, name)
    if _stage(self) == "LIVE":
        _live(fn, name)
        summary = dict(fn.function_summary)
        summary["FunctionMetadata"] = dict(summary["FunctionMetadata"], Stage="LIVE")
        return ActionResult({"FunctionSummary": summary, "ETag": fn.etag})
    return _describe_function(self)


# ---- CallerReference makes CreateInvalidation idempotent ------------------------------------------------
# The same CallerReference with the same paths returns the invalidation made before (a retry, or a resumed
# publish, pays nothing twice); with other paths it is refused with InvalidationBatchAlreadyExists. moto
# made a new invalidation every time.


class InvalidationBatchAlreadyExists(CloudFrontException):
    code = 409

    def __init__(self) -> None:
        super().__init__(
            "InvalidationBatchAlreadyExists",
            "The CallerReference you attempted to create the invalidation with is already in use.",
        )


_create_invalidation = m.CloudFrontBackend.create_invalidation


def _create_inv(self, dist_id, paths, caller_ref):  # type: ignore[no-untyped-def]
    for inv in self.invalidations.get(dist_id) or []:
        if inv.caller_ref == caller_ref:
            if inv.paths == paths:
                return inv
            raise InvalidationBatchAlreadyExists()
    return _create_invalidation(self, dist_id, paths, caller_ref)


m.CloudFrontBackend.create_invalidation = _create_inv

r.CloudFrontResponse.update_function = update_function
r.CloudFrontResponse.publish_function = publish_function
r.CloudFrontResponse.get_function = get_function
r.CloudFrontResponse.describe_function = describe_function

# ---- Cloudflare R2's refusals, when MOTO_R2=1 (tests/moto/r2.py says which) ------------------------------

if os.environ.get("MOTO_R2") == "1":
    import r2  # noqa: F401

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main())
