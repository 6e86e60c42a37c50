// svcr-testsrv: a backend that answers with its name, for tests and demos.
//
//   svcr-testsrv --name NAME [--tcp PORT]... [--udp PORT]...
//
// Every port is bound on [::] with IPV6_V6ONLY=0, so IPv4 and IPv6 clients both reach it.
// TCP: a connection that starts with "GET " or "HEAD " gets an HTTP/1.0 200 whose body is
// "NAME\n" ("NAME CLIENT-IP\n" for GET /peer: the address the connection came from; N bytes
// ending with "NAME\n" for GET /bytes/N) and is
// then closed; any other connection gets "NAME\n" for every line it sends,
// until the peer closes. UDP: every datagram gets "NAME\n" back to the address it came
// from, from the address it was sent to. Prints "ready" once every socket is bound and
// listening; exits 0 on SIGTERM or SIGINT. One thread, one level-triggered epoll loop.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

constexpr int kBacklog = 4096;
constexpr size_t kMaxHeaderBytes = 64 * 1024;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "svcr-testsrv: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: svcr-testsrv --name NAME [--tcp PORT]... [--udp PORT]...\n");
  std::exit(2);
}

uint16_t parsePort(std::string_view s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v == 0 || v > 65535) usage();
  return static_cast<uint16_t>(v);
}

// An HTTP request or a stream of lines; decided by the first bytes.
enum class Mode { kUnknown, kHttp, kLine };

Mode classify(std::string_view first) {
  for (std::string_view method : {"GET ", "HEAD "}) {
    if (first.starts_with(method)) return Mode::kHttp;
    if (method.starts_with(first)) return Mode::kUnknown;  // too short to tell yet
  }
  return Mode::kLine;
}

struct Conn {
  Mode mode = Mode::kUnknown;
  std::string in;   // bytes kept until the mode is known, and HTTP headers until they end
  std::string out;  // reply bytes the socket did not take yet
  bool closeWhenSent = false;
  uint32_t events = EPOLLIN;  // what epoll watches now
};

// The peer's address, IPv4 without its ::ffff: prefix.
std::string peerAddress(int fd) {
  sockaddr_in6 peer{};
  socklen_t len = sizeof(peer);
  char text[INET6_ADDRSTRLEN] = "?";
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0)
    inet_ntop(AF_INET6, &peer.sin6_addr, text, sizeof(text));
  std::string s = text;
  return s.starts_with("::ffff:") ? s.substr(7) : s;
}

