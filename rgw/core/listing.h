// ListObjects as a merge: the bucket index is sharded over N omap objects;
// a listing fetches one sorted page from each shard, merges them and rolls
// keys up into CommonPrefixes. Pure: the store feeds pages round by round.
//
//   ListState st = start_listing(params);
//   while (!st.done) {
//     pages = for each shard: omap_list(shard, after=st.cursor, prefix, page_size)
//     merge_round(params, pages, &st);
//   }
//   -> st.contents, st.prefixes, st.truncated, st.next_marker
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cairn::rgw {

struct ListParams {
  std::string prefix;
  std::string delimiter;
  std::string marker;  // list keys strictly after this
  uint32_t max_keys = 1000;
  // ListObjectVersions: sort keys are KEY \x01 VKEY (model.h); delimiters
  // roll up on KEY only, and entries with an empty value are placeholders
  // that only bound the merge (never listed).
  bool versions = false;
};

struct ShardPage {
  std::vector<std::pair<std::string, std::string>> entries;  // sorted by key
  bool more = false;  // the shard has keys after the last one here
};

struct ListState {
  std::string cursor;  // next round lists after this key
  std::vector<std::pair<std::string, std::string>> contents;
  std::vector<std::string> prefixes;
  bool truncated = false;
  bool done = false;
  // Last key or common prefix returned: S3's NextMarker, and where a
  // continuation resumes (after skipping that prefix's keys).
  std::string next_marker;
};

ListState start_listing(const ListParams& p);
// Merges one round. Keys beyond the smallest "last key" of a shard that has
// more are left for the next round, so the result is the same as a scan of
// one sorted index.
void merge_round(const ListParams& p, std::vector<ShardPage> pages, ListState* st);

// The smallest string greater than every string that starts with prefix
// (used as `after` to skip a whole common prefix). Keys are UTF-8, which never
// contains byte 0xFF.
std::string skip_prefix_cursor(const std::string& prefix);

}  // namespace cairn::rgw
