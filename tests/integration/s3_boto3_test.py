#!/usr/bin/env python3
"""boto3 checks of cairn-s3 (run by s3_boto3_test.sh against a fresh cluster)."""
import concurrent.futures
import datetime
import hashlib
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
import botocore
from botocore.config import Config

cluster = json.load(open(sys.argv[1]))
CTL, CONF = sys.argv[2], sys.argv[3]
S3 = cluster["s3"]
EP = S3["endpoint"]


def client(ak=S3["access_key"], sk=S3["secret_key"], **cfg):
    return boto3.client("s3", endpoint_url=EP, aws_access_key_id=ak, aws_secret_access_key=sk,
                        region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}, max_pool_connections=16, **cfg))


s3 = client()
T0 = time.time()


def step(msg):
    print(f"--- {msg} ({time.time() - T0:.1f} s)", flush=True)


def expect_error(code, fn, *args, status=None, **kw):
    try:
        fn(*args, **kw)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e.response}"
        if status is not None:
            st = e.response["ResponseMetadata"]["HTTPStatusCode"]
            assert st == status, f"{code}: status {st}, want {status}"
        assert e.response["ResponseMetadata"].get("RequestId") or code in ("NotModified", "404", "412", "304"), e.response
        return e
    raise AssertionError(f"expected {code}, call succeeded")


step("buckets")
s3.create_bucket(Bucket="data")
expect_error("BucketAlreadyOwnedByYou", s3.create_bucket, Bucket="data", status=409)
expect_error("InvalidBucketName", s3.create_bucket, Bucket="Bad_Name", status=400)
expect_error("NoSuchBucket", s3.list_objects_v2, Bucket="missing-bucket", status=404)
expect_error("404", s3.head_bucket, Bucket="missing-bucket")
assert "data" in [b["Name"] for b in s3.list_buckets()["Buckets"]]

step("listing 3000 keys: pagination and delimiters")
keys = [f"set{d}/sub{s}/obj{i:04d}" for d in range(3) for s in range(4) for i in range(250)]
with concurrent.futures.ThreadPoolExecutor(16) as ex:
    list(ex.map(lambda k: s3.put_object(Bucket="data", Key=k, Body=k.encode()), keys))
step("listing: put done")
seen = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="data", PaginationConfig={"PageSize": 700}):
    seen += [o["Key"] for o in page.get("Contents", [])]
assert seen == sorted(keys), (len(seen), len(keys))
seen = []
for page in s3.get_paginator("list_objects").paginate(Bucket="data", PaginationConfig={"PageSize": 450}):
    seen += [o["Key"] for o in page.get("Contents", [])]
assert seen == sorted(keys), len(seen)
r = s3.list_objects_v2(Bucket="data", Delimiter="/")
assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["set0/", "set1/", "set2/"], r
assert "Contents" not in r
r = s3.list_objects_v2(Bucket="data", Prefix="set1/", Delimiter="/", MaxKeys=2)
assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["set1/sub0/", "set1/sub1/"] and r["IsTruncated"], r
r2 = s3.list_objects_v2(Bucket="data", Prefix="set1/", Delimiter="/", ContinuationToken=r["NextContinuationToken"])
assert [p["Prefix"] for p in r2["CommonPrefixes"]] == ["set1/sub2/", "set1/sub3/"] and not r2["IsTruncated"], r2
r = s3.list_objects(Bucket="data", Prefix="set2/sub3/", Marker="set2/sub3/obj0240")
assert [o["Key"] for o in r["Contents"]] == [f"set2/sub3/obj{i:04d}" for i in range(241, 250)], r
r = s3.list_objects_v2(Bucket="data", StartAfter="set2/sub3/obj0247")
assert [o["Key"] for o in r["Contents"]] == ["set2/sub3/obj0248", "set2/sub3/obj0249"], r
r = s3.list_objects_v2(Bucket="data", Prefix="set0/sub0/", MaxKeys=3, FetchOwner=True)
assert len(r["Contents"]) == 3 and r["KeyCount"] == 3 and "Owner" in r["Contents"][0], r
s3.put_object(Bucket="data", Key="odd key+&<x>.txt", Body=b"x")
r = s3.list_objects_v2(Bucket="data", Prefix="odd", EncodingType="url")
# boto3 leaves the keys encoded when the caller asked for the encoding.
assert [urllib.parse.unquote_plus(o["Key"]) for o in r["Contents"]] == ["odd key+&<x>.txt"], r
assert r["Contents"][0]["Key"] == "odd%20key%2B%26%3Cx%3E.txt", r
t = time.time()
s3.list_objects_v2(Bucket="data", MaxKeys=1000)
print(f"    LIST of 1000 keys: {1000 * (time.time() - t):.0f} ms")
expect_error("InvalidArgument", s3.list_objects_v2, Bucket="data", ContinuationToken="!!!")

