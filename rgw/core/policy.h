// Bucket policies, the common subset: statements with Effect Allow/Deny,
// Principal "*" / {"AWS": "*" | user | [users]} (a user is a name or an
// ARN ending in ":user/NAME"), Action and Resource strings or lists with
// * and ? wildcards. Allow may grant read actions only (the write paths are
// owner-only); Deny may name any action. Conditions, NotAction,
// NotPrincipal and NotResource are refused rather than ignored, so a stored
// policy never grants more than it says. Pure: parse once, evaluate per
// request.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::rgw {

struct PolicyStatement {
  bool allow = true;
  bool any_principal = false;
  std::vector<std::string> users;
  std::vector<std::string> actions;    // "s3:GetObject", patterns
  std::vector<std::string> resources;  // "arn:aws:s3:::b/k*", patterns
};

struct BucketPolicy {
  std::vector<PolicyStatement> statements;
};

// Parses and validates a policy for bucket. On error *why says what is
// wrong and *unsupported whether it is valid S3 we do not serve
// (NotImplemented) rather than malformed (MalformedPolicy).
std::optional<BucketPolicy> parse_policy(std::string_view json, std::string_view bucket,
                                         std::string* why, bool* unsupported);

enum class PolicyDecision { kNone, kAllow, kDeny };
// user: "" for anonymous. action: "s3:GetObject". resource: "arn:aws:s3:::b/k".
// An explicit Deny wins over any Allow.
PolicyDecision evaluate_policy(const BucketPolicy& p, std::string_view user,
                               std::string_view action, std::string_view resource);

// Glob match with * (any run) and ? (one byte).
bool wildcard_match(std::string_view pattern, std::string_view s);

}  // namespace cairn::rgw
