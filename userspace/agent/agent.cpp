#include "userspace/agent/agent.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "userspace/core/reconciler.h"
#include "userspace/k8s/manifest.h"

namespace svcrouter {

Result<DesiredState> desiredFromManifests(const std::string& text, const std::string& file,
                                          const SelectOptions& select) {
  auto start = std::chrono::steady_clock::now();
  SVCR_ASSIGN_OR_RETURN(auto objects, parseManifests(text, file));
  spdlog::debug(
      "read {} in {:.1f} ms", file,
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  for (const auto& w : objects.warnings) spdlog::warn("{}", w);
  SVCR_ASSIGN_OR_RETURN(auto want, buildDesiredState(objects, select));
  for (const auto& w : want.warnings) spdlog::warn("{}", w);
  return want;
}

Agent::Agent(maps::Table& table, Options options, std::ostream& out)
    : table_(table), options_(std::move(options)), out_(out) {}

Result<void> Agent::apply(const std::string& source, const DesiredState& want) {
  SVCR_ASSIGN_OR_RETURN(auto plan, reconcile(table_, want));
  out_ << summarize(source, want, plan, options_.listAllChanges) << std::flush;
  return {};
}

Agent::Outcome Agent::applyText(const std::string& source, const Result<std::string>& text) {
  if (!text) {
    spdlog::error("{}", text.error().message());
    return Outcome::kBadInput;
  }
  auto want = desiredFromManifests(*text, source, options_.select);
  if (!want) {
    spdlog::error("{}", want.error().message());
    return Outcome::kBadInput;
  }
  if (auto applied = apply(source, *want); !applied) {
    spdlog::error("{}", applied.error().message());
    return Outcome::kKernelError;
  }
  return Outcome::kApplied;
}

void Agent::follow(ManifestSource& source, Result<std::string> seen) {
  spdlog::info("following {}", source.name());
  // What is applied is what was compared: the source is read once per event.
  bool retry = false;
  for (;;) {
    auto event = source.next(retry ? options_.retryMs : ManifestSource::kForever);
    if (event == ManifestSource::Event::kStop) return;
    auto now = source.read();
    bool same = now.has_value() == seen.has_value() && (!now || *now == *seen);
    if (event != ManifestSource::Event::kReload && !retry && same) continue;
    retry = applyText(source.name(), now) == Outcome::kKernelError;
    seen = std::move(now);
  }
}

}  // namespace svcrouter
