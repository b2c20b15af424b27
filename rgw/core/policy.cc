#include "rgw/core/policy.h"

#include <nlohmann/json.hpp>

namespace cairn::rgw {

using nlohmann::json;

bool wildcard_match(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

namespace {

bool strings(const json& j, std::vector<std::string>* out) {
  if (j.is_string()) {
    out->push_back(j.get<std::string>());
    return true;
  }
  if (!j.is_array() || j.empty()) return false;
  for (const json& e : j) {
    if (!e.is_string()) return false;
    out->push_back(e.get<std::string>());
  }
  return true;
}

std::string user_of(const std::string& principal) {
  size_t p = principal.rfind(":user/");
  if (p != std::string::npos) return principal.substr(p + 6);
  return principal;
}

}  // namespace

std::optional<BucketPolicy> parse_policy(std::string_view text, std::string_view bucket,
                                         std::string* why, bool* unsupported) {
  *unsupported = false;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *why = "Policies must be valid JSON and the first byte must be '{'";
    return std::nullopt;
  }
  if (!j.contains("Statement")) {
    *why = "Missing required field Statement";
    return std::nullopt;
  }
  json stmts = j["Statement"];
  if (stmts.is_object()) {
    json arr = json::array();
    arr.push_back(stmts);
    stmts = arr;
  }
  if (!stmts.is_array() || stmts.empty()) {
    *why = "Statement must be a non-empty list";
    return std::nullopt;
  }
  BucketPolicy out;
  const std::string bucket_arn = "arn:aws:s3:::" + std::string(bucket);
  for (const json& s : stmts) {
    if (!s.is_object()) {
      *why = "Statement entries must be objects";
      return std::nullopt;
    }
    for (const char* k : {"Condition", "NotAction", "NotPrincipal", "NotResource"}) {
      if (s.contains(k)) {
        *why = std::string(k) + " is not supported in bucket policies here";
        *unsupported = true;
        return std::nullopt;
      }
    }
    PolicyStatement st;
    const std::string effect = s.value("Effect", "");
    if (effect != "Allow" && effect != "Deny") {
      *why = "Invalid effect: " + effect;
      return std::nullopt;
    }
    st.allow = effect == "Allow";
    if (!s.contains("Principal")) {
      *why = "Missing required field Principal";
      return std::nullopt;
    }
    const json& pr = s["Principal"];
    std::vector<std::string> principals;
    if (pr.is_string()) {
      if (pr.get<std::string>() != "*") {
        *why = "Invalid principal in policy";
        return std::nullopt;
      }
      principals.push_back("*");
    } else if (pr.is_object() && pr.size() == 1 && pr.contains("AWS")) {
      if (!strings(pr["AWS"], &principals)) {
        *why = "Invalid principal in policy";
        return std::nullopt;
      }
    } else {
      *why = "Invalid principal in policy";
      return std::nullopt;
    }
    for (const std::string& p : principals) {
      if (p == "*") st.any_principal = true;
      else st.users.push_back(user_of(p));
    }
    if (!s.contains("Action") || !strings(s["Action"], &st.actions)) {
      *why = "Missing or invalid Action";
      return std::nullopt;
    }
    for (const std::string& a : st.actions) {
      if (!a.starts_with("s3:") && a != "*") {
        *why = "Policy has invalid action: " + a;
        return std::nullopt;
      }
      if (!st.allow) continue;
      bool read_only = true;
      // An Allow pattern must not match any action outside the read set.
      for (const char* w : {"s3:PutObject", "s3:DeleteObject", "s3:DeleteBucket", "s3:PutBucketPolicy",
                            "s3:PutBucketAcl", "s3:PutObjectAcl", "s3:AbortMultipartUpload",
                            "s3:PutBucketVersioning", "s3:DeleteObjectVersion"}) {
        if (wildcard_match(a, w)) read_only = false;
      }
      if (!read_only) {
        *why = "Allow statements may grant read actions only (" + a + ")";
        *unsupported = true;
        return std::nullopt;
      }
    }
    if (!s.contains("Resource") || !strings(s["Resource"], &st.resources)) {
      *why = "Missing or invalid Resource";
      return std::nullopt;
    }
    for (const std::string& r : st.resources) {
      if (r != bucket_arn && !r.starts_with(bucket_arn + "/")) {
        *why = "Policy has invalid resource";
        return std::nullopt;
      }
    }
    out.statements.push_back(std::move(st));
  }
  return out;
}

PolicyDecision evaluate_policy(const BucketPolicy& p, std::string_view user,
                               std::string_view action, std::string_view resource) {
  PolicyDecision d = PolicyDecision::kNone;
  for (const PolicyStatement& s : p.statements) {
    bool who = s.any_principal;
    for (const std::string& u : s.users) who |= !user.empty() && u == user;
    if (!who) continue;
    bool act = false;
    for (const std::string& a : s.actions) act |= wildcard_match(a, action);
    if (!act) continue;
    bool res = false;
    for (const std::string& r : s.resources) res |= wildcard_match(r, resource);
    if (!res) continue;
    if (!s.allow) return PolicyDecision::kDeny;
    d = PolicyDecision::kAllow;
  }
  return d;
}

}  // namespace cairn::rgw
