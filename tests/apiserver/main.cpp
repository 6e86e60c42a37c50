// svcr-apiserver: an emulator of the Kubernetes API server for the tests of
// `svcrouter run --kubernetes`. It serves Services, EndpointSlices and Nodes
// over TLS (list, watch, get, discovery) in the real wire format, and takes
// objects and faults on a plain-HTTP admin port. See README.md.
//
//   svcr-apiserver --listen IP:PORT --cert FILE --key FILE --token TOKEN [--token T2]...
//                  [--client-ca FILE] [--admin IP:PORT] [--history N] [--threads N]
//                  [--bookmark-interval MS]
//
// Port 0 picks a free port. Prints "ready api=IP:PORT admin=IP:PORT" once both
// ports listen; runs until SIGTERM or SIGINT, which end open watches cleanly.

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "admin.h"
#include "api.h"
#include "auth.h"
#include "faults.h"
#include "request_log.h"
#include "store.h"
#include "watch.h"

namespace {

// Each open watch holds a thread of the API port's pool for its lifetime,
// and httplib's default pool has only about as many threads as CPUs.
constexpr int kDefaultApiThreads = 64;
constexpr int kAdminThreads = 4;
constexpr size_t kDefaultHistory = 10000;
constexpr uint64_t kDefaultBookmarkIntervalMs = 1000;

struct Options {
  std::string listen;
  std::string admin = "127.0.0.1:0";
  std::string cert;
  std::string key;
  std::string clientCa;
  std::vector<std::string> tokens;
  size_t history = kDefaultHistory;
  int threads = kDefaultApiThreads;
  uint64_t bookmarkIntervalMs = kDefaultBookmarkIntervalMs;  // 0: bookmarks only on demand
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "svcr-apiserver: %s\n"
               "usage: svcr-apiserver --listen IP:PORT --cert FILE --key FILE --token TOKEN "
               "[--token T2]... [--client-ca FILE] [--admin IP:PORT] [--history N] "
               "[--threads N] [--bookmark-interval MS]\n",
               why.c_str());
  std::exit(2);
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "svcr-apiserver: %s\n", what.c_str());
  std::exit(1);
}

uint64_t parseNumber(std::string_view option, std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    usage(std::string(option) + ": not a number: " + std::string(text));
  }
  return value;
}

Options parseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc) usage(std::string(arg) + " needs a value");
    std::string value = argv[++i];
    if (arg == "--listen") {
      o.listen = value;
    } else if (arg == "--admin") {
      o.admin = value;
    } else if (arg == "--cert") {
      o.cert = value;
    } else if (arg == "--key") {
      o.key = value;
    } else if (arg == "--client-ca") {
      o.clientCa = value;
    } else if (arg == "--token") {
      o.tokens.push_back(value);
    } else if (arg == "--history") {
      o.history = parseNumber(arg, value);
    } else if (arg == "--bookmark-interval") {
      o.bookmarkIntervalMs = parseNumber(arg, value);
    } else if (arg == "--threads") {
      o.threads = static_cast<int>(parseNumber(arg, value));
    } else {
      usage("unknown option " + std::string(arg));
    }
  }
  if (o.listen.empty() || o.cert.empty() || o.key.empty()) {
    usage("--listen, --cert and --key are required");
  }
  if (o.tokens.empty() && o.clientCa.empty()) usage("give --token or --client-ca");
  if (o.threads < 2) usage("--threads must be at least 2");
  return o;
}

struct HostPort {
  std::string host;  // without brackets
  int port;
};

// "10.0.0.1:443", "[fd00::1]:0".
HostPort splitHostPort(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) usage("not IP:PORT: " + text);
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return {host, static_cast<int>(parseNumber("port", text.substr(colon + 1)))};
}

std::string joinHostPort(const std::string& host, int port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// Binds the server to IP:PORT (a free port for 0); the address it listens on.
std::string bindTo(httplib::Server& server, const std::string& address) {
  auto [host, port] = splitHostPort(address);
  if (port == 0) {
    port = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    port = -1;
  }
  if (port < 0) die("cannot listen on " + address);
  return joinHostPort(host, port);
}

std::string tlsError() {
  char buf[256] = "unknown error";
  if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// The server's certificate and key, and with a client CA, client
// certificates: asked for but not required, since most clients use a
// token (the real server's "verify if given"). A certificate that does not
// verify fails the handshake.
bool setupTls(SSL_CTX& ctx, const Options& o) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  auto fail = [](const std::string& what) {
    std::fprintf(stderr, "svcr-apiserver: %s: %s\n", what.c_str(), tlsError().c_str());
    return false;
  };
  if (SSL_CTX_use_certificate_chain_file(&ctx, o.cert.c_str()) != 1) {
    return fail("certificate " + o.cert);
  }
  if (SSL_CTX_use_PrivateKey_file(&ctx, o.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(&ctx) != 1) {
    return fail("key " + o.key);
  }
  if (!o.clientCa.empty()) {
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.clientCa.c_str());
    if (!names || SSL_CTX_load_verify_locations(&ctx, o.clientCa.c_str(), nullptr) != 1) {
      return fail("client CA " + o.clientCa);
    }
    SSL_CTX_set_client_CA_list(&ctx, names);
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace apiserver;
  Options options = parseOptions(argc, argv);

  // SIGTERM and SIGINT are taken by sigwait() below. Blocked before any
  // thread starts, so that every thread inherits the mask and none of them
  // is interrupted by them.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGTERM);
  sigaddset(&stopSignals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
  // A client that went away is a failed write, not the end of the server.
  signal(SIGPIPE, SIG_IGN);

  Store store(options.history);
  Faults faults;
  Authenticator auth(options.tokens, !options.clientCa.empty());
  RequestLog log;
  WatchHub watches(store, faults, std::chrono::milliseconds(options.bookmarkIntervalMs));

  httplib::SSLServer api([&](SSL_CTX& ctx) { return setupTls(ctx, options); });
  if (!api.is_valid()) die("TLS setup failed");
  int threads = options.threads;
  api.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  httplib::Server admin;
  admin.new_task_queue = [] { return new httplib::ThreadPool(kAdminThreads); };

  std::string apiAddress = bindTo(api, options.listen);
  std::string adminAddress = bindTo(admin, options.admin);
  ApiServer apiHandlers(store, watches, faults, auth, log, apiAddress);
  apiHandlers.install(api);
  AdminServer adminHandlers(store, watches, faults, auth, log);
  adminHandlers.install(admin);

  std::thread apiThread([&] { api.listen_after_bind(); });
  std::thread adminThread([&] { admin.listen_after_bind(); });
  std::printf("ready api=%s admin=%s\n", apiAddress.c_str(), adminAddress.c_str());
  std::fflush(stdout);

  int signal = 0;
  sigwait(&stopSignals, &signal);
  // Open watches end first, cleanly; then the servers stop taking
  // connections and wait for their threads.
  watches.shutdown();
  api.stop();
  admin.stop();
  apiThread.join();
  adminThread.join();
  return 0;
}
