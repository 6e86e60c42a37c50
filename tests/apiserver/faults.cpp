#include "faults.h"

namespace apiserver {

void Faults::addHttpErrors(int code, int count, int retryAfterSeconds) {
  std::lock_guard lock(mutex_);
  switch (code) {
    case 500:
      internalErrors_ += count;
      break;
    case 429:
      tooManyRequests_ += count;
      retryAfterSeconds_ = retryAfterSeconds;
      break;
    case 410:
      gone_ += count;
      break;
  }
}

std::optional<Faults::HttpError> Faults::takeHttpError(bool isWatch) {
  std::lock_guard lock(mutex_);
  if (internalErrors_ > 0) {
    internalErrors_--;
    return HttpError{500, 0};
  }
  if (tooManyRequests_ > 0) {
    tooManyRequests_--;
    return HttpError{429, retryAfterSeconds_};
  }
  if (isWatch && gone_ > 0) {
    gone_--;
    return HttpError{410, 0};
  }
  return std::nullopt;
}

void Faults::clear() {
  {
    std::lock_guard lock(mutex_);
    internalErrors_ = tooManyRequests_ = retryAfterSeconds_ = gone_ = 0;
  }
  slow_ = std::chrono::milliseconds(0);
  down_ = false;
}

}  // namespace apiserver
