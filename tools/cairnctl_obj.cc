// cairnctl obj ...: object data, xattrs, omap, listing and placement.
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tools/cairnctl.h"
#include "tools/ctl/util.h"

namespace cairn::ctl {

namespace {

void print(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

Status errno_status(const std::string& what) {
  int e = errno;
  std::string msg = what + ": " + std::strerror(e);
  if (e == ENOENT) return Status::NotFound(msg);
  if (e == EACCES || e == EPERM) return Status::PermissionDenied(msg);
  if (e == ENOSPC) return Status::NoSpace(msg);
  return Status::IoError(msg);
}

Status too_large(uint64_t size) {
  return Status::TooLarge(
      fmt::format("{} bytes is more than the object size limit of {} ({} bytes)", size,
                  format_bytes(kMaxObjectSize), kMaxObjectSize));
}

// Reads all of fd, failing once more than kMaxObjectSize bytes arrive.
Result<std::string> read_fd(int fd, const std::string& name) {
  std::string data;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status("read " + name);
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxObjectSize) return too_large(data.size());
  }
  return data;
}

Result<std::string> read_input(const std::string& path) {
  if (path == "-") return read_fd(STDIN_FILENO, "stdin");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("open " + path);
  struct stat st {};
  Result<std::string> r = Status::IoError("unread");
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<uint64_t>(st.st_size) > kMaxObjectSize) {
    r = too_large(static_cast<uint64_t>(st.st_size));
  } else if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    r = Status::InvalidArgument(path + " is a directory");
  } else {
    r = read_fd(fd, path);
  }
  ::close(fd);
  return r;
}

Status write_all(int fd, std::string_view data, const std::string& name) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status("write " + name);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// Writes data to path atomically: a temp file beside it, fsync, rename. A
// failure leaves no partial file behind.
Status write_output(const std::string& path, const std::string& data) {
  if (path == "-") return write_all(STDOUT_FILENO, data, "stdout");
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty()) return Status::InvalidArgument(path + " is a directory");
  std::string tmp = (slash == std::string::npos ? "" : dir) + "." + base + ".cairnctl-XXXXXX";
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) return errno_status("create a temp file in " + dir);
  mode_t mask = ::umask(0);
  ::umask(mask);
  Status st = write_all(fd, data, tmp);
  if (st.ok() && ::fchmod(fd, 0666 & ~mask) != 0) st = errno_status("chmod " + tmp);
  if (st.ok() && ::fsync(fd) != 0) st = errno_status("fsync " + tmp);
  if (::close(fd) != 0 && st.ok()) st = errno_status("close " + tmp);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) st = errno_status("rename to " + path);
  if (!st.ok()) ::unlink(tmp.c_str());
  return st;
}

// ---- commands ----

struct ObjArgs {
  std::string pool;
  std::string name;
  std::string file;
  std::vector<std::string> rest;  // KEY [VALUE ...]
  bool values = false;
};

using ObjFn = Status (*)(Context*, client::Client*, const ObjArgs&);

Status obj_put(Context*, client::Client* c, const ObjArgs& a) {
  auto data = read_input(a.file);
  if (!data.ok()) return data.status();
  return c->put(a.pool, a.name, std::move(*data));
}

Status obj_get(Context*, client::Client* c, const ObjArgs& a) {
  auto data = c->get(a.pool, a.name);
  if (!data.ok()) return data.status();
  return write_output(a.file, *data);
}

Status obj_stat(Context* ctx, client::Client* c, const ObjArgs& a) {
  auto info = c->stat(a.pool, a.name);
  if (!info.ok()) return info.status();
  if (ctx->json()) {
    ctx->print_json({{"pool", a.pool},
                     {"name", a.name},
                     {"size", info->size},
                     {"version", info->version},
                     {"mtime", format_time_ns(info->mtime_ns)},
                     {"mtime_ns", info->mtime_ns}});
  } else {
    print(fmt::format("{}/{} mtime {}, size {}, version {}\n", a.pool, a.name,
                      format_time_ns(info->mtime_ns), info->size, info->version));
  }
  return Status::Ok();
}

