#include "userspace/cli/options.h"

#include <charconv>
#include <cstdint>
#include <limits>

namespace svcrouter {

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
  if (text == "0") return std::chrono::milliseconds(0);
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  while (!text.empty()) {
    // A number of at most 9 digits, then its unit ("ms" before "m").
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0 || digits > 9) return std::nullopt;
    int64_t n = 0;
    std::from_chars(text.data(), text.data() + digits, n);
    text.remove_prefix(digits);
    int64_t unit = 0;
    for (auto [name, ms] : {std::pair{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}}) {
      if (text.starts_with(name)) {
        unit = ms;
        text.remove_prefix(std::string_view(name).size());
        break;
      }
    }
    if (unit == 0) return std::nullopt;
    if (n > (std::numeric_limits<int64_t>::max() - total) / unit) return std::nullopt;
    total += n * unit;
  }
  return std::chrono::milliseconds(total);
}

std::optional<uint32_t> parseDnsTtl(std::string_view text) {
  std::optional<std::chrono::milliseconds> d;
  if (!text.empty() && text.size() <= 9 && text.find_first_not_of("0123456789") == text.npos) {
    uint32_t seconds = 0;
    std::from_chars(text.data(), text.data() + text.size(), seconds);
    d = std::chrono::seconds(seconds);
  } else {
    d = parseDuration(text);
  }
  if (!d || d->count() % 1000 != 0 || d->count() / 1000 > kMaxDnsTtl) return std::nullopt;
  return static_cast<uint32_t>(d->count() / 1000);
}

}  // namespace svcrouter
