// Who may use the API port: a bearer token from the accepted set (which the
// admin port can replace: token rotation), or a client certificate that the
// TLS handshake verified against --client-ca. Thread-safe.
#pragma once

#include <httplib.h>

#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace apiserver {

class Authenticator {
 public:
  Authenticator(std::vector<std::string> tokens, bool clientCertificates);

  // From now on only these tokens are accepted.
  void setTokens(std::vector<std::string> tokens);

  // How the request authenticated ("token", "cert:CN"), or nullopt: 401.
  std::optional<std::string> authenticate(const httplib::Request& req) const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> tokens_;
  bool clientCertificates_;
};

}  // namespace apiserver
