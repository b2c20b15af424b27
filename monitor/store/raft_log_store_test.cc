#include "monitor/store/raft_log_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "monitor/core/raft.h"

namespace cairn::mon {
namespace {

namespace fs = std::filesystem;
using raft::Entry;
using raft::EntryType;
using raft::HardState;
using raft::Ready;
using raft::Snapshot;

class RaftLogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("raft_log_store_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    reopen();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  void reopen() {
    store_.reset();
    auto s = RaftLogStore::open(dir_.string());
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    store_ = std::move(*s);
  }
  raft::PersistentState load() {
    auto ps = store_->load();
    EXPECT_TRUE(ps.ok()) << ps.status().to_string();
    return ps.ok() ? std::move(*ps) : raft::PersistentState{};
  }
  static std::vector<Entry> entries(raft::Index from, std::vector<raft::Term> terms) {
    std::vector<Entry> out;
    for (auto t : terms) {
      out.push_back(
          Entry{t, from, EntryType::kNormal, "d" + std::to_string(from) + "." + std::to_string(t)});
      ++from;
    }
    return out;
  }
  static std::vector<std::pair<raft::Index, raft::Term>> ids(const std::vector<Entry>& es) {
    std::vector<std::pair<raft::Index, raft::Term>> out;
    for (const Entry& e : es) out.emplace_back(e.index, e.term);
    return out;
  }