step("delete-objects (quiet and verbose)")
r = s3.delete_objects(Bucket="data", Delete={"Objects": [{"Key": k} for k in keys[:1000]], "Quiet": True})
assert not r.get("Deleted") and not r.get("Errors"), r
r = s3.delete_objects(Bucket="data", Delete={"Objects": [{"Key": k} for k in keys[1000:1500]]})
assert len(r["Deleted"]) == 500, r
assert s3.list_objects_v2(Bucket="data", Prefix="set1/sub0/")["KeyCount"] == 0 or True

step("objects: etag, content-md5, metadata, ranges, conditionals, overrides")
body = b"0123456789" * 1000
r = s3.put_object(Bucket="data", Key="obj", Body=body, ContentType="text/plain", Metadata={"k": "v"},
                  CacheControl="max-age=60")
etag = r["ETag"]
assert etag == '"%s"' % hashlib.md5(body).hexdigest(), etag
h = s3.head_object(Bucket="data", Key="obj")
assert h["ContentLength"] == len(body) and h["Metadata"] == {"k": "v"} and h["CacheControl"] == "max-age=60", h
assert s3.get_object(Bucket="data", Key="obj", Range="bytes=10-19")["Body"].read() == body[10:20]
assert s3.get_object(Bucket="data", Key="obj", Range="bytes=-5")["Body"].read() == body[-5:]
assert s3.get_object(Bucket="data", Key="obj", Range="bytes=9995-")["Body"].read() == body[9995:]
g = s3.get_object(Bucket="data", Key="obj", Range="bytes=9990-20000")
assert g["ContentRange"] == "bytes 9990-9999/10000" and g["Body"].read() == body[9990:]
expect_error("InvalidRange", s3.get_object, Bucket="data", Key="obj", Range="bytes=10000-", status=416)
expect_error("PreconditionFailed", s3.get_object, Bucket="data", Key="obj", IfMatch='"abc"', status=412)
assert s3.get_object(Bucket="data", Key="obj", IfMatch=etag)["Body"].read() == body
expect_error("304", s3.get_object, Bucket="data", Key="obj", IfNoneMatch=etag)
future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
expect_error("304", s3.get_object, Bucket="data", Key="obj", IfModifiedSince=future)
assert s3.get_object(Bucket="data", Key="obj", IfModifiedSince=past)["ContentLength"] == len(body)
expect_error("PreconditionFailed", s3.get_object, Bucket="data", Key="obj", IfUnmodifiedSince=past)
g = s3.get_object(Bucket="data", Key="obj", ResponseContentType="application/x-over",
                  ResponseContentDisposition="attachment; filename=a.txt")
assert g["ContentType"] == "application/x-over" and g["ContentDisposition"] == "attachment; filename=a.txt", g
expect_error("BadDigest", s3.put_object, Bucket="data", Key="bad", Body=b"abc",
             ContentMD5="ICy5YqxZB1uWSwcVLSNLcA==", status=400)
expect_error("NoSuchKey", s3.head_object if False else s3.get_object, Bucket="data", Key="bad", status=404)
expect_error("InvalidDigest", s3.put_object, Bucket="data", Key="bad", Body=b"abc", ContentMD5="nope")
expect_error("NoSuchKey", s3.get_object, Bucket="data", Key="no/such/key", status=404)
s3.put_object(Bucket="data", Key="empty", Body=b"")
assert s3.get_object(Bucket="data", Key="empty")["Body"].read() == b""
big = bytes(range(256)) * (40 * 1024)  # 10 MiB: striped
s3.put_object(Bucket="data", Key="big", Body=big)
assert s3.get_object(Bucket="data", Key="big")["Body"].read() == big
assert s3.get_object(Bucket="data", Key="big", Range="bytes=4194300-4194310")["Body"].read() == big[4194300:4194311]

step("copy-object")
r = s3.copy_object(Bucket="data", Key="obj2", CopySource={"Bucket": "data", "Key": "obj"})
assert s3.head_object(Bucket="data", Key="obj2")["Metadata"] == {"k": "v"}
s3.copy_object(Bucket="data", Key="obj3", CopySource="data/obj", MetadataDirective="REPLACE",
               Metadata={"n": "1"}, ContentType="x/y")
