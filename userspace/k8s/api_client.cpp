#include "userspace/k8s/api_client.h"

#include <curl/curl.h>

#include <charconv>
#include <memory>
#include <mutex>

namespace svcrouter {
namespace {

// curl_global_init once, before any thread uses libcurl.
void initCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Curl = std::unique_ptr<CURL, CurlDeleter>;
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

std::string sizeText(size_t bytes) {
  if (bytes % (size_t{1} << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

// What one transfer collects, and when the caller stops it.
struct Transfer {
  ResponseReader reader;
  const std::atomic<bool>* stop = nullptr;
  bool stoppedByCaller = false;
};

long statusOf(CURL* curl) {
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

size_t onBody(char* data, size_t size, size_t n, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  return t->reader.body(std::string_view(data, size * n)) ? size * n : 0;  // 0 ends the transfer
}

size_t onHeader(char* data, size_t size, size_t n, void* userp) {
  static_cast<Transfer*>(userp)->reader.header(std::string_view(data, size * n));
  return size * n;
}

// Called about once a second during a transfer: lets stop() end a watch.
int onProgress(void* userp, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(userp);
  if (t->stop && t->stop->load()) {
    t->stoppedByCaller = true;
    return 1;
  }
  return 0;
}

curl_blob blob(const std::string& pem) {
  return {const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
}

Result<Curl> prepare(const ApiConfig& c, const std::string& url, const std::string& token,
                     Slist& headers, Transfer& t, bool streaming) {
  initCurl();
  Curl curl(curl_easy_init());
  if (!curl) return fail("initialise libcurl");
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // gzip when the server offers it
  if (!streaming) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
  if (!c.caPem.empty()) {
    auto ca = blob(c.caPem);
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
  }
  if (c.insecureSkipVerify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!c.clientCertPem.empty()) {
    auto cert = blob(c.clientCertPem), key = blob(c.clientKeyPem);
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
  }
  headers.reset(curl_slist_append(nullptr, "Accept: application/json"));
  if (!token.empty())
    headers.reset(curl_slist_append(headers.release(), ("Authorization: Bearer " + token).c_str()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_USERAGENT, "svcrouter");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  if (streaming) {
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, onProgress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
  }
  return curl;
}

// One request; a 401 re-reads the token and tries again, once.
Result<ApiClient::Response> perform(const ApiConfig& c, const ResponseLimits& limits,
                                    const std::string& pathAndQuery,
                                    const std::function<bool(std::string_view)>* onLine,
                                    const std::atomic<bool>* stop) {
  for (int attempt = 0;; ++attempt) {
    SVCR_ASSIGN_OR_RETURN(auto token, currentToken(c));
    Transfer t{ResponseReader(limits, onLine), stop};
    Slist headers;
    std::string url = c.server + pathAndQuery;
    SVCR_ASSIGN_OR_RETURN(auto curl, prepare(c, url, token, headers, t, onLine != nullptr));
    CURLcode rc = curl_easy_perform(curl.get());
    ApiClient::Response& response = t.reader.response();
    response.status = statusOf(curl.get());
    if (rc != CURLE_OK && !t.stoppedByCaller && !t.reader.stoppedByCaller()) {
      std::string why =
          t.reader.overLimit().empty() ? curl_easy_strerror(rc) : t.reader.overLimit();
      // A stream cut after a 200 is an outcome the caller handles (rewatch).
      if (onLine && response.status == 200) return fail("watch " + pathAndQuery + " ended: " + why);
      return fail("GET " + url + ": " + why);
    }
    // Projected service-account tokens rotate: read the file again, once.
    if (response.status == 401 && attempt == 0 && !c.tokenFile.empty()) continue;
    return std::move(response);
  }
}

}  // namespace

void ResponseReader::header(std::string_view line) {
  if (line.starts_with("HTTP/")) {  // a new response (after a redirect or 100)
    response_.status = 0;
    if (auto sp = line.find(' '); sp != line.npos) {
      long status = 0;
      std::from_chars(line.data() + sp + 1, line.data() + line.size(), status);
      response_.status = status;
    }
  }
  constexpr std::string_view kRetryAfter = "retry-after:";
  if (line.size() > kRetryAfter.size() &&
      std::equal(kRetryAfter.begin(), kRetryAfter.end(), line.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    auto value = line.substr(kRetryAfter.size());
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    int seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec == std::errc() && end != value.data()) response_.retryAfterSec = seconds;
  }
}

bool ResponseReader::body(std::string_view data) {
  std::string& buf = response_.body;
  // Only a 200 streams; anything else (a Status object) is read whole.
  if (!onLine_ || response_.status != 200) {
    if (data.size() > limits_.body - std::min(limits_.body, buf.size())) {
      overLimit_ = "the response is larger than " + sizeText(limits_.body);
      return false;
    }
    buf.append(data);
    return true;
  }
  buf.append(data);
  size_t start = 0;
  // Search only what the last call did not: a long line in many pieces
  // costs its length, not its length squared.
  for (size_t nl; (nl = buf.find('\n', std::max(start, scanned_))) != std::string::npos;
       start = nl + 1) {
    scanned_ = 0;
    if (nl - start > limits_.line) break;
    if (!(*onLine_)(std::string_view(buf).substr(start, nl - start))) {
      stoppedByCaller_ = true;
      return false;
    }
  }
  buf.erase(0, start);
  scanned_ = buf.size();
  if (buf.size() > limits_.line) {
    overLimit_ = "an event line is larger than " + sizeText(limits_.line);
    return false;
  }
  return true;
}

ApiClient::ApiClient(ApiConfig config, ResponseLimits limits)
    : config_(std::move(config)), limits_(limits) {}

Result<ApiClient::Response> ApiClient::get(const std::string& pathAndQuery) const {
  return perform(config_, limits_, pathAndQuery, nullptr, nullptr);
}

Result<ApiClient::Response> ApiClient::stream(const std::string& pathAndQuery,
                                              const std::function<bool(std::string_view)>& onLine,
                                              const std::atomic<bool>& stop) const {
  return perform(config_, limits_, pathAndQuery, &onLine, &stop);
}

}  // namespace svcrouter
