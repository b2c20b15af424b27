// cairnctl rbd ...: block images (create, ls, info, resize, rm, rename,
// snapshots, locks) and attaching them on this node (map, unmap, showmapped).
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "rbd/admin.h"
#include "tools/cairnctl.h"
#include "tools/ctl/util.h"

namespace cairn::ctl {

namespace {

namespace fs = std::filesystem;

void print(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

struct RbdArgs {
  std::string spec;  // POOL/IMAGE[@SNAP], or POOL for ls
  std::string size;
  std::string object_size = "4M";
  std::string target;  // rename destination
  std::string snap;
  std::string nbd_uri;
  bool allow_shrink = false;
};

Result<rbd::ImageSpec> image_spec(const std::string& s, bool snap_allowed) {
  auto spec = rbd::parse_image_spec(s);
  if (!spec.ok()) return spec.status();
  if (!snap_allowed && !spec->snap.empty()) {
    return Status::InvalidArgument("'" + s + "' names a snapshot; expected POOL/IMAGE");
  }
  return spec;
}

// Runs a command, returning its exit code and stdout.
int run_cmd(const std::string& cmd, std::string* out) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    if (out) out->append(buf, n);
  }
  int rc = ::pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

const char* kMapDir = "/run/cairn/rbd";

Result<std::string> nbd_uri(const Context& ctx, const RbdArgs& a) {
  if (!a.nbd_uri.empty()) return a.nbd_uri;
  std::string conf = ctx.conf;
  if (conf.empty()) {
    const char* e = std::getenv("CAIRN_CONF");
    if (e) conf = e;
  }
  fs::path cj = fs::path(conf).parent_path() / "cluster.json";
  std::ifstream in(cj);
  if (!in) return Status::NotFound("no --nbd-uri and no " + cj.string() + " to find the NBD gateway in");
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.contains("nbd") || !j["nbd"].contains("uri")) {
    return Status::NotFound(cj.string() + " has no nbd.uri (is cairn-nbd running?); pass --nbd-uri");
  }
  return j["nbd"]["uri"].get<std::string>();
}

// The attach helper: cairn-rbd-fuse (beside cairnctl, reconnects and
// follows resizes), else nbdfuse from libnbd.
std::string fuse_helper() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path h = self.parent_path() / "cairn-rbd-fuse";
    if (::access(h.c_str(), X_OK) == 0) return h.string();
  }
  return "nbdfuse";
}

