// Where the Kubernetes API server is and how to prove who we are: from a
// kubeconfig file (its current context) or from inside a pod (in-cluster
// configuration), as client-go's clientcmd and rest.InClusterConfig do.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "maps/error.h"

namespace svcrouter {

struct ApiConfig {
  std::string server;  // "https://10.0.0.1:6443"
  // PEM text, read from the file or decoded from the -data field.
  std::string caPem;  // empty: the system's trust store
  std::string clientCertPem, clientKeyPem;
  std::string token;      // a bearer token given inline
  std::string tokenFile;  // a bearer token read from this file at each use (it rotates)
  bool insecureSkipVerify = false;
  std::string source;  // "kubeconfig FILE (context NAME)" or "in-cluster", for messages
};

// The current context of a kubeconfig file. Relative paths in it are
// relative to the file's directory. Errors name the file and the field.
[[nodiscard]] Result<ApiConfig> loadKubeconfig(const std::string& path);

// The same from the file's text: `path` names it in messages and anchors
// relative paths, and `readFile` reads the files it names (certificates).
using FileReader = std::function<Result<std::string>(const std::string& path)>;
[[nodiscard]] Result<ApiConfig> parseKubeconfig(std::string_view text, const std::string& path,
                                                const FileReader& readFile);

// Inside a pod: KUBERNETES_SERVICE_HOST and _PORT, the service account's
// token (re-read as it rotates) and CA under `secretsDir`.
inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
[[nodiscard]] Result<ApiConfig> inClusterConfig(const std::string& secretsDir = kServiceAccountDir);

// The bearer token to send now: the file's content (trimmed) when there is a
// token file, else the inline token; "" when neither.
[[nodiscard]] Result<std::string> currentToken(const ApiConfig& config);

}  // namespace svcrouter
