// The resources the emulator serves, and the JSON every part of it answers
// with: Status objects for errors, timestamps and uids for new objects.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

namespace apiserver {

enum class Kind { kService, kEndpointSlice, kNode };

// One served resource: its kind, where its paths live, how discovery names it.
struct Resource {
  Kind kind;
  std::string_view kindName;    // "Service"
  std::string_view listKind;    // "ServiceList"
  std::string_view apiVersion;  // "v1", "discovery.k8s.io/v1"
  std::string_view pathPrefix;  // "/api/v1", "/apis/discovery.k8s.io/v1"
  std::string_view plural;      // "services": the path segment and discovery's name
  std::string_view singular;
  std::string_view shortName;  // kubectl's abbreviation ("svc"); empty if none
  bool namespaced;
};

// Every served resource, in the order discovery lists them.
std::span<const Resource> resources();
const Resource& resourceOf(Kind kind);
// By kind name ("Service"; any case), or nullptr.
const Resource* resourceByKindName(std::string_view name);
// By path prefix and plural ("/api/v1", "services"), or nullptr.
const Resource* resourceByPath(std::string_view prefix, std::string_view plural);

// A meta/v1 Status as the real server sends for a failure (HTTP bodies and
// watch ERROR events alike).
nlohmann::json status(int code, std::string_view reason, std::string_view message);

// "too old resource version: N (M)": a watch from N, where M is the newest
// resourceVersion whose change is no longer kept.
nlohmann::json tooOldStatus(uint64_t requested, uint64_t compacted);

// The time now as metadata timestamps carry it ("2025-01-02T03:04:05Z").
std::string nowTimestamp();

// A random RFC 4122 version 4 uid, as the real server gives new objects.
std::string newUid();

}  // namespace apiserver
