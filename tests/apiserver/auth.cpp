#include "auth.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <memory>

namespace apiserver {
namespace {

// The common name of a verified client certificate (the real server's user
// name), or nullopt if the client sent none or it did not verify.
std::optional<std::string> verifiedClientName(const SSL* ssl) {
  if (!ssl) return std::nullopt;
  std::unique_ptr<X509, decltype(&X509_free)> cert(SSL_get1_peer_certificate(ssl), X509_free);
  // The handshake refuses a certificate that does not verify; this checks again.
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  char cn[256] = "";
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn);
  return std::string(cn);
}

}  // namespace

Authenticator::Authenticator(std::vector<std::string> tokens, bool clientCertificates)
    : tokens_(std::move(tokens)), clientCertificates_(clientCertificates) {}

void Authenticator::setTokens(std::vector<std::string> tokens) {
  std::lock_guard lock(mutex_);
  tokens_ = std::move(tokens);
}

std::optional<std::string> Authenticator::authenticate(const httplib::Request& req) const {
  if (clientCertificates_) {
    if (auto name = verifiedClientName(req.ssl)) return "cert:" + *name;
  }
  constexpr std::string_view kBearer = "Bearer ";
  std::string header = req.get_header_value("Authorization");
  if (!header.starts_with(kBearer)) return std::nullopt;
  std::string token = header.substr(kBearer.size());
  std::lock_guard lock(mutex_);
  if (std::ranges::find(tokens_, token) == tokens_.end()) return std::nullopt;
  return "token";
}

}  // namespace apiserver
