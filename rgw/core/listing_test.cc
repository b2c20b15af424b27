// The listing merge against a single sorted index: same answer for every
// shard count, page size, prefix, delimiter and max-keys.
#include "rgw/core/listing.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "rgw/core/model.h"

namespace cairn::rgw {
namespace {

struct Expected {
  std::vector<std::string> keys, prefixes;
  bool truncated = false;
};

// The reference: one pass over all keys in order.
Expected reference(const std::vector<std::string>& all, const ListParams& p) {
  Expected e;
  std::string last_cp;
  for (const std::string& k : all) {
    if (k <= p.marker || !k.starts_with(p.prefix)) continue;
    std::string cp;
    if (!p.delimiter.empty()) {
      size_t d = k.find(p.delimiter, p.prefix.size());
      if (d != std::string::npos) cp = k.substr(0, d + p.delimiter.size());
    }
    if (!cp.empty() && cp == last_cp) continue;
    if (!cp.empty() && p.marker == cp) continue;  // marker is a rolled-up prefix
    if (e.keys.size() + e.prefixes.size() >= p.max_keys) {
      e.truncated = true;
      break;
    }
    if (!cp.empty()) {
      e.prefixes.push_back(cp);
      last_cp = cp;
    } else {
      e.keys.push_back(k);
    }
  }
  return e;
}

ListState run(const std::vector<std::string>& all, const ListParams& p, uint32_t shards,
              uint32_t page) {
  std::vector<std::map<std::string, std::string>> idx(shards);
  for (const std::string& k : all) idx[index_shard(k, shards)][k] = "v" + k;
  ListState st = start_listing(p);
  int rounds = 0;
  while (!st.done) {
    EXPECT_LT(++rounds, 100000);
    std::vector<ShardPage> pages;
    for (auto& m : idx) {
      ShardPage pg;
      for (auto it = m.upper_bound(st.cursor); it != m.end(); ++it) {
        if (!it->first.starts_with(p.prefix)) continue;
        if (pg.entries.size() == page) {
          pg.more = true;
          break;
        }
        pg.entries.emplace_back(it->first, it->second);
      }
      pages.push_back(std::move(pg));
    }
    merge_round(p, std::move(pages), &st);
  }
  return st;
}

TEST(Listing, MatchesReferenceRandomized) {
  const uint64_t seed = 20240501;
  std::mt19937_64 rng(seed);
  std::vector<std::string> all;
  const char* parts[] = {"a", "b", "dir", "x y", "é"};
  for (int i = 0; i < 600; ++i) {
    std::string k;
    int depth = 1 + static_cast<int>(rng() % 3);
    for (int d = 0; d < depth; ++d) {
      if (d) k += "/";
      k += parts[rng() % 5];
      k += std::to_string(rng() % 7);
    }
    all.push_back(k);
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  for (int iter = 0; iter < 300; ++iter) {
    ListParams p;
    if (rng() % 2) p.prefix = std::string(parts[rng() % 5]).substr(0, 1 + rng() % 2);
    if (rng() % 2) p.delimiter = "/";
    if (rng() % 3 == 0) p.marker = all[rng() % all.size()];
    p.max_keys = 1 + static_cast<uint32_t>(rng() % 50);
    uint32_t shards = 1 + static_cast<uint32_t>(rng() % 9);
    uint32_t page = 1 + static_cast<uint32_t>(rng() % 20);
    ListState st = run(all, p, shards, page);
    Expected want = reference(all, p);
    std::vector<std::string> got;
    for (auto& [k, v] : st.contents) got.push_back(k);
    SCOPED_TRACE("seed " + std::to_string(seed) + " iter " + std::to_string(iter) + " prefix '" +
                 p.prefix + "' delim '" + p.delimiter + "' marker '" + p.marker + "' max " +
                 std::to_string(p.max_keys) + " shards " + std::to_string(shards) + " page " +
                 std::to_string(page));
    EXPECT_EQ(got, want.keys);
    EXPECT_EQ(st.prefixes, want.prefixes);
    EXPECT_EQ(st.truncated, want.truncated);
  }
}

TEST(Listing, PaginationVisitsEveryKeyOnce) {
  std::vector<std::string> all;
  for (int i = 0; i < 1000; ++i) all.push_back("k" + std::to_string(100000 + i));
  for (uint32_t shards : {1u, 4u, 8u}) {
    ListParams p;
    p.max_keys = 37;
    std::vector<std::string> seen;
    for (;;) {
      ListState st = run(all, p, shards, 10);
      for (auto& [k, v] : st.contents) seen.push_back(k);
      if (!st.truncated) break;
      p.marker = st.next_marker;
    }
    EXPECT_EQ(seen, all);
  }
}

TEST(Listing, CommonPrefixContinuation) {
  std::vector<std::string> all = {"a/1", "a/2", "a/3", "b/1", "c", "d/1"};
  ListParams p;
  p.delimiter = "/";
  p.max_keys = 1;
  std::vector<std::string> seen;
  for (int i = 0; i < 10; ++i) {
    ListState st = run(all, p, 3, 1);
    for (auto& cp : st.prefixes) seen.push_back(cp);
    for (auto& [k, v] : st.contents) seen.push_back(k);
    if (!st.truncated) break;
    p.marker = st.next_marker;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a/", "b/", "c", "d/"}));
}

// ListObjectVersions: per shard a stream of KEY \x01 VKEY entries and a
// stream of placeholders (the current entries, KEY \x01 with an empty
// value); pages of any size, delimiters and continuation from any point
// list every version exactly once, in (key, newest first) order.
TEST(Listing, VersionsModeWithPlaceholders) {
  std::mt19937_64 rng(7);
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i) {
    keys.push_back(std::string(1, static_cast<char>('a' + rng() % 3)) + (rng() % 2 ? "/" : "") +
                   std::to_string(rng() % 30));
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::vector<std::string> all;  // sort keys of every version
  for (const std::string& k : keys) {
    int n = 1 + static_cast<int>(rng() % 4);
    for (int v = 0; v < n; ++v) all.push_back(k + kVersionSep + new_version_key(1000000 + rng() % 1000));
  }
  std::sort(all.begin(), all.end());
  for (uint32_t shards : {1u, 3u, 8u}) {
    for (uint32_t page : {1u, 2u, 5u}) {
      for (std::string delim : {"", "/"}) {
        std::vector<std::map<std::string, std::string>> vidx(shards), iidx(shards);
        for (const std::string& sk : all) {
          std::string k = split_version_sort_key(sk).first;
          vidx[index_shard(k, shards)][sk] = "entry";
          iidx[index_shard(k, shards)][k + kVersionSep] = "";
        }
        ListParams p;
        p.versions = true;
        p.delimiter = delim;
        p.max_keys = 1 + static_cast<uint32_t>(rng() % 7);
        std::vector<std::string> seen, prefixes;
        for (int calls = 0; calls < 10000; ++calls) {
          ListState st = start_listing(p);
          while (!st.done) {
            std::vector<ShardPage> pages;
            for (uint32_t s = 0; s < shards; ++s) {
              for (auto* m : {&vidx[s], &iidx[s]}) {
                ShardPage pg;
                for (auto it = m->upper_bound(st.cursor); it != m->end(); ++it) {
                  if (pg.entries.size() == page) {
                    pg.more = true;
                    break;
                  }
                  pg.entries.emplace_back(it->first, it->second);
                }
                pages.push_back(std::move(pg));
              }
            }
            merge_round(p, std::move(pages), &st);
          }
          for (auto& [k, v] : st.contents) seen.push_back(k);
          for (auto& cp : st.prefixes) prefixes.push_back(cp);
          if (!st.truncated) break;
          if (!st.prefixes.empty() && st.next_marker == st.prefixes.back()) {
            p.marker = skip_prefix_cursor(st.next_marker);
          } else {
            p.marker = st.next_marker;
          }
        }
        std::vector<std::string> want, want_prefixes;
        for (const std::string& sk : all) {
          std::string k = split_version_sort_key(sk).first;
          size_t d = delim.empty() ? std::string::npos : k.find(delim);
          if (d == std::string::npos) {
            want.push_back(sk);
          } else if (want_prefixes.empty() || want_prefixes.back() != k.substr(0, d + 1)) {
            want_prefixes.push_back(k.substr(0, d + 1));
          }
        }
        SCOPED_TRACE("shards " + std::to_string(shards) + " page " + std::to_string(page) +
                     " delim '" + delim + "'");
        EXPECT_EQ(seen, want);
        EXPECT_EQ(prefixes, want_prefixes);
      }
    }
  }
}

TEST(Listing, VersionKeysSortNewestFirst) {
  std::string older = new_version_key(1'700'000'000'000'000);
  std::string newer = new_version_key(1'700'000'000'000'001);
  EXPECT_LT(newer, older);
  EXPECT_TRUE(valid_version_key(older));
  EXPECT_FALSE(valid_version_key("null"));
  EXPECT_FALSE(valid_version_key(std::string(32, 'G')));
  auto [k, v] = split_version_sort_key("a/b" + std::string(1, kVersionSep) + older);
  EXPECT_EQ(k, "a/b");
  EXPECT_EQ(v, older);
}

}  // namespace
}  // namespace cairn::rgw
