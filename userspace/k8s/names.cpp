#include "userspace/k8s/names.h"

namespace svcrouter {
namespace {

bool isAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// [a-z0-9]([-a-z0-9]*[a-z0-9])?, without a length limit.
bool isDnsLabelText(std::string_view s) {
  if (s.empty() || !isAlnum(s.front()) || !isAlnum(s.back())) return false;
  for (char c : s) {
    if (!isAlnum(c) && c != '-') return false;
  }
  return true;
}

}  // namespace

bool isDns1123Label(std::string_view s) { return s.size() <= 63 && isDnsLabelText(s); }

bool isDns1035Label(std::string_view s) {
  return isDns1123Label(s) && s.front() >= 'a' && s.front() <= 'z';
}

bool isDns1123Subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (size_t start = 0;;) {
    size_t dot = s.find('.', start);
    if (!isDnsLabelText(s.substr(start, dot - start))) return false;
    if (dot == s.npos) return true;
    start = dot + 1;
  }
}

}  // namespace svcrouter
