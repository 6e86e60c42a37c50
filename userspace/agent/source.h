// What the agent follows: a source of Kubernetes manifests and the events
// that tell it to look again. FileSource (file_source.h) is the real one
// (`run --config`); unit tests script their own.
#pragma once

#include <string>

#include "maps/error.h"

namespace svcrouter {

class ManifestSource {
 public:
  // Why the agent woke up.
  enum class Event {
    kMaybeChanged,  // the content may have changed: read it and compare
    kTimeout,       // nothing happened within the timeout
    kReload,        // apply again even if the content is the same (SIGHUP)
    kStop,          // stop following (SIGTERM, SIGINT)
  };
  static constexpr int kForever = -1;

  virtual ~ManifestSource() = default;
  // Names the source in messages: the file's path.
  virtual const std::string& name() const = 0;
  // The current content.
  [[nodiscard]] virtual Result<std::string> read() = 0;
  // Waits up to timeoutMs (kForever: no limit) for the next event.
  virtual Event next(int timeoutMs) = 0;
};

}  // namespace svcrouter
