// The kubeconfig reader (`run --kubernetes --kubeconfig FILE`): YAML ->
// the current context's server, CA, client certificate and token. The
// files a kubeconfig names are never read here: the reader gets a file
// reader that refuses, so inputs are only the text. Checks that an error
// names the file and that a configuration read is complete.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/fuzz_check.h"
#include "userspace/k8s/api_config.h"

using namespace svcrouter;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string path = "/fuzz/kubeconfig";
  FileReader noFiles = [](const std::string& file) -> Result<std::string> {
    FUZZ_CHECK(file.starts_with("/"), "a relative path was not resolved: " + file);
    return fail("cannot read " + file + " (no files while fuzzing)");
  };
  auto config = parseKubeconfig(text, path, noFiles);
  if (!config) {
    FUZZ_CHECK(config.error().what.starts_with(path + ": "), config.error().what);
    return 0;
  }
  FUZZ_CHECK(!config->server.empty(), "no server");
  FUZZ_CHECK(config->clientCertPem.empty() == config->clientKeyPem.empty(),
             "a client certificate without its key, or the reverse");
  FUZZ_CHECK(config->source.starts_with("kubeconfig " + path), config->source);
  if (config->tokenFile.empty()) {  // a token file would be read: not here
    auto token = currentToken(*config);
    FUZZ_CHECK(token && *token == config->token, "the inline token is not the token");
  }
  return 0;
}
