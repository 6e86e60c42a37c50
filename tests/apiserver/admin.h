// The admin port (plain HTTP, no authentication): what tests use to change
// the objects, inject faults, rotate tokens and read what clients did.
//
//   POST   /objects                   an object, or a List of them: create or replace
//   DELETE /objects/{Kind}/{ns}/{name} delete (Node: ns "-")
//   POST   /faults                    {"fault":"..."}: see README.md
//   POST   /tokens                    {"tokens":[...]}: the accepted tokens from now on
//   GET    /requests, DELETE /requests  the API requests seen so far; forget them
//   GET    /watches                   open watches per resource
#pragma once

#include <httplib.h>

#include "auth.h"
#include "faults.h"
#include "request_log.h"
#include "store.h"
#include "watch.h"

namespace apiserver {

class AdminServer {
 public:
  AdminServer(Store& store, WatchHub& watches, Faults& faults, Authenticator& auth,
              RequestLog& log);

  void install(httplib::Server& server);

 private:
  void putObjects(const httplib::Request& req, httplib::Response& res);
  void deleteObject(const httplib::Request& req, httplib::Response& res);
  void fault(const httplib::Request& req, httplib::Response& res);
  void tokens(const httplib::Request& req, httplib::Response& res);

  Store& store_;
  WatchHub& watches_;
  Faults& faults_;
  Authenticator& auth_;
  RequestLog& log_;
};

}  // namespace apiserver
