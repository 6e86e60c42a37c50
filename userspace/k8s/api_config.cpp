#include "userspace/k8s/api_config.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <filesystem>

#include "userspace/k8s/doc_node.h"
#include "userspace/k8s/manifest.h"
#include "userspace/k8s/yaml_doc.h"

namespace svcrouter {
namespace {

// Standard base64, as kubeconfig's *-data fields hold (OpenSSL decodes it).
Result<std::string> base64Decode(std::string_view text, const std::string& what) {
  std::string clean;
  for (char c : text)
    if (c != '\n' && c != '\r' && c != ' ') clean += c;
  if (clean.size() % 4 != 0) return fail(what + ": not base64");
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0) return fail(what + ": not base64");
  // EVP_DecodeBlock counts the padding's bytes too.
  size_t padding = clean.ends_with("==") ? 2 : clean.ends_with("=") ? 1 : 0;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t start = s.find_first_not_of(" \t");
  return start == std::string::npos ? "" : s.substr(start);
}

// The named entry of a kubeconfig list (clusters, users, contexts): its
// inner map (cluster:, user:, context:).
DocNode findNamed(const DocNode& root, const char* list, const char* inner,
                  const std::string& name) {
  DocNode items = root.get(list);
  for (size_t i = 0; i < items.size(); ++i)
    if (items.item(i).get("name").scalar() == name) return items.item(i).get(inner);
  return DocNode();
}

class KubeconfigReader {
 public:
  KubeconfigReader(std::string path, const FileReader& readFile)
      : path_(std::move(path)),
        dir_(std::filesystem::path(path_).parent_path()),
        readFile_(readFile) {}

  Result<ApiConfig> read(const DocNode& root) {
    ApiConfig c;
    std::string context = root.get("current-context").scalar();
    if (context.empty()) return fail(path_ + ": current-context: required");
    DocNode ctx = findNamed(root, "contexts", "context", context);
    if (!ctx.isMap()) return fail(path_ + ": contexts: no context named \"" + context + "\"");
    std::string clusterName = ctx.get("cluster").scalar(), userName = ctx.get("user").scalar();
    DocNode cluster = findNamed(root, "clusters", "cluster", clusterName);
    if (!cluster.isMap())
      return fail(path_ + ": clusters: no cluster named \"" + clusterName + "\"");
    c.server = cluster.get("server").scalar();
    if (c.server.empty()) return fail(path_ + ": clusters[" + clusterName + "].server: required");
    SVCR_ASSIGN_OR_RETURN(
        c.caPem, fileOrData(cluster, "certificate-authority", "clusters[" + clusterName + "]"));
    c.insecureSkipVerify = cluster.get("insecure-skip-tls-verify").scalar() == "true";
    DocNode user = findNamed(root, "users", "user", userName);
    std::string userWhere = "users[" + userName + "]";
    if (!userName.empty() && !user.isMap())
      return fail(path_ + ": users: no user named \"" + userName + "\"");
    SVCR_ASSIGN_OR_RETURN(c.clientCertPem, fileOrData(user, "client-certificate", userWhere));
    SVCR_ASSIGN_OR_RETURN(c.clientKeyPem, fileOrData(user, "client-key", userWhere));
    c.token = user.get("token").scalar();
    std::string tokenFile = user.get("tokenFile").scalar();
    if (!tokenFile.empty()) c.tokenFile = resolve(tokenFile);
    if (c.clientCertPem.empty() != c.clientKeyPem.empty())
      return fail(path_ + ": " + userWhere + ": client-certificate and client-key go together");
    c.source = "kubeconfig " + path_ + " (context " + context + ")";
    return c;
  }

 private:
  std::string resolve(const std::string& file) const {
    std::filesystem::path p(file);
    return p.is_absolute() || dir_.empty() ? file : (dir_ / p).string();
  }

  // FIELD (a path) or FIELD-data (base64): the PEM text, or "" when neither.
  Result<std::string> fileOrData(const DocNode& map, const std::string& field,
                                 const std::string& where) {
    std::string data = map.get(field + "-data").scalar();
    if (!data.empty()) return base64Decode(data, path_ + ": " + where + "." + field + "-data");
    std::string file = map.get(field).scalar();
    if (file.empty()) return std::string();
    auto text = readFile_(resolve(file));
    if (!text) return fail(path_ + ": " + where + "." + field + ": " + text.error().message());
    return *text;
  }

  std::string path_;
  std::filesystem::path dir_;
  const FileReader& readFile_;
};

}  // namespace

Result<ApiConfig> loadKubeconfig(const std::string& path) {
  SVCR_ASSIGN_OR_RETURN(auto text, readTextFile(path));
  return parseKubeconfig(text, path, readTextFile);
}

Result<ApiConfig> parseKubeconfig(std::string_view text, const std::string& path,
                                  const FileReader& readFile) {
  auto stream = YamlStream::load(text);
  if (!stream) return fail(path + ": " + stream.error().what);
  if (stream->size() == 0) return fail(path + ": empty kubeconfig");
  return KubeconfigReader(path, readFile).read(DocNode(stream->root(0)));
}

Result<ApiConfig> inClusterConfig(const std::string& secretsDir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    return fail(
        "not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
        "are unset): give --kubeconfig");
  ApiConfig c;
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6
  c.server = "https://" + h + ":" + port;
  c.tokenFile = secretsDir + "/token";
  SVCR_ASSIGN_OR_RETURN(c.caPem, readTextFile(secretsDir + "/ca.crt"));
  SVCR_RETURN_IF_ERROR(currentToken(c));  // readable now, or say so at once
  c.source = "in-cluster (" + secretsDir + ")";
  return c;
}

Result<std::string> currentToken(const ApiConfig& config) {
  if (config.tokenFile.empty()) return config.token;
  SVCR_ASSIGN_OR_RETURN(auto text, readTextFile(config.tokenFile));
  return trimmed(std::move(text));
}

}  // namespace svcrouter
