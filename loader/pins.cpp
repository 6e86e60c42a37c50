#include "loader/pins.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
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

Result<void> makePinDirs(const std::string& pinDir) {
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(pinDir).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return fail("create directory " + parent.string(), ec.value());
  for (const auto& dir : {pinDir, pinDir + "/maps", pinDir + "/links"})
    if (mkdir(dir.c_str(), kPinDirMode) != 0 && errno != EEXIST)
      return fail("create directory " + dir, errno);
  return {};
}

Result<std::vector<LoosePin>> loosePins(const std::string& pinDir) {
  std::vector<LoosePin> loose;
  auto check = [&loose](const std::string& path) -> Result<void> {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return {};  // removed meanwhile
      return fail("stat " + path, errno);
    }
    if (S_ISLNK(st.st_mode)) return {};  // its mode means nothing
    const unsigned mode = st.st_mode & 07777;
    if (mode & 077) loose.push_back({path, mode, S_ISDIR(st.st_mode)});
    return {};
  };
  if (!exists(pinDir)) return loose;
  SVCR_RETURN_IF_ERROR(check(pinDir));
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(pinDir, ec), end; !ec && it != end;
       it.increment(ec))
    SVCR_RETURN_IF_ERROR(check(it->path().string()));
  if (ec) return fail("list " + pinDir, ec.value());
  return loose;
}

Result<std::vector<LoosePin>> restrictPins(const std::string& pinDir) {
  SVCR_ASSIGN_OR_RETURN(auto loose, loosePins(pinDir));
  for (const auto& p : loose)
    if (chmod(p.path.c_str(), p.directory ? kPinDirMode : kPinMode) != 0 && errno != ENOENT)
      return fail("restrict the mode of " + p.path, errno);
  return loose;
}

}  // namespace svcrouter::loader
