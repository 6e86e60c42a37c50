// `run --config FILE`: the file, watched with inotify, and the signals that
// stop or reload the agent.
#pragma once

#include <string>

#include "userspace/agent/source.h"

namespace svcrouter {

class FileSource final : public ManifestSource {
 public:
  // Starts watching at once, so that a change made while the agent starts
  // is not missed. It watches the whole directory: editors replace the file,
  // and a Kubernetes ConfigMap volume swaps a `..data` symlink without
  // touching the file's own name; whether the content really changed is for
  // the caller. Blocks SIGTERM, SIGINT and SIGHUP, which become events.
  explicit FileSource(std::string path);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  const std::string& name() const override { return path_; }
  Result<std::string> read() override;
  Event next(int timeoutMs) override;

 private:
  // Without inotify the file is read again this often.
  static constexpr int kPollSec = 2;
  std::string path_;
  int inotify_ = -1, signals_ = -1;
  bool polling_ = false;
};

}  // namespace svcrouter
