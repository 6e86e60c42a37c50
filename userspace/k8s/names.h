// Kubernetes' rules for names (k8s.io/apimachinery/pkg/util/validation),
// for the validation every source applies to the objects it reads.
#pragma once

#include <string_view>

namespace svcrouter {

// RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters
// (namespaces; EndpointSlice ports).
bool isDns1123Label(std::string_view s);

// RFC 1035 label: a DNS-1123 label that starts with a letter (Service names,
// which become DNS labels).
bool isDns1035Label(std::string_view s);

// RFC 1123 subdomain: dot-separated labels, at most 253 characters (names of
// most other objects, EndpointSlices among them).
bool isDns1123Subdomain(std::string_view s);

}  // namespace svcrouter
