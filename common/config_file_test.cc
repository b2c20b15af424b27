#include "common/config_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace cairn {
namespace {

TEST(ConfigFile, ParsesKeyValueLines) {
  auto r = parse_config(
      "# a comment\n"
      "\n"
      "fsid = abc-123\n"
      "  mon_addrs=127.0.0.1:1,127.0.0.1:2  \r\n"
      "\t# indented comment\n"
      "key_file = /tmp/dir with spaces/keyring\n"
      "empty =\n"
      "hash = a#b\n"
      "eq = a=b");  // no trailing newline
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((ConfigMap{{"fsid", "abc-123"},
                       {"mon_addrs", "127.0.0.1:1,127.0.0.1:2"},
                       {"key_file", "/tmp/dir with spaces/keyring"},
                       {"empty", ""},
                       {"hash", "a#b"},
                       {"eq", "a=b"}}),
            *r);
}

TEST(ConfigFile, ErrorsNameTheLine) {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case& c :
       {Case{"a = 1\nno equals sign\n", "f:2: expected 'key = value'"},
        Case{"a = 1\n\na = 2\n", "f:3: duplicate key 'a'"}, Case{" = 1\n", "f:1: bad key ''"},
        Case{"[global]\n", "f:1: expected"}, Case{"bad key = 1\n", "f:1: bad key 'bad key'"}}) {
    auto r = parse_config(c.text, "f");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(Code::kInvalidArgument, r.status().code());
    EXPECT_NE(std::string::npos, r.status().message().find(c.error)) << r.status().message();
  }
}

class ConfigFileIo : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn_config_test.XXXXXX";
    ASSERT_NE(nullptr, ::mkdtemp(tmpl));
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(ConfigFileIo, WriteThenRead) {
  const std::string path = dir_ + "/cairn.conf";
  ConfigMap in{{"fsid", "f"}, {"mon_addrs", "127.0.0.1:1"}, {"key_file", dir_ + "/keyring"}};
  ASSERT_TRUE(write_config_file(path, in, "written by a test\nsecond line").ok());
  auto out = read_config_file(path);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(in, *out);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
}

TEST_F(ConfigFileIo, MissingFileIsNotFound) {
  EXPECT_EQ(Code::kNotFound, read_config_file(dir_ + "/nope").status().code());
}

TEST_F(ConfigFileIo, AtomicWriteSetsMode) {
  const std::string path = dir_ + "/secret";
  ASSERT_TRUE(write_file_atomic(path, "abc", 0600).ok());
  ASSERT_TRUE(write_file_atomic(path, "abcd", 0600).ok());  // replaces
  struct stat st {};
  ASSERT_EQ(0, ::stat(path.c_str(), &st));
  EXPECT_EQ(0600u, st.st_mode & 0777);
  EXPECT_EQ(4, st.st_size);
  EXPECT_EQ(Code::kIoError, write_file_atomic(dir_ + "/no/such/dir/f", "x").code());
}

TEST(ConfigFile, EnvVar) {
  ::setenv(kConfigEnvVar, "/x/cairn.conf", 1);
  EXPECT_EQ(std::optional<std::string>("/x/cairn.conf"), config_path_from_env());
  ::setenv(kConfigEnvVar, "", 1);
  EXPECT_EQ(std::nullopt, config_path_from_env());
  ::unsetenv(kConfigEnvVar);
  EXPECT_EQ(std::nullopt, config_path_from_env());
}

}  // namespace
}  // namespace cairn
