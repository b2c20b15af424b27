#!/usr/bin/env python3
"""Two gateways, one cluster (run by s3_two_gateways_test.sh).

A is the gateway `cairn up` started; B is a second cairn-s3 this script
starts on another loopback port with short header/body deadlines. Gateways
are stateless, so every write through one is visible through the other at
once; B also shows that partial requests are cut off by its deadlines.
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import botocore
from botocore.config import Config

DIR, BIN = sys.argv[1], sys.argv[2]
cluster = json.load(open(os.path.join(DIR, "cluster.json")))
S3 = cluster["s3"]
T0 = time.time()


def step(msg):
    print(f"--- {msg} ({time.time() - T0:.1f} s)", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(ep):
    return boto3.client("s3", endpoint_url=ep, aws_access_key_id=S3["access_key"],
                        aws_secret_access_key=S3["secret_key"], region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}))


def expect_error(code, fn, **kw):
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e.response}"
        return e
    raise AssertionError(f"expected {code}, call succeeded")


step("start gateway B")
port_b, http_b = free_port(), free_port()
log_b = open(os.path.join(DIR, "s3-b.log"), "w")
gw_b = subprocess.Popen([os.path.join(BIN, "cairn-s3"), "--id", "1", "--addr", f"127.0.0.1:{port_b}",
                         "--http", f"127.0.0.1:{http_b}", "--conf", os.path.join(DIR, "cairn.conf"),
                         "--header-timeout-ms", "1500", "--io-timeout-ms", "1500"],
                        stdout=log_b, stderr=subprocess.STDOUT)
try:
    for _ in range(300):
        assert gw_b.poll() is None, f"gateway B exited with {gw_b.returncode}, see {DIR}/s3-b.log"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_b}/healthz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        time.sleep(0.1)
    else:
        raise AssertionError("gateway B never became healthy")
    EP_A, EP_B = S3["endpoint"], f"http://127.0.0.1:{port_b}"
    assert EP_A != EP_B
    a, b = client(EP_A), client(EP_B)

    step("buckets and objects: write on one, read on the other at once")
    a.create_bucket(Bucket="shared")
    assert "shared" in [x["Name"] for x in b.list_buckets()["Buckets"]]
    expect_error("BucketAlreadyOwnedByYou", b.create_bucket, Bucket="shared")
    for i in range(50):
        body = f"object {i}".encode() * (1 + i * 500)  # inline and striped sizes
        a.put_object(Bucket="shared", Key=f"k/{i:03d}", Body=body)
        assert b.get_object(Bucket="shared", Key=f"k/{i:03d}")["Body"].read() == body, i
    keys = [o["Key"] for o in b.list_objects_v2(Bucket="shared")["Contents"]]
    assert keys == [f"k/{i:03d}" for i in range(50)], keys
    a.put_object(Bucket="shared", Key="k/000", Body=b"overwritten on A")
    assert b.get_object(Bucket="shared", Key="k/000")["Body"].read() == b"overwritten on A"
    b.delete_object(Bucket="shared", Key="k/001")
    expect_error("NoSuchKey", a.get_object, Bucket="shared", Key="k/001")
    assert "k/001" not in [o["Key"] for o in a.list_objects_v2(Bucket="shared")["Contents"]]
    r = b.delete_objects(Bucket="shared", Delete={"Objects": [{"Key": f"k/{i:03d}"} for i in range(2, 10)]})
    assert len(r["Deleted"]) == 8, r
    assert a.list_objects_v2(Bucket="shared", Prefix="k/00")["KeyCount"] == 1  # k/000

    step("multipart: started on A, parts on both, completed on B")
    MiB = 1 << 20
    up = a.create_multipart_upload(Bucket="shared", Key="mp")
    uid = up["UploadId"]
    assert [u["UploadId"] for u in b.list_multipart_uploads(Bucket="shared")["Uploads"]] == [uid]
    p1, p2 = b"1" * (5 * MiB), b"2" * 1000
    e1 = a.upload_part(Bucket="shared", Key="mp", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = b.upload_part(Bucket="shared", Key="mp", UploadId=uid, PartNumber=2, Body=p2)["ETag"]
    assert [p["PartNumber"] for p in a.list_parts(Bucket="shared", Key="mp", UploadId=uid)["Parts"]] == [1, 2]
    b.complete_multipart_upload(Bucket="shared", Key="mp", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert a.get_object(Bucket="shared", Key="mp")["Body"].read() == p1 + p2
    expect_error("NoSuchUpload", a.list_parts, Bucket="shared", Key="mp", UploadId=uid)
    up = b.create_multipart_upload(Bucket="shared", Key="mp2")
    a.abort_multipart_upload(Bucket="shared", Key="mp2", UploadId=up["UploadId"])
    expect_error("NoSuchUpload", b.upload_part, Bucket="shared", Key="mp2", UploadId=up["UploadId"],
                 PartNumber=1, Body=b"x")

    step("versioning and policy set on one gateway apply on the other")
    a.put_bucket_versioning(Bucket="shared", VersioningConfiguration={"Status": "Enabled"})
    assert b.get_bucket_versioning(Bucket="shared")["Status"] == "Enabled"
    v1 = b.put_object(Bucket="shared", Key="v", Body=b"v1")["VersionId"]
    d = a.delete_object(Bucket="shared", Key="v")
    e = expect_error("NoSuchKey", b.get_object, Bucket="shared", Key="v")
    assert e.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true"
    assert b.get_object(Bucket="shared", Key="v", VersionId=v1)["Body"].read() == b"v1"
    vs = a.list_object_versions(Bucket="shared", Prefix="v")
    assert [m["VersionId"] for m in vs["DeleteMarkers"]] == [d["VersionId"]], vs
    policy = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                             "Resource": "arn:aws:s3:::shared/k/*"}]}
    b.put_bucket_policy(Bucket="shared", Policy=json.dumps(policy))
    with urllib.request.urlopen(f"{EP_A}/shared/k/010", timeout=10) as r:
        assert r.read() == b"object 10" * 5001

    step("concurrent writers of one key on both gateways: no version lost or duplicated")
    import concurrent.futures
    def writer(args):
        gw, t = args
        ids = []
        for j in range(5):
            body = f"{gw}-{t}-{j}".encode() * (1 if j % 2 else 5000)  # inline and striped
            ids.append((gw.put_object(Bucket="shared", Key="hot", Body=body)["VersionId"], body))
        return ids
    jobs = [(gw, t) for gw in (a, b) for t in range(6)]
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as ex:
        written = [x for ids in ex.map(writer, jobs) for x in ids]
    listed = [v["VersionId"] for v in a.list_object_versions(Bucket="shared", Prefix="hot")["Versions"]]
    assert sorted(listed) == sorted(v for v, _ in written) and len(set(listed)) == 60, (len(listed), len(written))
    bodies = dict(written)
    for vid in listed[:: 7]:
        assert b.get_object(Bucket="shared", Key="hot", VersionId=vid)["Body"].read() == bodies[vid]
    cur = a.get_object(Bucket="shared", Key="hot")
    assert cur["VersionId"] == listed[0] and cur["Body"].read() == bodies[listed[0]], cur
    # Suspended: concurrent writers leave exactly one null version, readable.
    a.put_bucket_versioning(Bucket="shared", VersioningConfiguration={"Status": "Suspended"})
    def null_writer(args):
        gw, t = args
        for j in range(4):
            gw.put_object(Bucket="shared", Key="hot", Body=f"null-{t}-{j}".encode() * (1 if j % 2 else 5000))
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as ex:
        list(ex.map(null_writer, jobs))
    vs = b.list_object_versions(Bucket="shared", Prefix="hot")["Versions"]
    assert [v["VersionId"] for v in vs].count("null") == 1 and len(vs) == 61, len(vs)
    assert vs[0]["VersionId"] == "null" and vs[0]["IsLatest"], vs[0]
    got = a.get_object(Bucket="shared", Key="hot", VersionId="null")["Body"].read()
    assert got.startswith(b"null-") and len(got) == vs[0]["Size"], (got[:20], vs[0])
    a.put_bucket_versioning(Bucket="shared", VersioningConfiguration={"Status": "Enabled"})

    step("slowloris: partial requests are cut off by B's deadlines, nothing half-written shows")
    def dead_connection(payload):
        # The gateway must end the connection on its own; we wait far
        # longer than its 1.5 s deadlines so this never depends on timing.
        with socket.create_connection(("127.0.0.1", port_b), timeout=60) as s:
            s.sendall(payload)
            out = b""
            while True:
                chunk = s.recv(65536)  # socket.timeout here fails the test
                if not chunk:
                    return out
                out += chunk
    # Headers that never end.
    out = dead_connection(b"GET /shared/k/000 HTTP/1.1\r\nHost: x\r\nX-Slow: a")
    assert out == b"", out[:200]
    # A body that stops short: the upload is refused and never becomes visible.
    creds = botocore.credentials.Credentials(S3["access_key"], S3["secret_key"])
    req = botocore.awsrequest.AWSRequest(method="PUT", url=f"{EP_B}/shared/slow-body",
                                         data=b"x" * 1000,
                                         headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    botocore.auth.S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    head = f"PUT /shared/slow-body HTTP/1.1\r\nHost: 127.0.0.1:{port_b}\r\nContent-Length: 1000\r\n"
    for k, v in req.headers.items():
        if k.lower() not in ("host", "content-length"):
            head += f"{k}: {v}\r\n"
    # The same request with its whole body works (so the cut-off below is
    # the deadline, not a bad request).
    ok = dead_connection(head.encode() + b"Connection: close\r\n\r\n" + b"x" * 1000)
    assert b" 200 " in ok.split(b"\r\n")[0], ok[:400]
    b.delete_object(Bucket="shared", Key="slow-body", VersionId=ok.split(b"x-amz-version-id: ")[1].split(b"\r\n")[0].decode())
    expect_error("NoSuchKey", a.get_object, Bucket="shared", Key="slow-body")
    out = dead_connection(head.encode() + b"\r\n" + b"x" * 100)
    # The deadline closes the socket (Beast's stream does), so no response.
    assert out == b"", out[:400]
    expect_error("NoSuchKey", a.get_object, Bucket="shared", Key="slow-body")
    # An idle keep-alive connection is closed too.
    assert dead_connection(b"") == b""
    # B still serves.
    assert b.head_object(Bucket="shared", Key="k/000")["ContentLength"] == len(b"overwritten on A")
    assert gw_b.poll() is None, "gateway B died"
finally:
    gw_b.terminate()  # only the process this script started
    try:
        gw_b.wait(timeout=30)
    except subprocess.TimeoutExpired:
        gw_b.kill()
        gw_b.wait()
    log_b.close()
assert gw_b.returncode == 0, f"gateway B exited with {gw_b.returncode}"
print(f"s3_two_gateways_test: all checks passed ({time.time() - T0:.1f} s)")
