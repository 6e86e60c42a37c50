#include "userspace/k8s/objects.h"

namespace svcrouter {

std::string objectName(std::string_view kind, std::string_view ns, std::string_view name) {
  return std::string(kind) + " " + std::string(ns) + "/" + std::string(name);
}

std::string origin(std::string_view where, std::string_view object) {
  if (object.empty()) return std::string(where);
  return std::string(where) + " (" + std::string(object) + ")";
}

std::string origin(const Service& s) {
  return origin(s.where, objectName("Service", s.ns, s.name));
}

std::string origin(const EndpointSlice& s) {
  return origin(s.where, objectName("EndpointSlice", s.ns, s.name));
}

}  // namespace svcrouter
