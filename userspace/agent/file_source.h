// `run --config FILE`: the file, watched with inotify, and the signals that
// stop or reload the agent.
#pragma once

#include <string>

#include "userspace/agent/signals.h"
#include "userspace/agent/source.h"

namespace svcrouter {

class FileSource final : public Source {
 public:
  // Starts watching at once, so that a change made while the agent starts
  // is not missed. It watches the whole directory: editors replace the file,
  // and a Kubernetes ConfigMap volume swaps a `..data` symlink without
  // touching the file's own name. next() reads the file on each event and
  // says kChanged only when its content differs from what objects() last
  // parsed.
  explicit FileSource(std::string path);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  const std::string& name() const override { return path_; }
  Event next(int timeoutMs) override;
  Result<Objects> objects() override;
  InputCheck inputCheck() const override { return InputCheck::kStrict; }

 private:
  // Reads the file; true when what it holds (or the error) changed.
  bool reread();

  // Without inotify the file is read again this often.
  static constexpr int kPollSec = 2;
  std::string path_;
  Signals signals_;
  int inotify_ = -1;
  bool polling_ = false;
  bool read_ = false;
  // What reread() found: the text until objects() has parsed it (then
  // released: a large file is not kept twice, as text and as objects), and
  // a digest of it to tell a change; or the error.
  Result<std::string> text_ = std::string();
  bool released_ = false;
  size_t digest_ = 0, size_ = 0;
};

}  // namespace svcrouter