Status obj_rm(Context*, client::Client* c, const ObjArgs& a) { return c->remove(a.pool, a.name); }

Status obj_ls(Context* ctx, client::Client* c, const ObjArgs& a) {
  auto names = c->list(a.pool);
  if (!names.ok()) return names.status();
  std::sort(names->begin(), names->end());
  if (ctx->json()) {
    ctx->print_json(*names);
  } else {
    std::string out;
    for (const auto& n : *names) out += n + "\n";
    print(out);
  }
  return Status::Ok();
}

Status obj_setxattr(Context*, client::Client* c, const ObjArgs& a) {
  return c->setxattr(a.pool, a.name, a.rest[0], a.rest[1]);
}

Status obj_getxattr(Context*, client::Client* c, const ObjArgs& a) {
  auto v = c->getxattr(a.pool, a.name, a.rest[0]);
  if (!v.ok()) return v.status();
  print(*v);  // raw, no newline: binary values survive `> file`
  return Status::Ok();
}

Status obj_omap_set(Context*, client::Client* c, const ObjArgs& a) {
  if (a.rest.size() % 2 != 0) {
    return Status::InvalidArgument("expected KEY VALUE pairs, got an odd number of arguments");
  }
  std::map<std::string, std::string> kvs;
  for (size_t i = 0; i < a.rest.size(); i += 2) kvs[a.rest[i]] = a.rest[i + 1];
  return c->omap_set(a.pool, a.name, std::move(kvs));
}

Status obj_omap_get(Context* ctx, client::Client* c, const ObjArgs& a) {
  auto kvs = c->omap_get(a.pool, a.name, a.rest);
  if (!kvs.ok()) return kvs.status();
  if (ctx->json()) {
    ctx->print_json(*kvs);
  } else {
    std::string out;
    for (const auto& k : a.rest) {
      if (auto it = kvs->find(k); it != kvs->end()) out += k + "\t" + it->second + "\n";
    }
    print(out);
  }
  std::vector<std::string> missing;
  for (const auto& k : a.rest) {
    if (!kvs->count(k)) missing.push_back(k);
  }
  if (!missing.empty()) {
    return Status::NotFound(fmt::format("no omap key {}", fmt::join(missing, ", ")));
  }
  return Status::Ok();
}

Status obj_omap_ls(Context* ctx, client::Client* c, const ObjArgs& a) {
  constexpr uint32_t kPage = 1000;
  std::map<std::string, std::string> all;
  std::string after;
  bool more = true;
  while (more) {
    auto page = c->omap_list(a.pool, a.name, after, kPage, &more);
    if (!page.ok()) return page.status();
    if (page->empty()) break;  // a server that says "more" with nothing in it would loop
    after = page->rbegin()->first;
    all.merge(*page);
  }
  if (ctx->json()) {
    ctx->print_json(all);
  } else {
    std::string out;
    for (const auto& [k, v] : all) out += a.values ? k + "\t" + v + "\n" : k + "\n";
    print(out);
  }
  return Status::Ok();
}

Status obj_locate(Context* ctx, client::Client* c, const ObjArgs& a) {
  auto pl = c->locate(a.pool, a.name);
  if (!pl.ok()) return pl.status();
  if (ctx->json()) {
    // acting == up: there is no pg_temp, the up set serves I/O.
    ctx->print_json({{"pg", pl->pg}, {"acting", pl->up}, {"up", pl->up}, {"raw", pl->raw}});
  } else {
    ClusterMap m = c->map();
    const PoolInfo* p = m.find_pool(a.pool);
    std::string primary = pl->up.empty() ? "none" : fmt::format("osd.{}", pl->up[0]);
    print(
        fmt::format("map e{} pool '{}' ({}) object '{}' -> pg {} -> up [{}] acting [{}] "
                    "primary {} (raw [{}])\n",
                    m.epoch, a.pool, p ? p->id : -1, a.name, pl->pg, fmt::join(pl->up, ","),
                    fmt::join(pl->up, ","), primary, fmt::join(pl->raw, ",")));
  }
  return Status::Ok();
}

