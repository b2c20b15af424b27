// Pure helpers of the S3 gateway: encodings, ranges, routing, XML, model.
#include <gtest/gtest.h>

#include "rgw/core/crypto.h"
#include "rgw/core/http_util.h"
#include "rgw/core/model.h"
#include "rgw/core/op.h"
#include "rgw/core/policy.h"
#include "rgw/core/xml.h"

namespace cairn::rgw {
namespace {

TEST(Encoding, UriEncodeDecode) {
  EXPECT_EQ(uri_encode("a b/c~d+é", false), "a%20b%2Fc~d%2B%C3%A9");
  EXPECT_EQ(uri_encode("a b/c", true), "a%20b/c");
  std::string out;
  ASSERT_TRUE(uri_decode("a%20b%2Fc", &out));
  EXPECT_EQ(out, "a b/c");
  EXPECT_FALSE(uri_decode("a%2", &out));
  EXPECT_FALSE(uri_decode("%zz", &out));
  QueryParams q;
  ASSERT_TRUE(parse_query("prefix=a%2Fb&delimiter=%2F&list-type=2&uploads", &q));
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(*find_param(q, "prefix"), "a/b");
  EXPECT_EQ(*find_param(q, "uploads"), "");
  std::string b64;
  ASSERT_TRUE(base64_decode(base64_encode("hello!?"), &b64));
  EXPECT_EQ(b64, "hello!?");
  EXPECT_EQ(to_hex(md5("")), "d41d8cd98f00b204e9800998ecf8427e");
}

TEST(Dates, RoundTrip) {
  EXPECT_EQ(http_date(1445412480), "Wed, 21 Oct 2015 07:28:00 GMT");
  EXPECT_EQ(*parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT"), 1445412480);
  EXPECT_EQ(iso8601_ms(1445412480123), "2015-10-21T07:28:00.123Z");
  EXPECT_EQ(*parse_amz_date("20151021T072800Z"), 1445412480);
  EXPECT_FALSE(parse_amz_date("2015-10-21"));
  EXPECT_FALSE(parse_http_date("yesterday"));
}

TEST(Range, Forms) {
  struct Case {
    const char* h;
    uint64_t size;
    RangeParse want;
    uint64_t first, last;
  } cases[] = {
      {"bytes=0-9", 100, RangeParse::kOk, 0, 9},
      {"bytes=10-", 100, RangeParse::kOk, 10, 99},
      {"bytes=-10", 100, RangeParse::kOk, 90, 99},
      {"bytes=-1000", 100, RangeParse::kOk, 0, 99},
      {"bytes=50-1000", 100, RangeParse::kOk, 50, 99},
      {"bytes=100-", 100, RangeParse::kUnsatisfiable, 0, 0},
      {"bytes=200-300", 100, RangeParse::kUnsatisfiable, 0, 0},
      {"bytes=0-0", 0, RangeParse::kUnsatisfiable, 0, 0},
      {"bytes=5-2", 100, RangeParse::kNone, 0, 0},
      {"bytes=0-1,5-6", 100, RangeParse::kNone, 0, 0},
      {"items=0-1", 100, RangeParse::kNone, 0, 0},
  };
  for (const Case& c : cases) {
    ByteRange r;
    EXPECT_EQ(parse_range(c.h, c.size, &r), c.want) << c.h;
    if (c.want == RangeParse::kOk) {
      EXPECT_EQ(r.first, c.first) << c.h;
      EXPECT_EQ(r.last, c.last) << c.h;
    }
  }
}

TEST(Route, Operations) {
  struct Case {
    const char* method;
    const char* path;
    const char* query;
    bool copy;
    S3Op op;
    const char* bucket;
    const char* key;
  } cases[] = {
      {"GET", "/", "", false, S3Op::kListBuckets, "", ""},
      {"PUT", "/bkt", "", false, S3Op::kCreateBucket, "bkt", ""},
      {"GET", "/bkt", "list-type=2", false, S3Op::kListObjectsV2, "bkt", ""},
      {"GET", "/bkt/", "", false, S3Op::kListObjects, "bkt", ""},
      {"GET", "/bkt", "location", false, S3Op::kGetBucketLocation, "bkt", ""},
      {"POST", "/bkt", "delete", false, S3Op::kDeleteObjects, "bkt", ""},
      {"GET", "/bkt/a/b c", "", false, S3Op::kGetObject, "bkt", "a/b c"},
      {"PUT", "/bkt/k", "", true, S3Op::kCopyObject, "bkt", "k"},
      {"PUT", "/bkt/k", "partNumber=1&uploadId=x", false, S3Op::kUploadPart, "bkt", "k"},
      {"PUT", "/bkt/k", "partNumber=1&uploadId=x", true, S3Op::kUploadPartCopy, "bkt", "k"},
      {"POST", "/bkt/k", "uploads", false, S3Op::kCreateMultipartUpload, "bkt", "k"},
      {"POST", "/bkt/k", "uploadId=x", false, S3Op::kCompleteMultipartUpload, "bkt", "k"},
      {"DELETE", "/bkt/k", "uploadId=x", false, S3Op::kAbortMultipartUpload, "bkt", "k"},
      {"GET", "/bkt/k", "uploadId=x", false, S3Op::kListParts, "bkt", "k"},
      {"GET", "/bkt", "uploads", false, S3Op::kListMultipartUploads, "bkt", ""},
  };
  for (const Case& c : cases) {
    QueryParams q;
    ASSERT_TRUE(parse_query(c.query, &q));
    S3Route r;
    auto e = route_request(c.method, c.path, q, "localhost:8000", "", c.copy, &r);
    ASSERT_FALSE(e) << c.method << " " << c.path;
    EXPECT_EQ(r.op, c.op) << c.method << " " << c.path << " " << c.query;
    EXPECT_EQ(r.bucket, c.bucket);
    EXPECT_EQ(r.key, c.key);
  }
  S3Route r;
  QueryParams none;
  auto e = route_request("GET", "/k", none, "bkt.s3.local:80", "s3.local", false, &r);
  ASSERT_FALSE(e);
  EXPECT_EQ(r.bucket, "bkt");
  EXPECT_EQ(r.key, "k");
  EXPECT_EQ(r.op, S3Op::kGetObject);
  e = route_request("GET", "/Bad_Bucket", none, "h", "", false, &r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->err, S3Err::kInvalidBucketName);
  e = route_request("PATCH", "/bkt/k", none, "h", "", false, &r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->err, S3Err::kMethodNotAllowed);
  e = route_request("GET", "/bkt/" + std::string(1025, 'k'), none, "h", "", false, &r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->err, S3Err::kKeyTooLong);
}

TEST(Route, VersioningAndPolicy) {
  QueryParams q;
  S3Route r;
  ASSERT_TRUE(parse_query("versions&prefix=a", &q));
  ASSERT_FALSE(route_request("GET", "/bkt", q, "h", "", false, &r));
  EXPECT_EQ(r.op, S3Op::kListObjectVersions);
  for (auto [method, op] : {std::pair{"GET", S3Op::kGetBucketPolicy}, std::pair{"PUT", S3Op::kPutBucketPolicy},
                            std::pair{"DELETE", S3Op::kDeleteBucketPolicy}}) {
    ASSERT_TRUE(parse_query("policy", &q));
    ASSERT_FALSE(route_request(method, "/bkt", q, "h", "", false, &r));
    EXPECT_EQ(r.op, op);
  }
  QueryParams none;
  auto e = route_request("GET", std::string("/bkt/a") + char(1) + "b", none, "h", "", false, &r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->err, S3Err::kInvalidArgument);
}

TEST(Policy, ParseAndEvaluate) {
  std::string why;
  bool unsupported = false;
  auto p = parse_policy(R"({"Statement": [
      {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/pub/*"},
      {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["s3:List*"], "Resource": "arn:aws:s3:::b"},
      {"Effect": "Deny", "Principal": {"AWS": ["arn:aws:iam::1:user/eve"]}, "Action": "s3:*",
       "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]}]})",
                        "b", &why, &unsupported);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(evaluate_policy(*p, "", "s3:GetObject", "arn:aws:s3:::b/pub/x"), PolicyDecision::kAllow);
  EXPECT_EQ(evaluate_policy(*p, "", "s3:GetObject", "arn:aws:s3:::b/priv/x"), PolicyDecision::kNone);
  EXPECT_EQ(evaluate_policy(*p, "bob", "s3:ListBucket", "arn:aws:s3:::b"), PolicyDecision::kAllow);
  EXPECT_EQ(evaluate_policy(*p, "eve", "s3:GetObject", "arn:aws:s3:::b/pub/x"), PolicyDecision::kDeny);
  EXPECT_EQ(evaluate_policy(*p, "", "s3:PutObject", "arn:aws:s3:::b/pub/x"), PolicyDecision::kNone);

  EXPECT_FALSE(parse_policy("{bad", "b", &why, &unsupported));
  EXPECT_FALSE(unsupported);
  EXPECT_FALSE(parse_policy(R"({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                "Resource": "arn:aws:s3:::other/*"}]})", "b", &why, &unsupported));
  EXPECT_FALSE(unsupported);
  // Valid S3 that would grant more than we enforce: refused, not ignored.
  EXPECT_FALSE(parse_policy(R"({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*",
                                "Resource": "arn:aws:s3:::b/*"}]})", "b", &why, &unsupported));
  EXPECT_TRUE(unsupported);
  EXPECT_FALSE(parse_policy(R"({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                "Resource": "arn:aws:s3:::b/*", "Condition": {}}]})", "b", &why, &unsupported));
  EXPECT_TRUE(unsupported);
  EXPECT_TRUE(wildcard_match("a*c?e", "abbbcde"));
  EXPECT_FALSE(wildcard_match("a*c?e", "abbbce"));
}

TEST(Route, BucketNames) {
  for (std::string ok : {std::string("abc"), std::string("my-bucket.data"), std::string("a1b"), std::string(63, 'a')}) {
    EXPECT_TRUE(valid_bucket_name(ok)) << ok;
  }
  for (const char* bad : {"ab", "ABC", "-abc", "abc-", "a..b", "192.168.1.1", "a_b", "a.-b"}) {
    EXPECT_FALSE(valid_bucket_name(bad)) << bad;
  }
}

TEST(Xml, WriteAndParse) {
  XmlWriter w("Result");
  w.elem("Key", "a<b>&\"c'");
  w.open("Inner");
  w.elem("N", 3);
  std::string doc = w.finish();
  EXPECT_NE(doc.find("<Key>a&lt;b&gt;&amp;&quot;c&apos;</Key>"), std::string::npos);
  auto n = parse_xml(doc);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->name, "Result");
  EXPECT_EQ(n->child_text("Key"), "a<b>&\"c'");
  EXPECT_EQ(n->child("Inner")->child_text("N"), "3");

  auto c = parse_xml(
      "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
      "  <Part><PartNumber>1</PartNumber><ETag>\"abc\"</ETag></Part>\n"
      "  <!-- comment --><Part><PartNumber>2</PartNumber><ETag>&quot;def&quot;</ETag></Part>\n"
      "</CompleteMultipartUpload>");
  ASSERT_TRUE(c);
  auto parts = c->children_named("Part");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[1]->child_text("ETag"), "\"def\"");
  for (const char* bad : {"", "<a>", "<a></b>", "<a><b></a></b>", "not xml", "<a>&bogus;</a>",
                          "<a></a><b></b>", "<!DOCTYPE x><a/>"}) {
    EXPECT_FALSE(parse_xml(bad)) << bad;
  }
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<a>";
  EXPECT_FALSE(parse_xml(deep));
}

TEST(Model, RoundTripAndEtag) {
  ObjectEntry e;
  e.size = 10;
  e.etag = "abc";
  e.mtime_ms = 5;
  e.meta["color"] = "red";
  e.segments.push_back({"inst1", 10});
  e.acl = "public-read";
  auto d = decode_entry(encode(e));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->meta["color"], "red");
  EXPECT_EQ(d->segments[0].inst, "inst1");
  EXPECT_EQ(d->acl, "public-read");
  EXPECT_FALSE(decode_entry("{\"s\":1}"));
  EXPECT_FALSE(decode_entry("garbage"));
  // md5("a") and md5("b") concatenated, hashed, "-2".
  std::string want = to_hex(md5(md5("a") + md5("b"))) + "-2";
  EXPECT_EQ(multipart_etag({to_hex(md5("a")), to_hex(md5("b"))}), want);
}

TEST(Model, PlanReads) {
  ObjectEntry e;
  e.segments = {{"p1", kStripeSize + 10}, {"p2", 100}};
  e.size = kStripeSize + 110;
  auto pieces = plan_reads("B", e, 0, e.size);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0].object, data_object("B", "p1", 0));
  EXPECT_EQ(pieces[0].length, kStripeSize);
  EXPECT_EQ(pieces[1].object, data_object("B", "p1", 1));
  EXPECT_EQ(pieces[1].length, 10u);
  EXPECT_EQ(pieces[2].object, data_object("B", "p2", 0));
  auto mid = plan_reads("B", e, kStripeSize + 5, 20);
  ASSERT_EQ(mid.size(), 2u);
  EXPECT_EQ(mid[0].offset, 5u);
  EXPECT_EQ(mid[0].length, 5u);
  EXPECT_EQ(mid[1].offset, 0u);
  EXPECT_EQ(mid[1].length, 15u);
}

}  // namespace
}  // namespace cairn::rgw
