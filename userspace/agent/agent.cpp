#include "userspace/agent/agent.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "userspace/core/reconciler.h"
#include "userspace/k8s/manifest.h"

namespace svcrouter {

namespace {
constexpr const char* kZoneLabel = "topology.kubernetes.io/zone";
}

Result<DesiredState> desiredState(const Objects& objects, SelectOptions select, InputCheck check) {
  for (const auto& w : objects.warnings) spdlog::warn("{}", w);
  if (objects.node) {
    auto zone = objects.node->labels.find(kZoneLabel);
    select.nodeZone = zone == objects.node->labels.end() ? "" : zone->second;
  }
  SVCR_ASSIGN_OR_RETURN(auto want, buildDesiredState(objects, select, check));
  for (const auto& w : want.warnings) spdlog::warn("{}", w);
  return want;
}

Result<DesiredState> desiredFromManifests(const std::string& text, const std::string& file,
                                          const SelectOptions& select) {
  auto start = std::chrono::steady_clock::now();
  SVCR_ASSIGN_OR_RETURN(auto objects, parseManifests(text, file));
  spdlog::debug(
      "read {} in {:.1f} ms", file,
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  return desiredState(objects, select, InputCheck::kStrict);
}

Agent::Agent(maps::Table& table, Options options, std::ostream& out)
    : table_(table), options_(std::move(options)), out_(out) {}

Result<void> Agent::apply(const std::string& source, const DesiredState& want) {
  published_ = {};
  SVCR_ASSIGN_OR_RETURN(auto plan, reconcile(table_, want, defaultCapacity(), [this] {
                          published_ = std::chrono::system_clock::now();
                        }));
  out_ << summarize(source, want, plan, options_.listAllChanges) << std::flush;
  return {};
}

Agent::Outcome Agent::sync(Source& source) {
  auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  auto objects = source.objects();
  if (!objects) {
    spdlog::error("{}", objects.error().message());
    report(source, {}, Outcome::kBadInput, seconds());
    return Outcome::kBadInput;
  }
  auto want = desiredState(*objects, options_.select, source.inputCheck());
  if (!want) {
    spdlog::error("{}", want.error().message());
    report(source, *objects, Outcome::kBadInput, seconds());
    return Outcome::kBadInput;
  }
  spdlog::debug("objects and desired state in {:.1f} ms", seconds() * 1000);
  if (auto applied = apply(source.name(), *want); !applied) {
    spdlog::error("{}", applied.error().message());
    report(source, *objects, Outcome::kKernelError, seconds());
    return Outcome::kKernelError;
  }
  report(source, *objects, Outcome::kApplied, seconds());
  return Outcome::kApplied;
}

void Agent::report(Source& source, const Objects& objects, Outcome outcome, double seconds) {
  auto now = std::chrono::system_clock::now();
  if (options_.health) {
    if (objects.node) options_.health->setNodeEligible(!objects.node->deleting);
    if (outcome == Outcome::kKernelError)
      options_.health->failed();
    else
      options_.health->updated(now);  // a bad input keeps the table it has: nothing is pending
  }
  if (options_.metrics) {
    if (outcome == Outcome::kBadInput)
      options_.metrics->configError();
    else
      options_.metrics->sync(seconds, outcome == Outcome::kApplied);
  }
  if (outcome != Outcome::kApplied) return;
  // Programmed when the datapath serves it: at the flips, before the grace
  // period that reclaims what they retired.
  auto programmed = published_.value_or(now);
  for (auto t : source.takeTriggerTimes())
    if (options_.metrics)
      options_.metrics->networkProgramming(std::chrono::duration<double>(programmed - t).count());
  auto locals = localServices(objects, options_.select);
  size_t noLocalInternal = 0, noLocalExternal = 0;
  std::map<int, observe::ServiceHealthServers::Target> ports;
  for (const auto& l : locals) {
    if (l.localEndpoints == 0) {
      noLocalInternal += l.internalLocal;
      noLocalExternal += l.externalLocal;
    }
    if (l.externalLocal && l.healthCheckNodePort != 0)
      ports[l.healthCheckNodePort] = {l.ns, l.name, l.localEndpoints};
  }
  if (options_.metrics) options_.metrics->noLocalEndpoints(noLocalInternal, noLocalExternal);
  if (options_.serviceHealth) options_.serviceHealth->update(ports);
}

void Agent::follow(Source& source) {
  spdlog::info("following {}", source.name());
  bool retry = false;
  for (;;) {
    auto event = source.next(retry ? options_.retryMs : Source::kForever);
    if (event == Source::Event::kStop) return;
    if (event == Source::Event::kTimeout && !retry) continue;
    if (!source.synced()) continue;  // the pinned table keeps serving meanwhile
    if (options_.health && event != Source::Event::kTimeout)
      options_.health->queued(std::chrono::system_clock::now());
    retry = sync(source) == Outcome::kKernelError;
  }
}

}  // namespace svcrouter
