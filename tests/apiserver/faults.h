// The faults the admin port sets for the API port: error answers for the
// next N requests, slow watches, the server down. (Faults that act on the
// open watches are signals of the WatchHub.) Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>

namespace apiserver {

class Faults {
 public:
  // An injected error answer: its HTTP status, and Retry-After seconds for 429.
  struct HttpError {
    int code;
    int retryAfterSeconds;
  };

  // Answer the next `count` requests for resources (lists, gets, watches)
  // with `code` (500 or 429, with Retry-After); 410 is for watches only.
  void addHttpErrors(int code, int count, int retryAfterSeconds = 0);
  // The error this request gets instead of its answer, if one is pending;
  // it is then used up. 500 and 429 come before 410.
  std::optional<HttpError> takeHttpError(bool isWatch);

  // Each watch event waits this long before it is sent (0: not at all).
  void setSlow(std::chrono::milliseconds delay) { slow_ = delay; }
  std::chrono::milliseconds slow() const { return slow_; }

  // While down, the API port answers every request with 503.
  void setDown(bool down) { down_ = down; }
  bool down() const { return down_; }

  // Back to no faults.
  void clear();

 private:
  std::mutex mutex_;
  int internalErrors_ = 0;     // 500s pending
  int tooManyRequests_ = 0;    // 429s pending
  int retryAfterSeconds_ = 0;  // for the 429s
  int gone_ = 0;               // watch 410s pending
  std::atomic<std::chrono::milliseconds> slow_{std::chrono::milliseconds(0)};
  std::atomic<bool> down_{false};
};

}  // namespace apiserver
