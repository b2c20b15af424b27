// SigV4 against the examples AWS publishes in the S3 API reference
// ("Signature Calculations for the Authorization Header", "Authenticating
// Requests: Using Query Parameters", "Transferring Payload in Multiple Chunks").
#include "rgw/core/sigv4.h"

#include <gtest/gtest.h>

namespace cairn::rgw {
namespace {

constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr const char* kScope = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request";
const int64_t kNow = *parse_amz_date("20130524T000000Z");

SigV4Request make(std::string method, std::string path, std::string query,
                  std::vector<std::pair<std::string, std::string>> headers) {
  SigV4Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  EXPECT_TRUE(parse_query(query, &r.query));
  r.headers = std::move(headers);
  return r;
}

std::string auth(const std::string& signed_headers, const std::string& sig) {
  return std::string("AWS4-HMAC-SHA256 Credential=") + kScope + ",SignedHeaders=" + signed_headers +
         ",Signature=" + sig;
}

TEST(SigV4, GetObjectExample) {
  auto r = make("GET", "/test.txt", "",
                {{"host", "examplebucket.s3.amazonaws.com"},
                 {"range", "bytes=0-9"},
                 {"x-amz-content-sha256", std::string(kEmptySha256)},
                 {"x-amz-date", "20130524T000000Z"},
                 {"authorization",
                  auth("host;range;x-amz-content-sha256;x-amz-date",
                       "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")}});
  ASSERT_EQ(auth_kind(r), AuthKind::kHeader);
  SigV4Credentials c;
  ASSERT_FALSE(parse_credentials(r, &c));
  EXPECT_EQ(c.access_key, "AKIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(canonical_request(r, c),
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_FALSE(verify_signature(r, c, kSecret, kNow));
  // Wrong secret, and a clock 20 minutes off.
  auto bad = verify_signature(r, c, "nope", kNow);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->err, S3Err::kSignatureDoesNotMatch);
  auto skew = verify_signature(r, c, kSecret, kNow + 1200);
  ASSERT_TRUE(skew);
  EXPECT_EQ(skew->err, S3Err::kRequestTimeTooSkewed);
}

TEST(SigV4, PutObjectExample) {
  auto r = make("PUT", "/test$file.text", "",
                {{"host", "examplebucket.s3.amazonaws.com"},
                 {"date", "Fri, 24 May 2013 00:00:00 GMT"},
                 {"x-amz-date", "20130524T000000Z"},
                 {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                 {"x-amz-content-sha256",
                  "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"},
                 {"authorization",
                  auth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                       "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")}});
  SigV4Credentials c;
  ASSERT_FALSE(parse_credentials(r, &c));
  EXPECT_FALSE(verify_signature(r, c, kSecret, kNow));
  EXPECT_EQ(sha256_hex("Welcome to Amazon S3."), c.payload_hash);
}

TEST(SigV4, SubresourceAndQueryExamples) {
  auto lc = make("GET", "/", "lifecycle",
                 {{"host", "examplebucket.s3.amazonaws.com"},
                  {"x-amz-date", "20130524T000000Z"},
                  {"x-amz-content-sha256", std::string(kEmptySha256)},
                  {"authorization",
                   auth("host;x-amz-content-sha256;x-amz-date",
                        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")}});
  SigV4Credentials c;
  ASSERT_FALSE(parse_credentials(lc, &c));
  EXPECT_FALSE(verify_signature(lc, c, kSecret, kNow));

  auto ls = make("GET", "/", "max-keys=2&prefix=J",
                 {{"host", "examplebucket.s3.amazonaws.com"},
                  {"x-amz-date", "20130524T000000Z"},
                  {"x-amz-content-sha256", std::string(kEmptySha256)},
                  {"authorization",
                   auth("host;x-amz-content-sha256;x-amz-date",
                        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")}});
  ASSERT_FALSE(parse_credentials(ls, &c));
  EXPECT_FALSE(verify_signature(ls, c, kSecret, kNow));
}

TEST(SigV4, PresignedExample) {
  auto r = make("GET", "/test.txt",
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
                {{"host", "examplebucket.s3.amazonaws.com"}});
  ASSERT_EQ(auth_kind(r), AuthKind::kPresigned);
  SigV4Credentials c;
  ASSERT_FALSE(parse_credentials(r, &c));
  EXPECT_TRUE(c.presigned);
  EXPECT_EQ(c.expires_s, 86400);
  EXPECT_FALSE(verify_signature(r, c, kSecret, kNow + 3600));
  auto expired = verify_signature(r, c, kSecret, kNow + 86401);
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->err, S3Err::kAccessDenied);
}

TEST(SigV4, StreamingChunksExample) {
  auto r = make("PUT", "/examplebucket/chunkObject.txt", "",
                {{"host", "s3.amazonaws.com"},
                 {"x-amz-date", "20130524T000000Z"},
                 {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                 {"content-encoding", "aws-chunked"},
                 {"x-amz-decoded-content-length", "66560"},
                 {"content-length", "66824"},
                 {"x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
                 {"authorization",
                  auth("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                       "x-amz-decoded-content-length;x-amz-storage-class",
                       "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")}});
  SigV4Credentials c;
  ASSERT_FALSE(parse_credentials(r, &c));
  ASSERT_FALSE(verify_signature(r, c, kSecret, kNow));
  std::string key = signing_key(kSecret, c.date, c.region, c.service);
  std::string body =
      "10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n" +
      std::string(65536, 'a') +
      "\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n" +
      std::string(1024, 'a') +
      "\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n";
  EXPECT_EQ(body.size(), 66824u);
  // Fed in awkward pieces, as a socket would deliver it.
  AwsChunkedDecoder dec(key, c);
  std::string out;
  for (size_t i = 0; i < body.size(); i += 777) {
    auto e = dec.feed(std::string_view(body).substr(i, 777), &out);
    ASSERT_FALSE(e) << s3_err_info(e->err).code << " " << e->detail;
  }
  EXPECT_TRUE(dec.done());
  EXPECT_EQ(out, std::string(66560, 'a'));

  // A flipped data byte breaks the chain.
  std::string tampered = body;
  tampered[200] = 'b';
  AwsChunkedDecoder dec2(key, c);
  std::string out2;
  auto e = dec2.feed(tampered, &out2);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->err, S3Err::kSignatureDoesNotMatch);
}

TEST(SigV4, UnsignedTrailerChunks) {
  AwsChunkedDecoder dec;
  std::string out;
  std::string body = "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
  ASSERT_FALSE(dec.feed(body, &out));
  EXPECT_TRUE(dec.done());
  EXPECT_EQ(out, "hello world");
  AwsChunkedDecoder bad;
  auto e = bad.feed("zz\r\n", &out);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->err, S3Err::kIncompleteBody);
}

TEST(SigV4, MalformedHeaders) {
  auto r = make("GET", "/", "", {{"host", "h"}, {"authorization", "AWS4-HMAC-SHA256 Credential=x"}});
  SigV4Credentials c;
  auto e = parse_credentials(r, &c);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->err, S3Err::kAuthorizationHeaderMalformed);
}

}  // namespace
}  // namespace cairn::rgw