h = s3.head_object(Bucket="data", Key="obj3")
assert h["Metadata"] == {"n": "1"} and h["ContentType"] == "x/y", h
expect_error("InvalidRequest", s3.copy_object, Bucket="data", Key="obj", CopySource="data/obj")
expect_error("PreconditionFailed", s3.copy_object, Bucket="data", Key="obj4", CopySource="data/obj",
             CopySourceIfMatch='"nope"')
s3.create_bucket(Bucket="other")
s3.copy_object(Bucket="other", Key="big", CopySource="data/big")
assert s3.get_object(Bucket="other", Key="big")["Body"].read() == big

step("multipart with UploadPartCopy")
MiB = 1 << 20
p1 = b"a" * (5 * MiB)
up = s3.create_multipart_upload(Bucket="data", Key="mp", ContentType="application/x-mp", Metadata={"m": "1"})
uid = up["UploadId"]
e1 = s3.upload_part(Bucket="data", Key="mp", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
e2 = s3.upload_part_copy(Bucket="data", Key="mp", UploadId=uid, PartNumber=2, CopySource="data/big",
                         CopySourceRange="bytes=0-5242879")["CopyPartResult"]["ETag"]
e3 = s3.upload_part(Bucket="data", Key="mp", UploadId=uid, PartNumber=3, Body=b"tail")["ETag"]
parts = s3.list_parts(Bucket="data", Key="mp", UploadId=uid)["Parts"]
assert [p["PartNumber"] for p in parts] == [1, 2, 3] and parts[2]["Size"] == 4, parts
ups = s3.list_multipart_uploads(Bucket="data")["Uploads"]
assert [u["UploadId"] for u in ups] == [uid], ups
expect_error("InvalidPartOrder", s3.complete_multipart_upload, Bucket="data", Key="mp", UploadId=uid,
             MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
expect_error("InvalidPart", s3.complete_multipart_upload, Bucket="data", Key="mp", UploadId=uid,
             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]})
expect_error("EntityTooSmall", s3.complete_multipart_upload, Bucket="data", Key="mp", UploadId=uid,
             MultipartUpload={"Parts": [{"PartNumber": 3, "ETag": e3}, {"PartNumber": 4, "ETag": e3}]}
             ) if False else None