Status rbd_map(Context& ctx, const RbdArgs& a) {
  auto spec = image_spec(a.spec, true);
  if (!spec.ok()) return spec.status();
  auto uri = nbd_uri(ctx, a);
  if (!uri.ok()) return uri.status();
  std::string base = *uri;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string export_uri = base + "/" + spec->to_string();
  std::string tag = spec->pool + "." + spec->image + (spec->snap.empty() ? "" : "@" + spec->snap);
  fs::path dir = fs::path(kMapDir) / (tag + "." + std::to_string(::getpid()));
  std::error_code ec;
  fs::create_directories(dir / "mnt", ec);
  if (ec) return Status::IoError("create " + dir.string() + ": " + ec.message());
  // nbdfuse exposes the export as a file; a loop device makes it a block device.
  std::string pidfile = (dir / "nbdfuse.pid").string();
  // nbdfuse stays in the foreground: start it detached (its own session, so
  // it outlives this command) and wait for its pid file, written once it serves.
  std::string helper = fuse_helper();
  std::string cmd = fmt::format("setsid {} {}-C 4 -P {} {} {} </dev/null >{} 2>&1 &",
                                shell_quote(helper), spec->snap.empty() ? "" : "-r ",
                                shell_quote(pidfile),
                                shell_quote((dir / "mnt").string()), shell_quote(export_uri),
                                shell_quote((dir / "nbdfuse.log").string()));
  int rc = run_cmd(cmd, nullptr);
  fs::path file = dir / "mnt" / "nbd";
  for (int i = 0; i < 200 && !(fs::exists(pidfile, ec) && fs::exists(file, ec)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (rc != 0 || !fs::exists(pidfile, ec) || !fs::exists(file, ec)) {
    std::string log;
    std::ifstream l(dir / "nbdfuse.log");
    std::getline(l, log, '\0');
    run_cmd("fusermount3 -u " + shell_quote((dir / "mnt").string()) + " 2>/dev/null", nullptr);
    fs::remove_all(dir, ec);
    return Status::Unavailable(fmt::format("{} {} failed: {}", helper, export_uri, log));
  }
  std::string dev;
  rc = run_cmd(fmt::format("losetup --find --show {} {}", spec->snap.empty() ? "" : "-r",
                           shell_quote(file.string())),
               &dev);
  while (!dev.empty() && (dev.back() == '\n' || dev.back() == ' ')) dev.pop_back();
  if (rc != 0 || dev.empty()) {
    run_cmd("fusermount3 -u " + shell_quote((dir / "mnt").string()), nullptr);
    fs::remove_all(dir, ec);
    return Status::IoError("losetup failed");
  }
  nlohmann::json j = {{"device", dev}, {"image", spec->to_string()}, {"uri", export_uri},
                      {"dir", dir.string()}, {"helper", fs::path(helper).filename().string()},
                      {"pidfile", pidfile}};
  std::ofstream(dir / "map.json") << j.dump() << "\n";
  print(dev + "\n");
  return Status::Ok();
}

std::vector<nlohmann::json> mappings() {
  std::vector<nlohmann::json> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(kMapDir, ec)) {
    std::ifstream in(e.path() / "map.json");
    if (!in) continue;
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_discarded()) out.push_back(j);
  }
  return out;
}

