// HTTPS requests to the Kubernetes API server, through libcurl: certificate
// verification against the configured CA, client certificates, bearer
// tokens re-read from their file (projected tokens rotate), and a 401 that
// re-reads the token before trying once more. Used from several threads:
// each call makes its own connection state.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "maps/error.h"
#include "userspace/k8s/api_config.h"

namespace svcrouter {

class ApiClient {
 public:
  struct Response {
    long status = 0;
    std::string body;                  // the whole body (get) or what is left unread (stream)
    std::optional<int> retryAfterSec;  // Retry-After, for 429 and 503
  };

  explicit ApiClient(ApiConfig config);

  const ApiConfig& config() const { return config_; }

  // GET `pathAndQuery` ("/api/v1/services?limit=500"). An error is a
  // transport failure (connect, TLS, timeout); an HTTP status is a response.
  [[nodiscard]] Result<Response> get(const std::string& pathAndQuery) const;

  // GET a streaming response (a watch): each complete line of a 200
  // response goes to onLine as it arrives, until the server ends the stream,
  // onLine returns false, or `stop` becomes true (within about a second).
  // A non-200 response is returned whole, as get() returns it.
  [[nodiscard]] Result<Response> stream(const std::string& pathAndQuery,
                                        const std::function<bool(std::string_view)>& onLine,
                                        const std::atomic<bool>& stop) const;

 private:
  ApiConfig config_;
};

}  // namespace svcrouter
