// What the agent follows: a source of Kubernetes objects and the events
// that tell it to look again. FileSource (file_source.h) is a manifest file
// (`run --config`), KubeSource (kube_source.h) the API server (`run
// --kubernetes`); unit tests script their own.
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "maps/error.h"
#include "userspace/core/desired.h"
#include "userspace/k8s/objects.h"

namespace svcrouter {

class Source {
 public:
  // Why the agent woke up.
  enum class Event {
    kChanged,  // what objects() returns has changed
    kTimeout,  // nothing happened within the timeout
    kReload,   // apply again even if nothing changed (SIGHUP)
    kStop,     // stop following (SIGTERM, SIGINT)
  };
  static constexpr int kForever = -1;

  virtual ~Source() = default;
  // Names the source in messages: the file's path, the API server.
  virtual const std::string& name() const = 0;
  // Waits up to timeoutMs (kForever: no limit) for the next event.
  virtual Event next(int timeoutMs) = 0;
  // Whether the source has seen everything once (the API server's first
  // lists). Until then nothing is programmed or pruned: the pinned table
  // keeps serving as it is.
  virtual bool synced() const { return true; }
  // The objects now; an error is bad input and names where it is.
  [[nodiscard]] virtual Result<Objects> objects() = 0;
  // What to do with objects that cannot all be served together.
  virtual InputCheck inputCheck() const = 0;
  // Which Services changed since the last call of objects() or changes(),
  // with the objects of just those (their EndpointSlices, and this Node),
  // when the source keeps track; nullopt when anything may have changed
  // (the agent then calls objects()).
  struct Changes {
    std::set<std::pair<std::string, std::string>> services;  // (namespace, name)
    Objects objects;
  };
  [[nodiscard]] virtual std::optional<Changes> changes() { return std::nullopt; }
  // When the changes seen since the last call were made upstream (the
  // EndpointSlices' last-change-trigger-time), for the network programming
  // latency; called after they are programmed.
  virtual std::vector<std::chrono::system_clock::time_point> takeTriggerTimes() { return {}; }
};

}  // namespace svcrouter
