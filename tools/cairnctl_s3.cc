// cairnctl s3 user ...: S3 users and access keys, stored in the cluster
// (rgw/store/users.h) so every gateway sees them.
#include <fmt/format.h>

#include <cstdio>

#include "rgw/store/users.h"
#include "tools/cairnctl.h"
#include "tools/ctl/util.h"

namespace cairn::ctl {

namespace {

void print(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

struct S3Args {
  std::string name;
  std::string access_key;
  rgw::PoolNames pools;
};

Json key_json(const std::string& user, const rgw::AccessKey& k) {
  return Json{{"user", user}, {"access_key", k.access_key}, {"secret_key", k.secret_key}};
}

Status user_create(Context* ctx, const S3Args& a) {
  const std::string what = "s3 user create " + a.name;
  auto c = ctx->client();
  if (!c.ok()) return annotate(what, c.status());
  auto u = rgw::create_user(**c, a.pools, a.name);
  if (!u.ok()) return annotate(what, u.status());
  if (ctx->json()) {
    ctx->print_json(key_json(u->name, u->keys[0]));
  } else {
    print(fmt::format("user '{}' created\naccess_key: {}\nsecret_key: {}\n", u->name,
                      u->keys[0].access_key, u->keys[0].secret_key));
  }
  return Status::Ok();
}

Status user_ls(Context* ctx, const S3Args& a) {
  auto c = ctx->client();
  if (!c.ok()) return annotate("s3 user ls", c.status());
  auto users = rgw::list_users(**c, a.pools);
  if (!users.ok()) return annotate("s3 user ls", users.status());
  if (ctx->json()) {
    Json arr = Json::array();
    for (const rgw::UserInfo& u : *users) {
      Json keys = Json::array();
      for (const rgw::AccessKey& k : u.keys) keys.push_back(k.access_key);
      arr.push_back({{"user", u.name}, {"access_keys", keys}, {"created", format_time_ns(u.created_ms * 1000000ull)}});
    }
    ctx->print_json(arr);
    return Status::Ok();
  }
  std::string out = fmt::format("{:<24} {}\n", "USER", "ACCESS KEYS");
  for (const rgw::UserInfo& u : *users) {
    std::string keys;
    for (const rgw::AccessKey& k : u.keys) keys += (keys.empty() ? "" : ",") + k.access_key;
    out += fmt::format("{:<24} {}\n", u.name, keys);
  }
  print(out);
  return Status::Ok();
}

Status user_rm(Context* ctx, const S3Args& a) {
  const std::string what = "s3 user rm " + a.name;
  auto c = ctx->client();
  if (!c.ok()) return annotate(what, c.status());
  CAIRN_RETURN_IF_ERROR(annotate(what, rgw::remove_user(**c, a.pools, a.name)));
  if (!ctx->json()) print(fmt::format("user '{}' removed\n", a.name));
  return Status::Ok();
}

Status key_create(Context* ctx, const S3Args& a) {
  const std::string what = "s3 user key-create " + a.name;
  auto c = ctx->client();
  if (!c.ok()) return annotate(what, c.status());
  auto k = rgw::add_key(**c, a.pools, a.name);
  if (!k.ok()) return annotate(what, k.status());
  if (ctx->json()) {
    ctx->print_json(key_json(a.name, *k));
  } else {
    print(fmt::format("access_key: {}\nsecret_key: {}\n", k->access_key, k->secret_key));
  }
  return Status::Ok();
}

Status key_rm(Context* ctx, const S3Args& a) {
  const std::string what = "s3 user key-rm " + a.name + " " + a.access_key;
  auto c = ctx->client();
  if (!c.ok()) return annotate(what, c.status());
  CAIRN_RETURN_IF_ERROR(annotate(what, rgw::remove_key(**c, a.pools, a.name, a.access_key)));
  if (!ctx->json()) print(fmt::format("key {} removed\n", a.access_key));
  return Status::Ok();
}

}  // namespace

void add_s3_commands(CLI::App& app, Context& ctx, Action* action) {
  auto* s3 = app.add_subcommand("s3", "S3 gateway users and keys");
  s3->require_subcommand(1);
  auto* user = s3->add_subcommand("user", "S3 users and their access keys");
  user->require_subcommand(1);
  auto args = std::make_shared<S3Args>();
  auto add = [&](const char* name, const char* help, Status (*fn)(Context*, const S3Args&),
                 bool with_name) {
    auto* sub = user->add_subcommand(name, help);
    if (with_name) sub->add_option("NAME", args->name, "user name")->required();
    sub->add_option("--meta-pool", args->pools.meta, "the gateway's metadata pool (default s3-meta)");
    add_format_option(sub, ctx);
    sub->callback([&ctx, action, args, fn] { *action = [&ctx, args, fn] { return fn(&ctx, *args); }; });
    return sub;
  };
  add("create", "Create a user with one access key", user_create, true);
  add("ls", "List users and their access keys", user_ls, false);
  add("rm", "Remove a user and its keys (its buckets stay)", user_rm, true);
  add("key-create", "Give a user another access key", key_create, true);
  auto* krm = add("key-rm", "Remove one access key of a user", key_rm, true);
  krm->add_option("ACCESS_KEY", args->access_key, "the access key to remove")->required();
}

}  // namespace cairn::ctl
