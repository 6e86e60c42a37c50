#include "continue_token.h"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

namespace apiserver {

std::string ContinueToken::encode() const {
  std::string json = nlohmann::json{
      {"rv", snapshot.resourceVersion},
      {"epoch", snapshot.epoch},
      {"ns", ns},
      {"name", name}}.dump();
  std::string out(4 * ((json.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(json.data()), json.size());
  out.resize(n);
  // URL-safe, without padding: a client may put it in a query unescaped.
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::optional<ContinueToken> ContinueToken::decode(std::string_view text) {
  std::string b64(text);
  for (char& c : b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
  size_t padding = (4 - b64.size() % 4) % 4;
  if (padding == 3) return std::nullopt;
  b64.append(padding, '=');
  std::string raw(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()), b64.size());
  if (n < 0) return std::nullopt;
  raw.resize(n - padding);  // EVP_DecodeBlock counts the padding as zero bytes
  auto doc = nlohmann::json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc["rv"].is_number_unsigned() || !doc["epoch"].is_number_unsigned() ||
      !doc["ns"].is_string() || !doc["name"].is_string()) {
    return std::nullopt;
  }
  return ContinueToken{{doc["rv"].get<uint64_t>(), doc["epoch"].get<uint64_t>()},
                       doc["ns"].get<std::string>(),
                       doc["name"].get<std::string>()};
}

}  // namespace apiserver
