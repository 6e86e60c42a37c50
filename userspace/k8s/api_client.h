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

// What one response may bring, so that a server cannot make the agent hold
// unbounded memory. Counted after decompression (gzip).
struct ResponseLimits {
  // A whole body: a list page asks for 500 objects (reflector.h), a few MB
  // at most in practice; this is 256 KiB an object.
  static constexpr size_t kMaxBody = size_t{128} << 20;
  // One line of a watch stream, one event of one object: the API server
  // takes at most 3 MiB in a request, and etcd stores 1.5 MiB an object.
  static constexpr size_t kMaxLine = size_t{16} << 20;

  size_t body = kMaxBody;
  size_t line = kMaxLine;
};

struct ApiResponse {
  long status = 0;
  std::string body;                  // the whole body (get) or what is left unread (stream)
  std::optional<int> retryAfterSec;  // Retry-After, for 429 and 503
};

// What one transfer collects: the status and Retry-After from the header
// lines, and the body, whole or (a 200 with onLine) passed on line by line,
// within `limits`. Pure: libcurl's callbacks feed it (and the fuzz tests).
class ResponseReader {
 public:
  ResponseReader(const ResponseLimits& limits,
                 const std::function<bool(std::string_view)>* onLine = nullptr)
      : limits_(limits), onLine_(onLine) {}

  // One header line, "HTTP/1.1 200 OK\r\n" or "Retry-After: 5\r\n".
  void header(std::string_view line);
  // The next bytes of the body. False ends the transfer: onLine returned
  // false (stoppedByCaller()), or a limit was passed (overLimit()).
  bool body(std::string_view data);

  ApiResponse& response() { return response_; }
  bool stoppedByCaller() const { return stoppedByCaller_; }
  // Why the transfer was cut, when a limit was passed: "the response is
  // larger than 128 MiB", "an event line is larger than 16 MiB".
  const std::string& overLimit() const { return overLimit_; }

 private:
  ResponseLimits limits_;
  const std::function<bool(std::string_view)>* onLine_;
  ApiResponse response_;
  size_t scanned_ = 0;  // bytes of the body's unfinished line already searched for '\n'
  bool stoppedByCaller_ = false;
  std::string overLimit_;
};

class ApiClient {
 public:
  using Response = ApiResponse;

  explicit ApiClient(ApiConfig config, ResponseLimits limits = {});

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
  ResponseLimits limits_;
};

}  // namespace svcrouter