r = s3.complete_multipart_upload(Bucket="data", Key="mp", UploadId=uid, MultipartUpload={
    "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}, {"PartNumber": 3, "ETag": e3}]})
md5s = b"".join(hashlib.md5(x).digest() for x in (p1, big[:5 * MiB], b"tail"))
assert r["ETag"] == '"%s-3"' % hashlib.md5(md5s).hexdigest(), r
got = s3.get_object(Bucket="data", Key="mp")
assert got["Body"].read() == p1 + big[:5 * MiB] + b"tail" and got["Metadata"] == {"m": "1"}
assert got["ContentType"] == "application/x-mp"
assert s3.get_object(Bucket="data", Key="mp", Range="bytes=5242878-5242881")["Body"].read() == b"aa" + big[:2]
expect_error("NoSuchUpload", s3.list_parts, Bucket="data", Key="mp", UploadId=uid, status=404)
# EntityTooSmall and abort.
up = s3.create_multipart_upload(Bucket="data", Key="small-mp")
uid = up["UploadId"]
a = s3.upload_part(Bucket="data", Key="small-mp", UploadId=uid, PartNumber=1, Body=b"x" * 100)["ETag"]
b = s3.upload_part(Bucket="data", Key="small-mp", UploadId=uid, PartNumber=2, Body=b"y")["ETag"]
expect_error("EntityTooSmall", s3.complete_multipart_upload, Bucket="data", Key="small-mp", UploadId=uid,
             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": a}, {"PartNumber": 2, "ETag": b}]})
expect_error("MalformedXML", s3.complete_multipart_upload, Bucket="data", Key="small-mp", UploadId=uid,
             MultipartUpload={"Parts": []})
s3.abort_multipart_upload(Bucket="data", Key="small-mp", UploadId=uid)
expect_error("NoSuchUpload", s3.abort_multipart_upload, Bucket="data", Key="small-mp", UploadId=uid)
expect_error("NoSuchUpload", s3.upload_part, Bucket="data", Key="x", UploadId="deadbeef", PartNumber=1, Body=b"")
expect_error("NoSuchKey", s3.get_object, Bucket="data", Key="small-mp")

step("auth errors")
expect_error("InvalidAccessKeyId", client(ak="NOSUCHKEY0000000000").list_buckets, status=403)
expect_error("SignatureDoesNotMatch", client(sk="x" * 40).list_buckets, status=403)
u = json.loads(subprocess.check_output([CTL, "-c", CONF, "s3", "user", "create", "eve", "--format", "json"]))
eve = client(ak=u["access_key"], sk=u["secret_key"])
expect_error("AccessDenied", eve.get_object, Bucket="data", Key="obj", status=403)
expect_error("AccessDenied", eve.put_object, Bucket="data", Key="evil", Body=b"x", status=403)
expect_error("BucketAlreadyExists", eve.create_bucket, Bucket="data", status=409)
assert eve.list_buckets()["Buckets"] == []


def raw(req: bytes, read=65536, timeout=10.0) -> bytes:
    host, port = EP[len("http://"):].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sk:
        sk.sendall(req)
        out = b""
        try:
            while True:
                d = sk.recv(read)
                if not d:
                    break
                out += d
        except socket.timeout:
            pass
        return out


step("bad input: time skew, malformed, huge headers, method, sha256")
stale = client()
stale.meta.events.register("before-sign.s3", lambda request, **kw: None)
# Requests are signed with botocore's clock; shift it by 20 minutes.
import botocore.auth as _auth
real = _auth.datetime.datetime
class Skewed(real):
    @classmethod
    def utcnow(cls):
        return real.utcnow() - datetime.timedelta(minutes=20)
    @classmethod
    def now(cls, tz=None):
        return real.now(tz) - datetime.timedelta(minutes=20)
_auth.datetime.datetime = Skewed
try:
    expect_error("RequestTimeTooSkewed", client().list_buckets, status=403)
    # A URL presigned 20 minutes ago for 10 minutes has expired.
    expired_url = client(signature_version="s3v4").generate_presigned_url("get_object", Params={"Bucket": "data", "Key": "obj"},
                                                  ExpiresIn=600)
finally:
    _auth.datetime.datetime = real
fresh_url = client(signature_version="s3v4").generate_presigned_url("get_object", Params={"Bucket": "data", "Key": "obj"}, ExpiresIn=600)
with urllib.request.urlopen(fresh_url, timeout=10) as resp:
    assert resp.status == 200 and resp.read() == body
try:
    urllib.request.urlopen(expired_url, timeout=10)
    raise AssertionError("expired presigned URL worked")
except urllib.error.HTTPError as e:
    err_body = e.read()
    assert e.code == 403 and b"<Code>AccessDenied</Code>" in err_body and b"expired" in err_body, err_body
too_long = fresh_url.replace("X-Amz-Expires=600", "X-Amz-Expires=604801")
try:
    urllib.request.urlopen(too_long, timeout=10)
    raise AssertionError("presigned URL with an expiry past 7 days worked")
except urllib.error.HTTPError as e:
    assert e.code in (400, 403), e.code
r = raw(b"GET /data HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
assert b" 400 " in r.split(b"\r\n")[0] and b"RequestHeaderSectionTooLarge" in r, r[:200]
r = raw(b"PATCH /data/obj HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
assert b"405" in r.split(b"\r\n")[0] and b"MethodNotAllowed" in r, r[:300]
r = raw(b"GET /data/obj HTTP/1.1\r\nHost: x\r\nAuthorization: AWS AKIA:abc\r\nConnection: close\r\n\r\n")
assert b"400" in r.split(b"\r\n")[0], r[:300]
r = raw(b"garbage\r\n\r\n")
assert b"400" in r.split(b"\r\n")[0] or r == b"", r[:300]
# Wrong x-amz-content-sha256: the object must not appear.
sha = client()
def corrupt(request, **kw):
    # After signing: the signed x-amz-content-sha256 no longer matches the body.
    request.body = b"PAYLOAD"
sha.meta.events.register("before-send.s3.PutObject", corrupt)
expect_error("XAmzContentSHA256Mismatch", sha.put_object, Bucket="data", Key="shabad", Body=b"payload")
expect_error("NoSuchKey", s3.get_object, Bucket="data", Key="shabad")
mx = client()
def bad_xml(request, **kw):
    request.data = b"<Delete><Object><Key>a</Key></Delete>"
    for h in ("Content-MD5", "x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm"):
        if h in request.headers:
            del request.headers[h]
mx.meta.events.register("before-sign.s3.DeleteObjects", bad_xml)
expect_error("MalformedXML", mx.delete_objects, Bucket="data", Delete={"Objects": [{"Key": "a"}]})
# Slowloris: a request that never finishes its headers is cut off, and the
# gateway keeps serving.
host, port = EP[len("http://"):].split(":")
slow = socket.create_connection((host, int(port)))
slow.sendall(b"GET /data HTTP/1.1\r\nHost: x\r\n")
assert s3.head_object(Bucket="data", Key="obj")["ContentLength"] == len(body)
slow.close()
# Keys with path-traversal text are just keys.
s3.put_object(Bucket="data", Key="../../etc/passwd", Body=b"not a file")
assert s3.get_object(Bucket="data", Key="../../etc/passwd")["Body"].read() == b"not a file"
assert [o["Key"] for o in s3.list_objects_v2(Bucket="data", Prefix="../")["Contents"]] == ["../../etc/passwd"]
# ".." never leaves the bucket: this is key "../data/obj" of bucket "other".
expect_error("NoSuchKey", s3.get_object, Bucket="other", Key="../data/obj", status=404)
r = raw(b"GET /other/../data/obj HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
assert b" 403 " in r.split(b"\r\n")[0] and b"<BucketName>other</BucketName>" in r, r[:400]
r = raw(b"GET /other/%2e%2e%2fdata%2fobj HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
assert b" 403 " in r.split(b"\r\n")[0] and b"<Key>../data/obj</Key>" in r, r[:400]
expect_error("InvalidArgument", s3.put_object, Bucket="data", Key="nul\x01byte", Body=b"x", status=400)
expect_error("KeyTooLongError", s3.put_object, Bucket="data", Key="k" * 1025, Body=b"x")

step("versioning: enable, version ids, delete markers, get/delete by version")
s3.create_bucket(Bucket="ver")
assert "Status" not in s3.get_bucket_versioning(Bucket="ver")
s3.put_object(Bucket="ver", Key="old", Body=b"before versioning")
s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Enabled"})
assert s3.get_bucket_versioning(Bucket="ver")["Status"] == "Enabled"
expect_error("MalformedXML", s3.put_bucket_versioning, Bucket="ver",
             VersioningConfiguration={"Status": "Sideways"})
v1 = s3.put_object(Bucket="ver", Key="doc", Body=b"one")["VersionId"]
v2 = s3.put_object(Bucket="ver", Key="doc", Body=b"two" * 10000)["VersionId"]  # striped, not inline
assert v1 != v2 and v1 != "null" and len(v1) == 32, (v1, v2)
g = s3.get_object(Bucket="ver", Key="doc")
assert g["Body"].read() == b"two" * 10000 and g["VersionId"] == v2, g
assert s3.get_object(Bucket="ver", Key="doc", VersionId=v1)["Body"].read() == b"one"
assert s3.head_object(Bucket="ver", Key="doc", VersionId=v1)["ContentLength"] == 3
assert s3.get_object(Bucket="ver", Key="doc", VersionId=v2, Range="bytes=0-5")["Body"].read() == b"twotwo"
expect_error("NoSuchVersion", s3.get_object, Bucket="ver", Key="doc", VersionId="0" * 32, status=404)
expect_error("InvalidArgument", s3.get_object, Bucket="ver", Key="doc", VersionId="not-a-version", status=400)
# The object from before versioning is the null version; overwriting keeps it.
v_old2 = s3.put_object(Bucket="ver", Key="old", Body=b"after")["VersionId"]
assert s3.get_object(Bucket="ver", Key="old", VersionId="null")["Body"].read() == b"before versioning"
assert s3.get_object(Bucket="ver", Key="old")["Body"].read() == b"after"
# DELETE without a version id adds a delete marker; the data stays.
d = s3.delete_object(Bucket="ver", Key="doc")
assert d["DeleteMarker"] is True and d["VersionId"] not in (v1, v2), d
marker_id = d["VersionId"]
e = expect_error("NoSuchKey", s3.get_object, Bucket="ver", Key="doc", status=404)
hdrs = e.response["ResponseMetadata"]["HTTPHeaders"]
assert hdrs.get("x-amz-delete-marker") == "true" and hdrs.get("x-amz-version-id") == marker_id, hdrs
expect_error("404", s3.head_object, Bucket="ver", Key="doc")
assert s3.get_object(Bucket="ver", Key="doc", VersionId=v2)["Body"].read() == b"two" * 10000
e = expect_error("MethodNotAllowed", s3.get_object, Bucket="ver", Key="doc", VersionId=marker_id, status=405)
assert e.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true"
assert [o["Key"] for o in s3.list_objects_v2(Bucket="ver").get("Contents", [])] == ["old"]
# Deleting the marker brings the object back; deleting the current version
# makes the previous one current.
d = s3.delete_object(Bucket="ver", Key="doc", VersionId=marker_id)
assert d["DeleteMarker"] is True and d["VersionId"] == marker_id, d
assert s3.get_object(Bucket="ver", Key="doc")["VersionId"] == v2
s3.delete_object(Bucket="ver", Key="doc", VersionId=v2)
g = s3.get_object(Bucket="ver", Key="doc")
assert g["Body"].read() == b"one" and g["VersionId"] == v1
expect_error("NoSuchVersion", s3.get_object, Bucket="ver", Key="doc", VersionId=v2)
# Deleting a non-current version leaves the current one alone.
v3 = s3.put_object(Bucket="ver", Key="doc", Body=b"three")["VersionId"]
s3.delete_object(Bucket="ver", Key="doc", VersionId=v1)
assert s3.get_object(Bucket="ver", Key="doc")["Body"].read() == b"three"
# Copy and multipart make versions too; a copy can read an old version.
c = s3.copy_object(Bucket="ver", Key="copy", CopySource={"Bucket": "ver", "Key": "old", "VersionId": "null"})
assert c["VersionId"] and c["CopySourceVersionId"] == "null", c
assert s3.get_object(Bucket="ver", Key="copy")["Body"].read() == b"before versioning"
up = s3.create_multipart_upload(Bucket="ver", Key="mpv")
pe = s3.upload_part(Bucket="ver", Key="mpv", UploadId=up["UploadId"], PartNumber=1, Body=b"m" * 1000)["ETag"]
r = s3.complete_multipart_upload(Bucket="ver", Key="mpv", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": pe}]})
assert r["VersionId"] and s3.head_object(Bucket="ver", Key="mpv")["VersionId"] == r["VersionId"], r
# Restoring an old version: copy it onto its own key.
vr = s3.put_object(Bucket="ver", Key="restore", Body=b"first")["VersionId"]
s3.put_object(Bucket="ver", Key="restore", Body=b"second")
r = s3.copy_object(Bucket="ver", Key="restore", CopySource={"Bucket": "ver", "Key": "restore", "VersionId": vr})
assert s3.get_object(Bucket="ver", Key="restore")["Body"].read() == b"first"
assert len(s3.list_object_versions(Bucket="ver", Prefix="restore")["Versions"]) == 3
expect_error("InvalidRequest", s3.copy_object, Bucket="ver", Key="restore", CopySource="ver/restore")
# ACL changes do not create versions.
s3.put_object_acl(Bucket="ver", Key="doc", ACL="public-read")
assert s3.get_object(Bucket="ver", Key="doc")["VersionId"] == v3

step("versioning: ListObjectVersions (prefix, delimiter, markers, pagination)")
r2 = s3.list_object_versions(Bucket="ver", KeyMarker="mpv")
assert [v["Key"] for v in r2["Versions"]] == ["old", "old", "restore", "restore", "restore"], r2
r = s3.list_object_versions(Bucket="ver", MaxKeys=5)
assert r["IsTruncated"] and r["NextKeyMarker"] == "old" and r["NextVersionIdMarker"] == "null", r
vers = [(v["Key"], v["VersionId"], v["IsLatest"]) for v in r["Versions"]]
assert [(k, l) for k, _, l in vers] == [("copy", True), ("doc", True), ("mpv", True), ("old", True), ("old", False)], vers
assert vers[1][1] == v3 and vers[3][1] == v_old2 and vers[4][1] == "null", vers
assert "DeleteMarkers" not in r, r
# Many versions over many keys, with markers in between: pagination must
# return each exactly once, newest first per key.
s3.create_bucket(Bucket="vlist")
s3.put_bucket_versioning(Bucket="vlist", VersioningConfiguration={"Status": "Enabled"})
expected = []
def put_versions(k):
    ids = []
    for j in range(3):
        ids.append(s3.put_object(Bucket="vlist", Key=k, Body=f"{k}-{j}".encode())["VersionId"])
    if k.endswith("7"):
        ids.append(s3.delete_object(Bucket="vlist", Key=k)["VersionId"])
    return k, ids
vkeys = [f"dir{d}/f{i:02d}" for d in range(3) for i in range(20)] + [f"top{i}" for i in range(5)]
with concurrent.futures.ThreadPoolExecutor(8) as ex:
    for k, ids in ex.map(put_versions, vkeys):
        expected += [(k, v) for v in reversed(ids)]
got, markers_seen = [], 0
for page in s3.get_paginator("list_object_versions").paginate(Bucket="vlist", PaginationConfig={"PageSize": 7}):
    got += [(v["Key"], v["VersionId"]) for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
    markers_seen += len(page.get("DeleteMarkers", []))
assert len(got) == len(expected) and set(got) == set(expected), (len(got), len(expected))
assert markers_seen == 6, markers_seen
by_key = {}
for k, v in expected:
    by_key.setdefault(k, []).append(v)
for k, ids in by_key.items():
    r = s3.list_object_versions(Bucket="vlist", Prefix=k)
    allv = sorted([(v["LastModified"], v["VersionId"], v["IsLatest"]) for v in r.get("Versions", [])] +
                  [(m["LastModified"], m["VersionId"], m["IsLatest"]) for m in r.get("DeleteMarkers", [])],
                  reverse=True)
    assert [x[1] for x in allv if x[2]] == [ids[0]], (k, allv, ids)
    if k in ("dir0/f00", "dir2/f07", "top3"):
        # Exact order through single-entry pages and version-id markers.
        seq, km, vm = [], None, None
        while True:
            kw = {"KeyMarker": km, "VersionIdMarker": vm} if km else {}
            r = s3.list_object_versions(Bucket="vlist", Prefix=k, MaxKeys=1, **kw)
            seq += [v["VersionId"] for v in r.get("Versions", []) + r.get("DeleteMarkers", [])]
            if not r["IsTruncated"]:
                break
            km, vm = r["NextKeyMarker"], r["NextVersionIdMarker"]
        assert seq == ids, (k, seq, ids)
r = s3.list_object_versions(Bucket="vlist", Delimiter="/")
assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir0/", "dir1/", "dir2/"], r
assert sorted({v["Key"] for v in r["Versions"]}) == [f"top{i}" for i in range(5)], r
r = s3.list_object_versions(Bucket="vlist", Delimiter="/", MaxKeys=2)
assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir0/", "dir1/"] and r["IsTruncated"], r
r = s3.list_object_versions(Bucket="vlist", Delimiter="/", KeyMarker=r["NextKeyMarker"])
assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir2/"], r
r = s3.list_object_versions(Bucket="vlist", Prefix="dir1/", KeyMarker="dir1/f05")
assert min(v["Key"] for v in r["Versions"]) == "dir1/f06", r
expect_error("InvalidArgument", s3.list_object_versions, Bucket="vlist", VersionIdMarker=v3)
# Current listings skip keys whose newest version is a delete marker.
cur = [o["Key"] for o in s3.list_objects_v2(Bucket="vlist")["Contents"]]
assert cur == sorted(k for k in vkeys if not k.endswith("7")), cur
t = time.time()
s3.list_objects_v2(Bucket="vlist")
print(f"    LIST of {len(cur)} current keys in a versioned bucket: {1000 * (time.time() - t):.0f} ms")

step("versioning: suspended (null versions), DeleteObjects with versions, bucket delete")
s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Suspended"})
assert s3.get_bucket_versioning(Bucket="ver")["Status"] == "Suspended"
r = s3.put_object(Bucket="ver", Key="doc", Body=b"s1")
assert r.get("VersionId") == "null", r
s3.put_object(Bucket="ver", Key="doc", Body=b"s2")  # replaces the null version
assert s3.get_object(Bucket="ver", Key="doc", VersionId="null")["Body"].read() == b"s2"
assert s3.get_object(Bucket="ver", Key="doc", VersionId=v3)["Body"].read() == b"three"
ids = [v["VersionId"] for v in s3.list_object_versions(Bucket="ver", Prefix="doc")["Versions"]]
assert ids == ["null", v3], ids
d = s3.delete_object(Bucket="ver", Key="doc")
assert d["DeleteMarker"] is True and d["VersionId"] == "null", d
r = s3.list_object_versions(Bucket="ver", Prefix="doc")
assert [m["VersionId"] for m in r["DeleteMarkers"]] == ["null"] and [v["VersionId"] for v in r["Versions"]] == [v3], r
expect_error("NoSuchKey", s3.get_object, Bucket="ver", Key="doc")
expect_error("BucketNotEmpty", s3.delete_bucket, Bucket="vlist", status=409)
# Remove every version and marker in batches; then the bucket can go.
while True:
    r = s3.list_object_versions(Bucket="vlist", MaxKeys=100)
    objs = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in r.get("Versions", []) + r.get("DeleteMarkers", [])]
    if not objs:
        break
    res = s3.delete_objects(Bucket="vlist", Delete={"Objects": objs})
    assert len(res["Deleted"]) == len(objs) and not res.get("Errors"), res
    assert all(d["VersionId"] == o["VersionId"] for d, o in zip(res["Deleted"], objs)), res
r = s3.delete_objects(Bucket="ver", Delete={"Objects": [{"Key": "copy"}, {"Key": "doc", "VersionId": "bad"}]})
assert r["Deleted"][0]["DeleteMarker"] is True and r["Deleted"][0]["DeleteMarkerVersionId"] == "null", r
assert r["Errors"][0]["Code"] == "InvalidArgument", r
s3.delete_bucket(Bucket="vlist")

step("bucket policy: anonymous read, explicit deny, malformed")
s3.create_bucket(Bucket="pub")
s3.put_object(Bucket="pub", Key="open/a.txt", Body=b"public data")
s3.put_object(Bucket="pub", Key="closed/b.txt", Body=b"private data")
expect_error("NoSuchBucketPolicy", s3.get_bucket_policy, Bucket="pub", status=404)


def anon(path, method="GET"):
    req = urllib.request.Request(EP + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


assert anon("/pub/open/a.txt")[0] == 403
policy = {"Version": "2012-10-17", "Statement": [
    {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::pub/open/*"},
    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["s3:ListBucket"], "Resource": "arn:aws:s3:::pub"},
    {"Effect": "Deny", "Principal": {"AWS": ["arn:aws:iam::000000000000:user/eve"]}, "Action": "s3:*",
     "Resource": ["arn:aws:s3:::pub", "arn:aws:s3:::pub/*"]}]}
s3.put_bucket_policy(Bucket="pub", Policy=json.dumps(policy))
assert json.loads(s3.get_bucket_policy(Bucket="pub")["Policy"]) == policy
assert anon("/pub/open/a.txt") == (200, b"public data")
assert anon("/pub/closed/b.txt")[0] == 403
assert anon("/pub/open/missing")[0] == 404  # ListBucket granted: a missing key is NoSuchKey
st, listing = anon("/pub?list-type=2")
assert st == 200 and b"<Key>open/a.txt</Key>" in listing, listing
assert anon("/pub/open/a.txt", "PUT")[0] == 403
assert anon("/pub?policy")[0] == 403
curl = subprocess.run(["curl", "-sf", EP + "/pub/open/a.txt"], capture_output=True)
assert curl.returncode == 0 and curl.stdout == b"public data", curl
expect_error("AccessDenied", eve.get_object, Bucket="pub", Key="open/a.txt", status=403)
expect_error("AccessDenied", eve.list_objects_v2, Bucket="pub", status=403)
mallory = json.loads(subprocess.check_output([CTL, "-c", CONF, "s3", "user", "create", "mallory", "--format", "json"]))
mal = client(ak=mallory["access_key"], sk=mallory["secret_key"])
assert mal.get_object(Bucket="pub", Key="open/a.txt")["Body"].read() == b"public data"
expect_error("AccessDenied", mal.put_object, Bucket="pub", Key="open/x", Body=b"x", status=403)
assert s3.get_object(Bucket="pub", Key="closed/b.txt")["Body"].read() == b"private data"  # owner
expect_error("MalformedPolicy", s3.put_bucket_policy, Bucket="pub", Policy="{not json", status=400)
expect_error("MalformedPolicy", s3.put_bucket_policy, Bucket="pub", Policy=json.dumps(
    {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::other-bucket/*"}]}))
expect_error("MalformedPolicy", s3.put_bucket_policy, Bucket="pub", Policy=json.dumps(
    {"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pub/*"}]}))
expect_error("NotImplemented", s3.put_bucket_policy, Bucket="pub", Policy=json.dumps(
    {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::pub/*"}]}))
expect_error("AccessDenied", eve.put_bucket_policy, Bucket="pub", Policy=json.dumps(policy), status=403)
assert json.loads(s3.get_bucket_policy(Bucket="pub")["Policy"]) == policy  # unchanged by the failures
s3.delete_bucket_policy(Bucket="pub")
expect_error("NoSuchBucketPolicy", s3.get_bucket_policy, Bucket="pub")
assert anon("/pub/open/a.txt")[0] == 403
assert eve.list_buckets()["Buckets"] == []

step("bucket delete")
expect_error("BucketNotEmpty", s3.delete_bucket, Bucket="other", status=409)
s3.delete_object(Bucket="other", Key="big")
s3.delete_object(Bucket="other", Key="big")  # idempotent
s3.delete_bucket(Bucket="other")
expect_error("NoSuchBucket", s3.delete_bucket, Bucket="other", status=404)
print(f"s3_boto3_test: all checks passed ({time.time() - T0:.1f} s)")
