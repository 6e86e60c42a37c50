#include "loader/pins.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "maps/fd.h"

namespace svcrouter::loader {

bool exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

Result<void> swapPinnedLink(const std::string& path, bpf_program* prog) {
  bpf_link* link = bpf_link__open(path.c_str());
  if (!link) return fail("open pinned link " + path, errno);
  int err = bpf_link__update_program(link, prog);
  bpf_link__destroy(link);  // closes our fd; the pin keeps the link
  if (err != 0) return fail("replace program in " + path, err);
  return {};
}

Result<void> detachPinnedLink(const std::string& path) {
  maps::Fd fd(bpf_obj_get(path.c_str()));
  if (fd.valid() && bpf_link_detach(fd.get()) != 0 && errno != EINVAL && errno != ENOLINK)
    return fail("detach " + path, errno);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return fail("unpin " + path, errno);
  return {};
}

}  // namespace svcrouter::loader
