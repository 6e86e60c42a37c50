// The API port: authentication, discovery, and GET of Services,
// EndpointSlices and Nodes (one object, a list, a watch) on the paths and
// with the query parameters of the real server; the injected faults first.
#pragma once

#include <httplib.h>

#include <string>

#include "auth.h"
#include "faults.h"
#include "request_log.h"
#include "store.h"
#include "watch.h"

namespace apiserver {

struct ApiRoute;  // what a path names (api.cpp)

class ApiServer {
 public:
  // serverAddress (IP:PORT) is what discovery tells clients to use.
  ApiServer(const Store& store, WatchHub& watches, Faults& faults, const Authenticator& auth,
            RequestLog& log, std::string serverAddress);

  // Routes every request that `server` receives, whatever its method, here.
  void install(httplib::Server& server);

 private:
  // Answers one request; returns how it authenticated (for the log).
  std::string respond(const httplib::Request& req, httplib::Response& res, const ApiRoute& route,
                      bool isWatch);
  void get(const ApiRoute& route, httplib::Response& res);
  void list(const httplib::Request& req, const ApiRoute& route, httplib::Response& res);
  void watch(const httplib::Request& req, const ApiRoute& route, httplib::Response& res);

  const Store& store_;
  WatchHub& watches_;
  Faults& faults_;
  const Authenticator& auth_;
  RequestLog& log_;
  std::string serverAddress_;
};

}  // namespace apiserver