// Registers `obj VERB POOL [NAME]`; the caller adds further positionals to
// the returned args.
std::pair<CLI::App*, std::shared_ptr<ObjArgs>> add_obj(CLI::App* obj, Context& ctx, Action* action,
                                                       const char* verb, const char* help, ObjFn fn,
                                                       bool with_name = true) {
  auto args = std::make_shared<ObjArgs>();
  auto* sub = obj->add_subcommand(verb, help);
  sub->add_option("POOL", args->pool, "Pool name")->required();
  if (with_name) sub->add_option("NAME", args->name, "Object name")->required();
  std::string what = verb;
  sub->callback([&ctx, action, args, fn, what, with_name] {
    *action = [&ctx, args, fn, what, with_name]() -> Status {
      std::string label = with_name ? fmt::format("obj {} {}/{}", what, args->pool, args->name)
                                    : fmt::format("obj {} {}", what, args->pool);
      if (with_name) CAIRN_RETURN_IF_ERROR(annotate(label, validate_object_name(args->name)));
      auto c = ctx.client();
      if (!c.ok()) return annotate(label, c.status());
      return annotate(label, fn(&ctx, *c, *args));
    };
  });
  return {sub, args};
}

}  // namespace

void add_obj_commands(CLI::App& app, Context& ctx, Action* action) {
  auto* obj = app.add_subcommand("obj", "Object data, xattrs, omap, listing and placement");
  obj->require_subcommand(1);

  auto [put, put_args] =
      add_obj(obj, ctx, action, "put", "Write FILE ('-' = stdin) as the object", obj_put);
  put->add_option("FILE", put_args->file, "Input file, or - for stdin")->required();

  auto [get, get_args] =
      add_obj(obj, ctx, action, "get", "Read the object into FILE ('-' = stdout); atomic for files",
              obj_get);
  get->add_option("FILE", get_args->file, "Output file, or - for stdout")->required();

  auto [stat, stat_args] = add_obj(obj, ctx, action, "stat", "Size, version and mtime", obj_stat);
  add_format_option(stat, ctx);

  add_obj(obj, ctx, action, "rm", "Remove the object", obj_rm);

  auto [ls, ls_args] =
      add_obj(obj, ctx, action, "ls", "List the objects of a pool", obj_ls, /*with_name=*/false);
  add_format_option(ls, ctx);

  auto [setx, setx_args] = add_obj(obj, ctx, action, "setxattr", "Set an xattr", obj_setxattr);
  setx->add_option("KEY VALUE", setx_args->rest, "xattr name and value")->required()->expected(2);

  auto [getx, getx_args] =
      add_obj(obj, ctx, action, "getxattr", "Print an xattr value (raw bytes)", obj_getxattr);
  getx->add_option("KEY", getx_args->rest, "xattr name")->required()->expected(1);

  auto [oset, oset_args] =
      add_obj(obj, ctx, action, "omap-set", "Set omap KEY VALUE pairs", obj_omap_set);
  oset->add_option("KEY VALUE", oset_args->rest, "KEY VALUE [KEY VALUE ...]")
      ->required()
      ->expected(-1);

  auto [oget, oget_args] =
      add_obj(obj, ctx, action, "omap-get", "Print omap values as key<TAB>value", obj_omap_get);
  oget->add_option("KEY", oget_args->rest, "Keys")->required()->expected(-1);
  add_format_option(oget, ctx);

  auto [ols, ols_args] = add_obj(obj, ctx, action, "omap-ls",
                                 "List all omap keys (--values: key<TAB>value)", obj_omap_ls);
  ols->add_flag("--values", ols_args->values, "Print values too");
  add_format_option(ols, ctx);

  auto [loc, loc_args] =
      add_obj(obj, ctx, action, "locate", "Show the object's PG and OSDs", obj_locate);
  add_format_option(loc, ctx);
}

}  // namespace cairn::ctl