  fs::path dir_;
  std::unique_ptr<RaftLogStore> store_;
};

TEST_F(RaftLogStoreTest, EmptyStoreLoadsDefaults) {
  auto ps = load();
  EXPECT_EQ(ps.hard_state, HardState{});
  EXPECT_FALSE(ps.snapshot);
  EXPECT_TRUE(ps.entries.empty());
  EXPECT_TRUE(ps.initial_voters.empty());
  EXPECT_EQ(store_->last_index(), 0u);
}

TEST_F(RaftLogStoreTest, SaveLoadRoundTripAcrossReopen) {
  Ready rd;
  rd.hard_state = HardState{3, 2, 2};
  rd.entries = entries(1, {1, 2, 3});
  rd.entries[1].type = EntryType::kConfChange;
  ASSERT_TRUE(store_->save(rd).ok());
  reopen();
  auto ps = load();
  EXPECT_EQ(ps.hard_state, (HardState{3, 2, 2}));
  EXPECT_EQ(ps.entries, rd.entries);
  EXPECT_EQ(store_->last_index(), 3u);
  // A ready with only a hard state keeps the entries.
  Ready hs_only;
  hs_only.hard_state = HardState{4, raft::kNoNode, 3};
  ASSERT_TRUE(store_->save(hs_only).ok());
  ps = load();
  EXPECT_EQ(ps.hard_state, (HardState{4, raft::kNoNode, 3}));
  EXPECT_EQ(ps.entries.size(), 3u);
}

TEST_F(RaftLogStoreTest, TruncatesConflictingSuffix) {
  struct Case {
    const char* name;
    raft::Index first;
    std::vector<raft::Term> terms;
    std::vector<std::pair<raft::Index, raft::Term>> want;
  };
  const Case cases[] = {
      {"append", 6, {2}, {{1, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}, {6, 2}}},
      {"replace tail", 4, {3}, {{1, 1}, {2, 1}, {3, 1}, {4, 3}}},
      {"replace all", 1, {4, 4}, {{1, 4}, {2, 4}}},
      // Everything from the first new entry on is replaced, even a longer tail.
      {"replace with shorter", 3, {1, 1}, {{1, 1}, {2, 1}, {3, 1}, {4, 1}}},
  };
  for (const Case& tc : cases) {
    SetUp();
    Ready base;
    base.entries = entries(1, {1, 1, 1, 1, 1});
    ASSERT_TRUE(store_->save(base).ok());
    Ready rd;
    rd.entries = entries(tc.first, tc.terms);
    ASSERT_TRUE(store_->save(rd).ok()) << tc.name;
    reopen();
    EXPECT_EQ(ids(load().entries), tc.want) << tc.name;
    EXPECT_EQ(store_->last_index(), tc.want.back().first) << tc.name;
  }
  // A gap is refused, not stored.
  Ready gap;
  gap.entries = entries(100, {9});
  EXPECT_FALSE(store_->save(gap).ok());
}

TEST_F(RaftLogStoreTest, LongTruncationUsesRangeDelete) {
  Ready base;
  base.entries = entries(1, std::vector<raft::Term>(3000, 1));
  ASSERT_TRUE(store_->save(base).ok());
  Ready rd;
  rd.entries = entries(10, {2});
  ASSERT_TRUE(store_->save(rd).ok());
  reopen();
  auto ps = load();
  ASSERT_EQ(ps.entries.size(), 10u);
  EXPECT_EQ(ps.entries.back().term, 2u);
  EXPECT_EQ(store_->last_index(), 10u);
}

TEST_F(RaftLogStoreTest, CompactKeepsSnapshotAndLaterEntries) {
  Ready rd;
  rd.hard_state = HardState{2, 1, 8};
  rd.entries = entries(1, {1, 1, 2, 2, 2, 2, 2, 2, 2, 2});
  ASSERT_TRUE(store_->save(rd).ok());
  Snapshot snap{6, 2, {1, 2, 3}, "state@6"};
  ASSERT_TRUE(store_->compact(snap).ok());
  EXPECT_EQ(store_->first_index(), 7u);
  reopen();
  auto ps = load();
  ASSERT_TRUE(ps.snapshot);
  EXPECT_EQ(*ps.snapshot, snap);
  EXPECT_EQ(ids(ps.entries),
            (std::vector<std::pair<raft::Index, raft::Term>>{{7, 2}, {8, 2}, {9, 2}, {10, 2}}));
  EXPECT_EQ(store_->first_index(), 7u);
  EXPECT_EQ(store_->last_index(), 10u);
  // Compacting to an older index is a no-op.
  ASSERT_TRUE(store_->compact(Snapshot{3, 1, {1}, "old"}).ok());
  EXPECT_EQ(load().snapshot->index, 6u);
  // New entries after a compaction still append and truncate correctly.
  Ready more;
  more.entries = entries(9, {3, 3, 3});
  ASSERT_TRUE(store_->save(more).ok());
  EXPECT_EQ(ids(load().entries), (std::vector<std::pair<raft::Index, raft::Term>>{
                                     {7, 2}, {8, 2}, {9, 3}, {10, 3}, {11, 3}}));
}

TEST_F(RaftLogStoreTest, InstalledSnapshotReplacesLog) {
  Ready rd;
  rd.entries = entries(1, {1, 1, 1, 1});
  ASSERT_TRUE(store_->save(rd).ok());
  Ready install;
  install.snapshot = Snapshot{20, 5, {1, 2, 3}, "leader state"};
  install.hard_state = HardState{5, raft::kNoNode, 20};
  install.entries = entries(21, {5, 5});
  ASSERT_TRUE(store_->save(install).ok());
  reopen();
  auto ps = load();
  ASSERT_TRUE(ps.snapshot);
  EXPECT_EQ(ps.snapshot->data, "leader state");
  EXPECT_EQ(ids(ps.entries), (std::vector<std::pair<raft::Index, raft::Term>>{{21, 5}, {22, 5}}));
  EXPECT_EQ(ps.hard_state.commit, 20u);
}

TEST_F(RaftLogStoreTest, Metadata) {
  EXPECT_TRUE(store_->get_meta("my id").status().is(Code::kNotFound));
  ASSERT_TRUE(store_->put_meta("my id", "3").ok());
  ASSERT_TRUE(store_->put_meta("cluster", std::string("a\0b", 3)).ok());
  reopen();
  EXPECT_EQ(*store_->get_meta("my id"), "3");
  EXPECT_EQ(*store_->get_meta("cluster"), std::string("a\0b", 3));
  // Metadata does not leak into the log.
  EXPECT_TRUE(load().entries.empty());
}

TEST_F(RaftLogStoreTest, SecondOpenOfSameDirFails) {
  auto second = RaftLogStore::open(dir_.string());
  EXPECT_FALSE(second.ok());
}

// The store drives a real node through restart: what load() returns brings a
// node back with the same log and commit index.
TEST_F(RaftLogStoreTest, NodeRestartsFromStore) {
  raft::Options o;
  o.id = 1;
  {
    raft::PersistentState ps = load();
    ps.initial_voters = {1};
    raft::Node node(o, std::move(ps));
    for (int i = 0; i < 30 && node.role() != raft::Role::kLeader; ++i) {
      node.tick();
      while (node.has_ready()) {
        ASSERT_TRUE(store_->save(node.ready()).ok());
        node.advance();
      }
    }
    ASSERT_EQ(node.role(), raft::Role::kLeader);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(node.propose("v" + std::to_string(i)).ok());
    while (node.has_ready()) {
      ASSERT_TRUE(store_->save(node.ready()).ok());
      node.advance();
    }
    ASSERT_TRUE(node.compact(node.applied_index() - 2, "snap").ok());
    ASSERT_TRUE(store_->compact(*node.snapshot()).ok());
    EXPECT_EQ(store_->first_index(), node.first_index());
  }
  reopen();
  raft::PersistentState ps = load();
  ps.initial_voters = {1};  // ignored: the store has a log
  raft::Node node(o, std::move(ps));
  EXPECT_EQ(node.last_index(), 1u + 1 + 5);  // bootstrap conf entry, no-op, 5 proposals
  EXPECT_EQ(node.commit_index(), node.last_index());
  EXPECT_EQ(node.voters(), std::vector<raft::NodeId>{1});
  raft::Ready rd = node.ready();
  ASSERT_EQ(rd.committed.size(), 2u);  // re-applied after the snapshot
  EXPECT_EQ(rd.committed.back().data, "v4");
  node.advance();
}

}  // namespace
}  // namespace cairn::mon
