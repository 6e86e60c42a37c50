// FileSource: the file followed by `run --config`, with inotify, in a
// temporary directory (no privileges needed).
#include "userspace/agent/file_source.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace svcrouter {
namespace {

namespace fs = std::filesystem;
using Event = Source::Event;

class FileSourceTest : public ::testing::Test {
 protected:
  FileSourceTest() {
    char tmpl[] = "/tmp/svcr-filesource.XXXXXX";
    dir_ = mkdtemp(tmpl);
    file_ = dir_ / "services.yaml";
    write(service("10.96.0.10"));
  }
  ~FileSourceTest() override { fs::remove_all(dir_); }

  static std::string service(const char* vip) {
    return std::string("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {clusterIP: ") +
           vip + ", ports: [{port: 80}]}\n";
  }
  // As an editor does: a new file renamed over the old one.
  void write(const std::string& text) {
    auto tmp = dir_ / ".tmp";
    std::ofstream(tmp) << text;
    fs::rename(tmp, file_);
  }

  fs::path dir_, file_;
};

TEST_F(FileSourceTest, ChangedOnlyWhenTheContentChanges) {
  FileSource source(file_);
  auto first = source.objects();
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->services.at(0).clusterIPs.at(0).str(), "10.96.0.10");
  EXPECT_EQ(source.next(50), Event::kTimeout);
  write(service("10.96.0.10"));  // the same again: not a change
  EXPECT_EQ(source.next(200), Event::kTimeout);
  write(service("10.96.0.11"));
  EXPECT_EQ(source.next(2000), Event::kChanged);
  EXPECT_EQ(source.objects()->services.at(0).clusterIPs.at(0).str(), "10.96.0.11");
}

TEST_F(FileSourceTest, ConfigMapSymlinkSwap) {
  // kubelet's AtomicWriter: ..data points at a directory, swapped by rename.
  fs::create_directories(dir_ / "v1");
  fs::create_directories(dir_ / "v2");
  std::ofstream(dir_ / "v1" / "s.yaml") << service("10.96.0.20");
  std::ofstream(dir_ / "v2" / "s.yaml") << service("10.96.0.21");
  fs::create_directory_symlink("v1", dir_ / "..data");
  fs::create_symlink("..data/s.yaml", dir_ / "s.yaml");
  FileSource source((dir_ / "s.yaml").string());
  EXPECT_EQ(source.objects()->services.at(0).clusterIPs.at(0).str(), "10.96.0.20");
  fs::create_directory_symlink("v2", dir_ / "..data_tmp");
  fs::rename(dir_ / "..data_tmp", dir_ / "..data");
  EXPECT_EQ(source.next(2000), Event::kChanged);
  EXPECT_EQ(source.objects()->services.at(0).clusterIPs.at(0).str(), "10.96.0.21");
}

TEST_F(FileSourceTest, AMissingOrBadFileIsBadInput) {
  FileSource source(file_);
  ASSERT_TRUE(source.objects());
  fs::remove(file_);
  EXPECT_EQ(source.next(2000), Event::kChanged);
  auto gone = source.objects();
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().what, "cannot read " + file_.string());
  write("kind: [");
  EXPECT_EQ(source.next(2000), Event::kChanged);
  auto bad = source.objects();
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().what.find("invalid YAML"), std::string::npos) << bad.error().what;
}

}  // namespace
}  // namespace svcrouter
