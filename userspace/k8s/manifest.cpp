#include "userspace/k8s/manifest.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <memory>

#include "userspace/k8s/doc_node.h"
#include "userspace/k8s/object_reader.h"
#include "userspace/k8s/yaml_doc.h"

namespace svcrouter {

Result<Objects> parseManifests(std::string_view yaml, const std::string& fileName,
                               const YamlLimits& limits) {
  // One document at a time: only its nodes are held beside the objects.
  YamlReader reader(yaml, limits);
  Objects m;
  // Room for as many objects as the text has documents ("---" at the start
  // of a line, an upper bound): a large file's vectors then never move
  // (moving touches fresh memory, and touching it is much of the cost of
  // reading one; room never used is never touched).
  size_t documents = 1;
  for (size_t at = yaml.find("\n---"); at != yaml.npos; at = yaml.find("\n---", at + 4)) ++documents;
  m.services.reserve(documents);
  m.slices.reserve(documents);
  for (size_t i = 1;; ++i) {
    auto doc = reader.next();
    if (!doc) return fail(fileName + ": " + doc.error().what);
    if (!*doc) return m;
    YamlNode root = (*doc)->root();
    if (root.isNull()) continue;  // "---" with nothing after it
    std::string where = fileName + ": document " + std::to_string(i);
    SVCR_RETURN_IF_ERROR(readObject(DocNode(root), where, m));
  }
}

Result<std::string> readTextFile(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return fail("cannot read " + path, errno);
  std::string text;
  // Room for all of it at once: growing a large file's text by doubling
  // would touch (and copy) about twice its size.
  struct stat st {};
  if (fstat(fileno(f.get()), &st) == 0 && st.st_size > 0) text.reserve(st.st_size);
  char buf[65536];
  while (size_t n = std::fread(buf, 1, sizeof(buf), f.get())) text.append(buf, n);
  if (std::ferror(f.get())) return fail("cannot read " + path, errno);
  return text;
}

Result<Objects> readManifestFile(const std::string& path) {
  SVCR_ASSIGN_OR_RETURN(auto text, readTextFile(path));
  return parseManifests(text, path);
}

}  // namespace svcrouter
