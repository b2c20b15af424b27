#include "rgw/core/listing.h"

#include <algorithm>

namespace cairn::rgw {

std::string skip_prefix_cursor(const std::string& prefix) { return prefix + "\xff"; }

namespace {
// The common prefix key rolls up into, or "" if none.
std::string rollup(const ListParams& p, const std::string& sort_key) {
  if (p.delimiter.empty() || !sort_key.starts_with(p.prefix)) return {};
  std::string_view key = sort_key;
  if (p.versions) key = key.substr(0, key.rfind('\x01'));
  size_t d = key.find(p.delimiter, p.prefix.size());
  if (d == std::string::npos) return {};
  return std::string(key.substr(0, d + p.delimiter.size()));
}
}  // namespace

ListState start_listing(const ListParams& p) {
  ListState st;
  st.cursor = p.marker;
  if (p.versions) {  // the caller resolved key-marker/version-id-marker into a sort key
    st.done = p.max_keys == 0;
    return st;
  }
  // A marker that is itself a common prefix means "after everything in it".
  if (!p.marker.empty() && !p.delimiter.empty() && rollup(p, p.marker) == p.marker) {
    st.cursor = skip_prefix_cursor(p.marker);
  }
  if (p.max_keys == 0) {
    st.done = true;
  }
  return st;
}

void merge_round(const ListParams& p, std::vector<ShardPage> pages, ListState* st) {
  // The merge may only go up to the smallest last key among shards that have
  // more: beyond it, a key of that shard could be missing.
  bool bounded = false;
  std::string bound;
  std::vector<std::pair<std::string, std::string>> all;
  for (ShardPage& pg : pages) {
    if (pg.more && !pg.entries.empty()) {
      if (!bounded || pg.entries.back().first < bound) bound = pg.entries.back().first;
      bounded = true;
    }
    for (auto& kv : pg.entries) all.push_back(std::move(kv));
  }
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const uint32_t max = p.max_keys;
  auto count = [&] { return st->contents.size() + st->prefixes.size(); };
  std::string skip;  // current rolled-up prefix
  if (!st->prefixes.empty() && st->next_marker == st->prefixes.back()) skip = st->prefixes.back();
  for (auto& [key, val] : all) {
    if (bounded && key > bound) break;
    if (key <= st->cursor) continue;
    if (!key.starts_with(p.prefix)) continue;
    if (p.versions && val.empty()) continue;  // placeholder
    if (!skip.empty() && key.starts_with(skip)) {
      st->cursor = key;
      continue;
    }
    std::string cp = rollup(p, key);
    if (count() >= max) {
      st->truncated = true;
      st->done = true;
      return;
    }
    if (!cp.empty()) {
      st->prefixes.push_back(cp);
      st->next_marker = cp;
      skip = cp;
      st->cursor = key;
    } else {
      st->contents.emplace_back(key, std::move(val));
      st->next_marker = key;
      st->cursor = key;
    }
  }
  if (!bounded) {
    st->done = true;
    return;
  }
  // Continue after the bound; a prefix we are inside is skipped wholesale.
  st->cursor = std::max(st->cursor, bound);
  if (!skip.empty() && st->cursor.starts_with(skip)) st->cursor = skip_prefix_cursor(skip);
}

}  // namespace cairn::rgw