Status rbd_unmap(const RbdArgs& a) {
  for (const auto& m : mappings()) {
    if (m["device"] != a.spec && m["image"] != a.spec) continue;
    std::string dev = m["device"];
    fs::path dir = m["dir"].get<std::string>();
    if (run_cmd("losetup -d " + shell_quote(dev), nullptr) != 0) {
      return Status::IoError("losetup -d " + dev + " failed (device busy?)");
    }
    // The loop device lets go of the file asynchronously; retry the unmount.
    int rc = -1;
    for (int i = 0; i < 50 && rc != 0; ++i) {
      rc = run_cmd("fusermount3 -u " + shell_quote((dir / "mnt").string()) + " 2>/dev/null", nullptr);
      if (rc != 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (rc != 0) return Status::IoError("fusermount3 -u " + (dir / "mnt").string() + " failed");
    std::error_code ec;
    fs::remove_all(dir, ec);
    return Status::Ok();
  }
  return Status::NotFound(a.spec + " is not mapped");
}

// After a grow: make each mapping of spec on this node see the new size
// (the helper reconnects, then the loop device re-reads the file size).
// The filesystem on it is grown by the user (resize2fs).
Status refresh_mappings(const rbd::ImageSpec& spec, uint64_t new_size) {
  for (const auto& m : mappings()) {
    if (m["image"] != spec.to_string()) continue;
    std::string dev = m["device"];
    if (m.value("helper", "") != "cairn-rbd-fuse") {
      print(fmt::format("note: {} is attached with nbdfuse, which keeps the old size; unmap and "
                        "map it again to see the new one\n", dev));
      continue;
    }
    std::ifstream pf(m["pidfile"].get<std::string>());
    int pid = 0;
    if (!(pf >> pid) || pid <= 0 || ::kill(pid, SIGUSR1) != 0) {
      return Status::IoError("cannot signal the attach helper of " + dev);
    }
    fs::path file = fs::path(m["dir"].get<std::string>()) / "mnt" / "nbd";
    bool grown = false;
    for (int i = 0; i < 300 && !grown; ++i) {
      struct stat st {};
      grown = ::stat(file.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == new_size;
      if (!grown) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!grown) return Status::Unavailable("the attach helper of " + dev + " did not take the new size");
    if (run_cmd("losetup -c " + shell_quote(dev), nullptr) != 0) {
      return Status::IoError("losetup -c " + dev + " failed");
    }
  }
  return Status::Ok();
}

Status rbd_showmapped(Context& ctx) {
  auto ms = mappings();
  if (ctx.json()) {
    Json arr = Json::array();
    for (const auto& m : ms) arr.push_back(Json{{"device", m["device"]}, {"image", m["image"]}, {"uri", m["uri"]}});
    ctx.print_json(arr);
    return Status::Ok();
  }
  std::string out = ms.empty() ? "" : "DEVICE\tIMAGE\tURI\n";
  for (const auto& m : ms) {
    out += fmt::format("{}\t{}\t{}\n", m["device"].get<std::string>(), m["image"].get<std::string>(),
                       m["uri"].get<std::string>());
  }
  print(out);
  return Status::Ok();
}

Status rbd_info(Context& ctx, client::Client* c, const RbdArgs& a) {
  auto spec = image_spec(a.spec, false);
  if (!spec.ok()) return spec.status();
  rbd::Admin admin(*c);
  auto vh = admin.info(spec->pool, spec->image);
  if (!vh.ok()) return vh.status();
  const auto& h = vh->header;
  auto holder = decode_lock(vh->lock);
  std::string parent;
  if (h.parent) {
    auto d = admin.describe_parent(*h.parent);
    parent = d.ok() ? *d : fmt::format("{}/<image {}> ({})", h.parent->pool, h.parent->image_id,
                                       d.status().message());
  }
  if (ctx.json()) {
    Json snaps = Json::array();
    for (const auto& s : h.snaps) {
      snaps.push_back(Json{{"id", s.id}, {"name", s.name}, {"size", s.size},
                           {"protected", s.is_protected}, {"created", format_time_ns(s.created_ns)}});
    }
    ctx.print_json(Json{{"name", h.name},
                        {"id", h.id},
                        {"size", h.size},
                        {"object_size", h.object_size},
                        {"objects", rbd::object_count(h.object_size, h.size)},
                        {"features", h.features},
                        {"created", format_time_ns(h.created_ns)},
                        {"snapshots", snaps},
                        {"lock_owner", holder ? holder->owner : ""},
                        {"parent", h.parent ? Json{{"spec", parent},
                                                   {"overlap", h.parent->overlap}}
                                            : Json(nullptr)}});
    return Status::Ok();
  }
  std::string out = fmt::format(
      "rbd image '{}':\n\tsize {} in {} objects\n\tobject size {}\n\tid {}\n\tdata prefix {}\n"
      "\tcreated {}\n\tsnapshots {}\n",
      h.name, format_bytes(h.size), rbd::object_count(h.object_size, h.size),
      format_bytes(h.object_size), h.id, rbd::data_prefix(h.id), format_time_ns(h.created_ns),
      h.snaps.size());
  if (h.parent) {
    out += fmt::format("\tparent {}\n\toverlap {}\n", parent, format_bytes(h.parent->overlap));
  }
  if (holder) out += "\tlocked by " + holder->owner + "\n";
  print(out);
  return Status::Ok();
}

// Registers `rbd VERB ...` whose work needs a client.
CLI::App* add(CLI::App* rbd, Context& ctx, Action* action, const char* verb, const char* help,
              std::shared_ptr<RbdArgs> args,
              std::function<Status(Context&, client::Client*, const RbdArgs&)> fn) {
  auto* sub = rbd->add_subcommand(verb, help);
  std::string what = verb;
  sub->callback([&ctx, action, args, fn, what] {
    *action = [&ctx, args, fn, what]() -> Status {
      std::string label = fmt::format("rbd {} {}", what, args->spec);
      auto c = ctx.client();
      if (!c.ok()) return annotate(label, c.status());
      return annotate(label, fn(ctx, *c, *args));
    };
  });
  return sub;
}

}  // namespace

void add_rbd_commands(CLI::App& app, Context& ctx, Action* action) {
  auto* rbd = app.add_subcommand(
      "rbd", "Block images: create, ls, info, resize, rm, snap, clone, flatten, map");
  rbd->require_subcommand(1);

  auto a = std::make_shared<RbdArgs>();
  auto* create = add(rbd, ctx, action, "create", "Create a thin-provisioned image", a,
                     [](Context&, client::Client* c, const RbdArgs& x) -> Status {
                       auto spec = image_spec(x.spec, false);
                       if (!spec.ok()) return spec.status();
                       auto size = parse_size(x.size);
                       if (!size.ok()) return size.status();
                       auto osz = parse_size(x.object_size);
                       if (!osz.ok()) return osz.status();
                       rbd::CreateOptions o;
                       o.size = *size;
                       o.object_size = *osz;
                       return rbd::Admin(*c).create(spec->pool, spec->image, o).status();
                     });
  create->add_option("IMAGE", a->spec, "POOL/IMAGE")->required();
  create->add_option("--size,-s", a->size, "Size with K/M/G/T suffix")->required();
  create->add_option("--object-size", a->object_size, "Object size (default 4M)");

  a = std::make_shared<RbdArgs>();
  auto* ls = add(rbd, ctx, action, "ls", "List the images of a pool", a,
                 [](Context& ctx, client::Client* c, const RbdArgs& x) -> Status {
                   auto names = rbd::Admin(*c).list(x.spec);
                   if (!names.ok()) return names.status();
                   if (ctx.json()) {
                     ctx.print_json(*names);
                   } else {
                     std::string out;
                     for (const auto& n : *names) out += n + "\n";
                     print(out);
                   }
                   return Status::Ok();
                 });
  ls->add_option("POOL", a->spec, "Pool")->required();
  add_format_option(ls, ctx);

  a = std::make_shared<RbdArgs>();
  auto* info = add(rbd, ctx, action, "info", "Show an image", a, rbd_info);
  info->add_option("IMAGE", a->spec, "POOL/IMAGE")->required();
  add_format_option(info, ctx);

  a = std::make_shared<RbdArgs>();
  auto* resize = add(rbd, ctx, action, "resize", "Grow or shrink an image", a,
                     [](Context&, client::Client* c, const RbdArgs& x) -> Status {
                       auto spec = image_spec(x.spec, false);
                       if (!spec.ok()) return spec.status();
                       auto size = parse_size(x.size);
                       if (!size.ok()) return size.status();
                       Status st = rbd::Admin(*c).resize(spec->pool, spec->image, *size, x.allow_shrink);
                       if (!st.ok()) return st;
                       return refresh_mappings(*spec, *size);
                     });
  resize->add_option("IMAGE", a->spec, "POOL/IMAGE")->required();
  resize->add_option("--size,-s", a->size, "New size with K/M/G/T suffix")->required();
  resize->add_flag("--allow-shrink", a->allow_shrink, "Allow discarding data past the new size");

  a = std::make_shared<RbdArgs>();
  auto* rm = add(rbd, ctx, action, "rm", "Remove an image and its data", a,
                 [](Context&, client::Client* c, const RbdArgs& x) -> Status {
                   auto spec = image_spec(x.spec, false);
                   if (!spec.ok()) return spec.status();
                   return rbd::Admin(*c).remove(spec->pool, spec->image);
                 });
  rm->add_option("IMAGE", a->spec, "POOL/IMAGE")->required();

  a = std::make_shared<RbdArgs>();
  auto* mv = add(rbd, ctx, action, "rename", "Rename an image", a,
                 [](Context&, client::Client* c, const RbdArgs& x) -> Status {
                   auto spec = image_spec(x.spec, false);
                   if (!spec.ok()) return spec.status();
                   auto to = rbd::parse_image_spec(x.target);
                   std::string dest = to.ok() ? to->image : x.target;
                   if (to.ok() && to->pool != spec->pool) {
                     return Status::InvalidArgument("rename cannot move an image to another pool");
                   }
                   return rbd::Admin(*c).rename(spec->pool, spec->image, dest);
                 });
  mv->add_option("IMAGE", a->spec, "POOL/IMAGE")->required();
  mv->add_option("NEW", a->target, "New name (IMAGE or POOL/IMAGE)")->required();

  // Snapshots.
  auto* snap = rbd->add_subcommand("snap", "Snapshots: create, ls, rm, rollback, protect");
  snap->require_subcommand(1);
  struct SnapVerb {
    const char* verb;
    const char* help;
    int kind;
  };
  for (SnapVerb v : {SnapVerb{"create", "Take a snapshot (POOL/IMAGE@SNAP)", 0},
                     SnapVerb{"rm", "Remove a snapshot", 1},
                     SnapVerb{"rollback", "Roll the image back to a snapshot", 2},
                     SnapVerb{"protect", "Protect a snapshot from removal", 3},
                     SnapVerb{"unprotect", "Allow removing a snapshot", 4}}) {
    a = std::make_shared<RbdArgs>();
    int kind = v.kind;
    auto* s = add(snap, ctx, action, v.verb, v.help, a,
                  [kind](Context&, client::Client* c, const RbdArgs& x) -> Status {
                    auto spec = image_spec(x.spec, true);
                    if (!spec.ok()) return spec.status();
                    if (spec->snap.empty()) return Status::InvalidArgument("expected POOL/IMAGE@SNAP");
                    rbd::Admin admin(*c);
                    switch (kind) {
                      case 0: return admin.snap_create(spec->pool, spec->image, spec->snap);
                      case 1: return admin.snap_remove(spec->pool, spec->image, spec->snap);
                      case 2: return admin.snap_rollback(spec->pool, spec->image, spec->snap);
                      case 3: return admin.snap_protect(spec->pool, spec->image, spec->snap, true);
                      default: return admin.snap_protect(spec->pool, spec->image, spec->snap, false);
                    }
                  });
    s->add_option("SNAP", a->spec, "POOL/IMAGE@SNAP")->required();
  }
  a = std::make_shared<RbdArgs>();
  auto* sls = add(snap, ctx, action, "ls", "List snapshots", a,
                  [](Context& ctx, client::Client* c, const RbdArgs& x) -> Status {
                    auto spec = image_spec(x.spec, false);
                    if (!spec.ok()) return spec.status();
                    auto vh = rbd::Admin(*c).info(spec->pool, spec->image);
                    if (!vh.ok()) return vh.status();
                    if (ctx.json()) {
                      Json arr = Json::array();
                      for (const auto& s : vh->header.snaps) {
                        arr.push_back(Json{{"id", s.id}, {"name", s.name}, {"size", s.size},
                                           {"protected", s.is_protected}});
                      }
                      ctx.print_json(arr);
                      return Status::Ok();
                    }
                    std::string out;
                    for (const auto& s : vh->header.snaps) {
                      out += fmt::format("{}\t{}\t{}{}\n", s.id, s.name, format_bytes(s.size),
                                         s.is_protected ? "\tprotected" : "");
                    }
                    print(out);
                    return Status::Ok();
                  });
  sls->add_option("IMAGE", a->spec, "POOL/IMAGE")->required();
  add_format_option(sls, ctx);

  // Clones.
  a = std::make_shared<RbdArgs>();
  auto* clone = add(rbd, ctx, action, "clone", "Clone a protected snapshot into a new image", a,
                    [](Context&, client::Client* c, const RbdArgs& x) -> Status {
                      auto parent = image_spec(x.spec, true);
                      if (!parent.ok()) return parent.status();
                      if (parent->snap.empty()) {
                        return Status::InvalidArgument("expected POOL/IMAGE@SNAP to clone from");
                      }
                      auto child = image_spec(x.target, false);
                      if (!child.ok()) return child.status();
                      return rbd::Admin(*c).clone(*parent, child->pool, child->image);
                    });
  clone->add_option("SNAP", a->spec, "POOL/IMAGE@SNAP (protected)")->required();
  clone->add_option("CHILD", a->target, "POOL/IMAGE of the new clone")->required();

  a = std::make_shared<RbdArgs>();
  auto* flatten = add(rbd, ctx, action, "flatten", "Copy a clone's parent data in and detach it", a,
                      [](Context&, client::Client* c, const RbdArgs& x) -> Status {
                        auto spec = image_spec(x.spec, false);
                        if (!spec.ok()) return spec.status();
                        return rbd::Admin(*c).flatten(spec->pool, spec->image);
                      });
  flatten->add_option("IMAGE", a->spec, "POOL/IMAGE (a clone)")->required();

  a = std::make_shared<RbdArgs>();
  auto* children = add(rbd, ctx, action, "children", "List the clones of a snapshot", a,
                       [](Context& ctx, client::Client* c, const RbdArgs& x) -> Status {
                         auto spec = image_spec(x.spec, true);
                         if (!spec.ok()) return spec.status();
                         if (spec->snap.empty()) return Status::InvalidArgument("expected POOL/IMAGE@SNAP");
                         auto kids = rbd::Admin(*c).children(*spec);
                         if (!kids.ok()) return kids.status();
                         if (ctx.json()) {
                           Json arr = Json::array();
                           for (const auto& k : *kids) arr.push_back(k.name);
                           ctx.print_json(arr);
                           return Status::Ok();
                         }
                         std::string out;
                         for (const auto& k : *kids) out += k.name + "\n";
                         print(out);
                         return Status::Ok();
                       });
  children->add_option("SNAP", a->spec, "POOL/IMAGE@SNAP")->required();
  add_format_option(children, ctx);

  a = std::make_shared<RbdArgs>();
  auto* brk = add(rbd, ctx, action, "lock-break", "Break an image's exclusive lock (dead holder)", a,
                  [](Context&, client::Client* c, const RbdArgs& x) -> Status {
                    auto spec = image_spec(x.spec, false);
                    if (!spec.ok()) return spec.status();
                    return rbd::Admin(*c).lock_break(spec->pool, spec->image);
                  });
  brk->add_option("IMAGE", a->spec, "POOL/IMAGE")->required();

  // Attach on this node: no cluster connection needed.
  a = std::make_shared<RbdArgs>();
  auto* map = rbd->add_subcommand("map", "Attach an image as a block device (prints its path)");
  map->add_option("IMAGE", a->spec, "POOL/IMAGE[@SNAP]")->required();
  map->add_option("--nbd-uri", a->nbd_uri, "NBD gateway (default: nbd.uri in cluster.json)");
  map->callback([&ctx, action, a] {
    *action = [&ctx, a] { return annotate("rbd map " + a->spec, rbd_map(ctx, *a)); };
  });
  auto b = std::make_shared<RbdArgs>();
  auto* unmap = rbd->add_subcommand("unmap", "Detach a mapped device");
  unmap->add_option("DEVICE", b->spec, "Device path or POOL/IMAGE")->required();
  unmap->callback([action, b] {
    *action = [b] { return annotate("rbd unmap " + b->spec, rbd_unmap(*b)); };
  });
  auto* showmapped = rbd->add_subcommand("showmapped", "List mapped devices");
  add_format_option(showmapped, ctx);
  showmapped->callback([&ctx, action] { *action = [&ctx] { return rbd_showmapped(ctx); }; });
}

}  // namespace cairn::ctl
