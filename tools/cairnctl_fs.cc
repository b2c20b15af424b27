// cairnctl fs ...: filesystems (new, ls, status), mounting on this node
// (mount, umount) and subvolumes (create, ls, rm, resize, getpath).
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "client/pools.h"
#include "fs/client/holder.h"
#include "fs/client/mds_client.h"
#include "fs/mds/mds.h"
#include "tools/cairnctl.h"
#include "tools/ctl/util.h"

namespace cairn::ctl {

namespace {

struct FsArgs {
  std::string fs = "cairnfs";
  std::string name;        // subvolume, or filesystem for `fs new`
  std::string mountpoint;
  std::string subvolume;
  std::string size;        // quota bytes, with K/M/G/T
  uint64_t files = 0;
  std::string options;
};

void print(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

Result<fs::MdsReply> mds_call(Context& ctx, const FsArgs& a, fs::MdsRequest req) {
  auto c = ctx.client();
  if (!c.ok()) return c.status();
  if (!(*c)->pool_id(fs::meta_pool_name(a.fs)).ok()) {
    return Status::NotFound("filesystem '" + a.fs + "' does not exist");
  }
  auto cfg = client::load_config(ctx.conf);
  if (!cfg.ok()) return cfg.status();
  fs::MdsClient mdsc(**c, a.fs, "cairnctl", cfg->key, nullptr);
  auto r = mdsc.call(std::move(req), std::chrono::seconds(static_cast<int>(ctx.op_timeout_s)));
  mdsc.close_session();
  if (!r.ok()) return r.status();
  return r;
}

Status errno_status(const std::string& what, int e) {
  Code code = e == ENOENT ? Code::kNotFound
              : e == EEXIST ? Code::kAlreadyExists
                            : Code::kInvalidArgument;
  return Status(code, what + ": " + std::strerror(e));
}

std::string binary_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

int run(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "cairnctl: cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

}  // namespace

void add_fs_commands(CLI::App& app, Context& ctx, Action* action) {
  auto a = std::make_shared<FsArgs>();
  CLI::App* fsc = app.add_subcommand("fs", "Shared filesystems: mount, subvolumes, status");
  fsc->require_subcommand(1);

  CLI::App* mk = fsc->add_subcommand("new", "Create a filesystem (its pools; an MDS serves it)");
  mk->add_option("name", a->name, "Filesystem name")->required();
  mk->callback([&ctx, a, action] {
    *action = [&ctx, a]() -> Status {
      auto c = ctx.client();
      if (!c.ok()) return c.status();
      CAIRN_RETURN_IF_ERROR(client::ensure_pool(**c, fs::meta_pool_name(a->name), 16));
      CAIRN_RETURN_IF_ERROR(client::ensure_pool(**c, fs::data_pool_name(a->name), 64));
      print("filesystem " + a->name + " created (pools " + fs::meta_pool_name(a->name) + ", " +
            fs::data_pool_name(a->name) + "); start a cairn-mds with --fs " + a->name + "\n");
      return Status::Ok();
    };
  });

  CLI::App* ls = fsc->add_subcommand("ls", "List filesystems");
  add_format_option(ls, ctx);
  ls->callback([&ctx, action] {
    *action = [&ctx]() -> Status {
      auto c = ctx.client();
      if (!c.ok()) return c.status();
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      ClusterMap m = (*c)->map();
      for (const auto& [id, p] : m.pools) {
        if (!p.name.ends_with(".meta")) continue;
        std::string name = p.name.substr(0, p.name.size() - 5);
        if (!(*c)->pool_id(fs::data_pool_name(name)).ok()) continue;
        out.push_back({{"name", name},
                       {"metadata_pool", p.name},
                       {"data_pool", fs::data_pool_name(name)}});
      }
      if (ctx.json()) {
        ctx.print_json(out);
      } else {
        for (const auto& f : out) {
          print(fmt::format("{}  (metadata {}, data {})\n", f["name"].get<std::string>(),
                            f["metadata_pool"].get<std::string>(), f["data_pool"].get<std::string>()));
        }
      }
      return Status::Ok();
    };
  });

  CLI::App* st = fsc->add_subcommand("status", "Active MDS, sessions, inode counts");
  st->add_option("--fs", a->fs, "Filesystem (default cairnfs)");
  add_format_option(st, ctx);
  st->callback([&ctx, a, action] {
    *action = [&ctx, a]() -> Status {
      fs::MdsRequest q;
      q.op = fs::MdsOp::kStatus;
      auto r = mds_call(ctx, *a, std::move(q));
      if (!r.ok()) return annotate("fs status", r.status());
      auto j = nlohmann::ordered_json::parse(r->value, nullptr, false);
      if (j.is_discarded()) return Status::Corruption("fs status: unreadable reply");
      if (ctx.json()) {
        ctx.print_json(j);
        return Status::Ok();
      }
      std::string s = fmt::format("filesystem {}\n  mds:      {} active on {}\n",
                                  j["fs"].get<std::string>(), j["name"].get<std::string>(),
                                  j["addr"].get<std::string>());
      s += fmt::format("  inodes:   {} ({} directories), {} bytes in files\n",
                       j["inodes"].get<uint64_t>(), j["directories"].get<uint64_t>(),
                       j["bytes"].get<uint64_t>());
      s += fmt::format("  journal:  entry {} durable, checkpoint at {}\n",
                       j["journal"]["durable_seq"].get<uint64_t>(),
                       j["journal"]["checkpoint_seq"].get<uint64_t>());
      const auto& sessions = j["sessions"];
      s += fmt::format("  sessions: {}\n", sessions.size());
      for (const auto& se : sessions) {
        s += fmt::format("    {}  {}  {} open files{}\n", se["id"].get<uint64_t>(),
                         se["client"].get<std::string>(), se["open_files"].get<uint64_t>(),
                         se["connected"].get<bool>() ? "" : "  (disconnected)");
      }
      print(s);
      return Status::Ok();
    };
  });

  CLI::App* mount = fsc->add_subcommand("mount", "Mount a filesystem here (returns once it is live)");
  mount->add_option("mountpoint", a->mountpoint, "Directory to mount on")->required();
  mount->add_option("--fs", a->fs, "Filesystem (default cairnfs)");
  mount->add_option("--subvolume", a->subvolume, "Mount this subvolume as the root");
  mount->add_option("-o,--options", a->options, "Extra FUSE options (e.g. ro)");
  mount->callback([&ctx, a, action] {
    *action = [&ctx, a]() -> Status {
      bool takeover = false;
      if (fs::is_mounted(a->mountpoint)) {
        // A live mount whose cairn-fuse died or was stopped: start one that
        // takes it over (applications blocked on it carry on).
        auto held = fs::holder_status(a->mountpoint);
        if (!held.ok() || *held != "orphaned") {
          return Status::AlreadyExists("fs mount: something is already mounted on " + a->mountpoint);
        }
        takeover = true;
      } else if (std::error_code ec; !std::filesystem::is_directory(a->mountpoint, ec)) {
        return Status::NotFound("fs mount: " + a->mountpoint + " is not a directory");
      }
      std::string dir = binary_dir();
      std::vector<std::string> argv = {dir.empty() ? "cairn-fuse" : dir + "/cairn-fuse",
                                       a->mountpoint, "--fs", a->fs};
      std::string conf = ctx.conf;
      if (conf.empty() && std::getenv("CAIRN_CONF")) conf = std::getenv("CAIRN_CONF");
      if (!conf.empty()) {
        argv.push_back("--conf");
        argv.push_back(conf);
        argv.push_back("--log");
        argv.push_back((std::filesystem::path(conf).parent_path() / "log" /
                        ("fuse" + std::to_string(getpid()) + ".log")).string());
      }
      if (!a->subvolume.empty()) {
        argv.push_back("--subvolume");
        argv.push_back(a->subvolume);
      }
      if (!a->options.empty()) {
        argv.push_back("-o");
        argv.push_back(a->options);
      }
      if (run(argv) != 0) return Status::IoError("fs mount: mounting " + a->mountpoint + " failed");
      print(std::string(takeover ? "resumed serving " : "mounted ") + a->fs +
            (a->subvolume.empty() ? "" : "/" + a->subvolume) + " on " + a->mountpoint + "\n");
      return Status::Ok();
    };
  });

  CLI::App* umount = fsc->add_subcommand("umount", "Unmount a Cairn filesystem");
  umount->add_option("mountpoint", a->mountpoint, "Mount point")->required();
  umount->callback([a, action] {
    *action = [a]() -> Status {
      if (!fs::is_mounted(a->mountpoint)) {
        return Status::NotFound("fs umount: nothing is mounted on " + a->mountpoint);
      }
      if (run({"fusermount3", "-u", "-q", a->mountpoint}) != 0 &&
          run({"umount", a->mountpoint}) != 0) {
        return Status::Unavailable("fs umount: " + a->mountpoint + " is busy");
      }
      print("unmounted " + a->mountpoint + "\n");
      return Status::Ok();
    };
  });

  CLI::App* sub = fsc->add_subcommand("subvolume", "Subvolumes: directories with quotas");
  sub->require_subcommand(1);
  auto quota_call = [&ctx, a](fs::MdsOp op, const std::string& verb) -> Status {
    fs::MdsRequest q;
    q.op = op;
    q.name = a->name;
    if (!a->size.empty()) {
      auto bytes = parse_size(a->size);
      if (!bytes.ok()) return annotate("fs subvolume " + verb, bytes.status());
      q.size = *bytes;
    }
    q.length = a->files;
    auto r = mds_call(ctx, *a, std::move(q));
    if (!r.ok()) return annotate("fs subvolume " + verb, r.status());
    if (r->err == EEXIST) return Status::AlreadyExists("fs subvolume " + verb + ": " + a->name + " exists");
    if (r->err == ENOENT) return Status::NotFound("fs subvolume " + verb + ": no subvolume " + a->name);
    if (r->err != 0) return errno_status("fs subvolume " + verb + " " + a->name, r->err);
    return Status::Ok();
  };
  CLI::App* sc = sub->add_subcommand("create", "Create a subvolume");
  sc->add_option("name", a->name, "Subvolume name")->required();
  sc->add_option("--fs", a->fs, "Filesystem (default cairnfs)");
  sc->add_option("--size", a->size, "Byte quota, e.g. 10G (default: none)");
  sc->add_option("--files", a->files, "File-count quota (default: none)");
  sc->callback([quota_call, a, action] {
    *action = [quota_call, a]() -> Status {
      CAIRN_RETURN_IF_ERROR(quota_call(fs::MdsOp::kSubvolCreate, "create"));
      print("subvolume " + a->name + " created at /volumes/" + a->name + "\n");
      return Status::Ok();
    };
  });
  CLI::App* sr = sub->add_subcommand("resize", "Change a subvolume's quota");
  sr->add_option("name", a->name, "Subvolume name")->required();
  sr->add_option("--fs", a->fs, "Filesystem (default cairnfs)");
  sr->add_option("--size", a->size, "Byte quota (0: none)")->required();
  sr->add_option("--files", a->files, "File-count quota (0: none)");
  sr->callback([quota_call, a, action] {
    *action = [quota_call, a]() -> Status {
      CAIRN_RETURN_IF_ERROR(quota_call(fs::MdsOp::kSubvolResize, "resize"));
      print("subvolume " + a->name + " quota set to " + a->size + "\n");
      return Status::Ok();
    };
  });
  CLI::App* srm = sub->add_subcommand("rm", "Remove a subvolume and everything in it");
  srm->add_option("name", a->name, "Subvolume name")->required();
  srm->add_option("--fs", a->fs, "Filesystem (default cairnfs)");
  srm->callback([quota_call, a, action] {
    *action = [quota_call, a]() -> Status {
      CAIRN_RETURN_IF_ERROR(quota_call(fs::MdsOp::kSubvolRemove, "rm"));
      print("subvolume " + a->name + " removed\n");
      return Status::Ok();
    };
  });
  CLI::App* sg = sub->add_subcommand("getpath", "Path of a subvolume inside the filesystem");
  sg->add_option("name", a->name, "Subvolume name")->required();
  sg->add_option("--fs", a->fs, "Filesystem (default cairnfs)");
  sg->callback([&ctx, a, action] {
    *action = [&ctx, a]() -> Status {
      fs::MdsRequest q;
      q.op = fs::MdsOp::kResolve;
      q.name = "volumes/" + a->name;
      auto r = mds_call(ctx, *a, std::move(q));
      if (!r.ok()) return annotate("fs subvolume getpath", r.status());
      if (r->err != 0 || r->inode.subvol != r->inode.ino) {
        return Status::NotFound("fs subvolume getpath: no subvolume " + a->name);
      }
      print("/volumes/" + a->name + "\n");
      return Status::Ok();
    };
  });
  CLI::App* sl = sub->add_subcommand("ls", "List subvolumes with quotas and usage");
  sl->add_option("--fs", a->fs, "Filesystem (default cairnfs)");
  add_format_option(sl, ctx);
  sl->callback([&ctx, a, action] {
    *action = [&ctx, a]() -> Status {
      fs::MdsRequest q;
      q.op = fs::MdsOp::kSubvolList;
      auto r = mds_call(ctx, *a, std::move(q));
      if (!r.ok()) return annotate("fs subvolume ls", r.status());
      // Names come from the /volumes directory listing.
      fs::MdsRequest vq;
      vq.op = fs::MdsOp::kResolve;
      vq.name = "volumes";
      auto vol = mds_call(ctx, *a, std::move(vq));
      std::map<fs::Ino, std::string> names;
      if (vol.ok() && vol->err == 0) {
        fs::MdsRequest rq;
        rq.op = fs::MdsOp::kReaddir;
        rq.ino = vol->inode.ino;
        rq.length = 4096;
        auto list = mds_call(ctx, *a, std::move(rq));
        if (list.ok()) {
          for (const auto& e : list->entries) names[e.ino] = e.name;
        }
      }
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      for (const auto& i : r->inodes) {
        out.push_back({{"name", names[i.ino]},
                       {"path", "/volumes/" + names[i.ino]},
                       {"quota_bytes", i.quota_bytes},
                       {"quota_files", i.quota_files},
                       {"used_bytes", i.used_bytes},
                       {"used_files", i.used_files}});
      }
      if (ctx.json()) {
        ctx.print_json(out);
        return Status::Ok();
      }
      for (const auto& s : out) {
        uint64_t qb = s["quota_bytes"].get<uint64_t>();
        print(fmt::format("{}  used {} bytes in {} files, quota {}\n", s["name"].get<std::string>(),
                          s["used_bytes"].get<uint64_t>(), s["used_files"].get<uint64_t>(),
                          qb == 0 ? std::string("none") : std::to_string(qb) + " bytes"));
      }
      return Status::Ok();
    };
  });
}

}  // namespace cairn::ctl
