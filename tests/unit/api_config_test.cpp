// kubeconfig and in-cluster configuration, as client-go reads them.
#include "userspace/k8s/api_config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace svcrouter {
namespace {

namespace fs = std::filesystem;

class ApiConfigTest : public ::testing::Test {
 protected:
  ApiConfigTest() {
    char tmpl[] = "/tmp/svcr-apiconfig.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~ApiConfigTest() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

// base64("CA PEM\n") and friends.
constexpr const char* kKubeconfig = R"(apiVersion: v1
kind: Config
current-context: two
clusters:
- name: a
  cluster: {server: "https://10.0.0.1:6443", certificate-authority-data: "Q0EgUEVNCg=="}
- name: b
  cluster: {server: "https://[fd00::1]:6443", certificate-authority: ca.crt}
users:
- name: u1
  user: {client-certificate-data: "Q0VSVAo=", client-key-data: "S0VZCg=="}
- name: u2
  user: {tokenFile: token}
contexts:
- name: one
  context: {cluster: a, user: u1}
- name: two
  context: {cluster: b, user: u2}
)";

TEST_F(ApiConfigTest, CurrentContextWithRelativeFiles) {
  write("ca.crt", "CA FILE\n");
  write("token", "  t0ken\n");
  auto c = loadKubeconfig(write("config", kKubeconfig));
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->server, "https://[fd00::1]:6443");
  EXPECT_EQ(c->caPem, "CA FILE\n");
  EXPECT_EQ(c->tokenFile, (dir_ / "token").string());
  EXPECT_EQ(*currentToken(*c), "t0ken");
  write("token", "rotated\n");  // read again at each use
  EXPECT_EQ(*currentToken(*c), "rotated");
}

TEST_F(ApiConfigTest, DataFieldsAreBase64) {
  std::string text = kKubeconfig;
  text.replace(text.find("current-context: two"), 20, "current-context: one");
  auto c = loadKubeconfig(write("config", text));
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->server, "https://10.0.0.1:6443");
  EXPECT_EQ(c->caPem, "CA PEM\n");
  EXPECT_EQ(c->clientCertPem, "CERT\n");
  EXPECT_EQ(c->clientKeyPem, "KEY\n");
  EXPECT_EQ(*currentToken(*c), "");
}

TEST_F(ApiConfigTest, ErrorsNameTheFileAndField) {
  std::string text = kKubeconfig;
  text.replace(text.find("current-context: two"), 20, "current-context: six");
  auto path = write("config", text);
  auto c = loadKubeconfig(path);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().what, path + ": contexts: no context named \"six\"");
  auto missing = loadKubeconfig(write("config2", kKubeconfig));  // ca.crt is not there
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().what.find("clusters[b].certificate-authority"), std::string::npos)
      << missing.error().what;
}

TEST_F(ApiConfigTest, InCluster) {
  write("ca.crt", "SA CA\n");
  write("token", "sa-token\n");
  unsetenv("KUBERNETES_SERVICE_HOST");
  auto none = inClusterConfig(dir_.string());
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().what.find("give --kubeconfig"), std::string::npos);
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto c = inClusterConfig(dir_.string());
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->caPem, "SA CA\n");
  EXPECT_EQ(*currentToken(*c), "sa-token");
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
}

}  // namespace
}  // namespace svcrouter