class Server {
 public:
  explicit Server(std::string name) : name_(std::move(name)), reply_(name_ + "\n") {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) die("epoll_create1");
  }

  void addTcp(uint16_t port) { tcp_.push_back(bindPort(SOCK_STREAM, port)); }
  void addUdp(uint16_t port) { udp_.push_back(bindPort(SOCK_DGRAM, port)); }

  // Serves until SIGTERM or SIGINT.
  void run() {
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    if (sigprocmask(SIG_BLOCK, &stop, nullptr) < 0) die("sigprocmask");
    int sigfd = signalfd(-1, &stop, SFD_CLOEXEC);
    if (sigfd < 0) die("signalfd");
    watch(sigfd, EPOLLIN, EPOLL_CTL_ADD);

    std::puts("ready");
    std::fflush(stdout);

    epoll_event events[256];
    for (;;) {
      int n = epoll_wait(epoll_, events, 256, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) die("epoll_wait");
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == sigfd) return;
        if (std::find(tcp_.begin(), tcp_.end(), fd) != tcp_.end()) {
          acceptAll(fd);
        } else if (std::find(udp_.begin(), udp_.end(), fd) != udp_.end()) {
          answerDatagrams(fd);
        } else {
          serve(fd, events[i].events);
        }
      }
    }
  }

 private:
  int bindPort(int type, uint16_t port) {
    int fd = socket(AF_INET6, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int off = 0, on = 1;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0) die("IPV6_V6ONLY");
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) die("SO_REUSEADDR");
    if (type == SOCK_DGRAM && setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) < 0)
      die("IPV6_RECVPKTINFO");
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_port = htons(port);
    addr.sin6_addr = in6addr_any;
    std::string what = (type == SOCK_STREAM ? "tcp port " : "udp port ") + std::to_string(port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("bind " + what);
    if (type == SOCK_STREAM && listen(fd, kBacklog) < 0) die("listen " + what);
    watch(fd, EPOLLIN, EPOLL_CTL_ADD);
    return fd;
  }

  void watch(int fd, uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_, op, fd, &ev) < 0) die("epoll_ctl");
  }

  void acceptAll(int listener) {
    for (;;) {
      int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && !acceptWarned_) {  // EMFILE and the like: say so once
          std::fprintf(stderr, "svcr-testsrv: accept: %s\n", std::strerror(errno));
          acceptWarned_ = true;
        }
        return;
      }
      conns_[fd] = Conn{};
      watch(fd, EPOLLIN, EPOLL_CTL_ADD);
    }
  }

  // Each reply leaves from the address its datagram came to (IPV6_PKTINFO, IPv4 ones as
  // mapped addresses): a host with several addresses would otherwise answer from its first,
  // and a client's conntrack entry or connected socket would not take the reply.
  void answerDatagrams(int fd) {
    char buf[65536];
    for (;;) {
      sockaddr_storage from{};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))];
      iovec in{buf, sizeof buf};
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof from;
      msg.msg_iov = &in;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = recvmsg(fd, &msg, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return;  // EAGAIN: all answered
      iovec out{reply_.data(), reply_.size()};
      msg.msg_iov = &out;
      msg.msg_flags = 0;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      if (c && c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
        reinterpret_cast<in6_pktinfo*>(CMSG_DATA(c))->ipi6_ifindex = 0;  // the route decides
        msg.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
      } else {
        msg.msg_control = nullptr;
        msg.msg_controllen = 0;
      }
      sendmsg(fd, &msg, 0);
    }
  }

  void serve(int fd, uint32_t events) {
    Conn& c = conns_[fd];
    if ((events & EPOLLOUT) && !flush(fd, c)) return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) readFrom(fd, c);
  }

  void readFrom(int fd, Conn& c) {
    char buf[16384];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) return closeConn(fd);  // peer closed or reset

    std::string_view data(buf, n);
    if (c.mode != Mode::kLine) {
      c.in.append(data);
      if (c.mode == Mode::kUnknown) c.mode = classify(c.in);
      if (c.mode == Mode::kUnknown) return;
      data = c.in;
    }
    if (c.mode == Mode::kHttp) {
      if (c.in.find("\r\n\r\n") == std::string::npos && c.in.find("\n\n") == std::string::npos) {
        if (c.in.size() > kMaxHeaderBytes) closeConn(fd);
        return;
      }
      std::string body = reply_;
      if (c.in.starts_with("GET /peer ")) body = name_ + " " + peerAddress(fd) + "\n";
      if (c.in.starts_with("GET /bytes/")) body = bulk(c.in.substr(11));
      c.out = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
      if (!c.in.starts_with("HEAD ")) c.out += body;
      c.closeWhenSent = true;
    } else {
      for (char ch : data) {
        if (ch == '\n') c.out += reply_;
      }
      c.in.clear();
    }
    flush(fd, c);
  }

  // GET /bytes/N: N bytes (at most 64 MiB) of '.' ending with "NAME\n", for
  // transfers larger than a packet.
  std::string bulk(const std::string& rest) const {
    size_t n = std::min<size_t>(std::strtoull(rest.c_str(), nullptr, 10), 64u << 20);
    std::string body(std::max(n, reply_.size()) - reply_.size(), '.');
    return body + reply_;
  }

  // Sends what is pending. Stops reading while replies wait, so a peer that does not read
  // cannot make us buffer without bound. Returns false if the connection is gone.
  bool flush(int fd, Conn& c) {
    while (!c.out.empty()) {
      ssize_t n = send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      if (n < 0) {
        closeConn(fd);
        return false;
      }
      c.out.erase(0, n);
    }
    if (c.out.empty() && c.closeWhenSent) {
      closeConn(fd);
      return false;
    }
    uint32_t want = c.out.empty() ? EPOLLIN : EPOLLOUT;
    if (want != c.events) {
      watch(fd, want, EPOLL_CTL_MOD);
      c.events = want;
    }
    return true;
  }

  void closeConn(int fd) {
    conns_.erase(fd);
    close(fd);  // also removes it from the epoll set
  }

  std::string name_;
  std::string reply_;
  int epoll_ = -1;
  std::vector<int> tcp_, udp_;
  std::unordered_map<int, Conn> conns_;
  bool acceptWarned_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  std::string name;
  std::vector<uint16_t> tcp, udp;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc) usage();
    std::string_view value = argv[++i];
    if (arg == "--name") {
      name = value;
    } else if (arg == "--tcp") {
      tcp.push_back(parsePort(value));
    } else if (arg == "--udp") {
      udp.push_back(parsePort(value));
    } else {
      usage();
    }
  }
  if (name.empty() || (tcp.empty() && udp.empty())) usage();

  // Many concurrent held connections need many descriptors.
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  signal(SIGPIPE, SIG_IGN);

  Server server(name);
  for (uint16_t port : tcp) server.addTcp(port);
  for (uint16_t port : udp) server.addUdp(port);
  server.run();
  return 0;
}
