#include "loader/tc.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "loader/pins.h"
#include "maps/bpf_map.h"
#include "maps/layout/nat.h"
#include "svcr_tc.skel.h"

namespace svcrouter::loader {
namespace {

// enum bpf_attach_type's tcx hooks (Linux 6.6), which the uapi headers of
// Debian 12 (6.1) and its libbpf (1.1) do not name yet.
constexpr auto kTcxIngress = static_cast<bpf_attach_type>(46);
constexpr auto kTcxEgress = static_cast<bpf_attach_type>(47);

struct TcSkeletonDeleter {
  void operator()(svcr_tc* s) const { svcr_tc__destroy(s); }
};
using TcSkeleton = std::unique_ptr<svcr_tc, TcSkeletonDeleter>;

// The pin of the tcx link of one hook of a device (bpffs names take no dots,
// which interface names may have: the ifindex names it).
std::string tcxPin(const std::string& pinDir, bool ingress, uint32_t ifindex) {
  return pinDir + "/links/" + SVCR_PREFIX + (ingress ? "tcx_in_" : "tcx_eg_") +
         std::to_string(ifindex);
}

uint32_t ifindexOf(const std::string& device) { return if_nametoindex(device.c_str()); }

// The inode of this process's network namespace: an ifindex means a device
// only in the namespace it was found in.
uint32_t currentNetns() {
  struct stat st {};
  if (stat("/proc/self/ns/net", &st) != 0) return 0;
  return static_cast<uint32_t>(st.st_ino);
}

// The address of a family SNAT uses on a device: a --node-ip it holds,
// else its first (IPv6: not link-local). Nullopt: none.
std::optional<IpAddr> snatAddress(const std::vector<IpAddr>& own, const std::vector<IpAddr>& nodeIps,
                                  bool v6) {
  auto usable = [v6](const IpAddr& a) {
    if (a.isV4() == v6) return false;
    const auto& b = a.bytes();
    return !v6 || !(b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
  };
  for (const IpAddr& a : own)
    if (usable(a) && std::ranges::find(nodeIps, a) != nodeIps.end()) return a;
  for (const IpAddr& a : own)
    if (usable(a)) return a;
  return std::nullopt;
}

Result<void> attachTcx(const std::string& pinDir, bpf_program* prog, bool ingress, uint32_t ifindex,
                       const std::string& device) {
  std::string path = tcxPin(pinDir, ingress, ifindex);
  if (exists(path)) return swapPinnedLink(path, prog);  // an upgrade
  maps::Fd link(bpf_link_create(bpf_program__fd(prog), static_cast<int>(ifindex),
                                ingress ? kTcxIngress : kTcxEgress, nullptr));
  if (!link.valid())
    return fail(
        std::string("attach a tcx link at ") + (ingress ? "ingress" : "egress") + " of " + device,
        errno);
  if (bpf_obj_pin(link.get(), path.c_str()) != 0) return fail("pin link " + path, errno);
  return {};
}

// cls_bpf filters of ours, on the device's clsact qdisc (created if absent);
// returns the SVCR_DEV_F_* flags of what is there now.
Result<uint32_t> attachClsBpf(const svcr_tc& skel, uint32_t ifindex, const std::string& device,
                              uint32_t flags) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_create(&hook);
  if (err == 0)
    flags |= SVCR_DEV_F_OWN_QDISC;
  else if (err != -EEXIST)
    return fail("create a clsact qdisc on " + device, -err);
  for (bool ingress : {true, false}) {
    hook.attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
    const bpf_program* prog = ingress ? skel.progs.svcr_tc_ingress : skel.progs.svcr_tc_egress;
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(prog), .flags = BPF_TC_F_REPLACE,
                .handle = SVCR_TC_HANDLE, .priority = SVCR_TC_PRIORITY);
    if (int e = bpf_tc_attach(&hook, &opts); e != 0)
      return fail(std::string("attach a cls_bpf filter at ") + (ingress ? "ingress" : "egress") +
                      " of " + device,
                  -e);
  }
  return flags | SVCR_DEV_F_CLS_BPF;
}

// Undoes what `dev` records on device ifindex (gone devices: nothing to do).
// tcx links are detached through their pins from anywhere; filters and a
// qdisc only from the device's own network namespace (elsewhere the same
// ifindex is another device: it is left alone, and said).
Result<void> detachDevice(const std::string& pinDir, uint32_t ifindex, const svcr_device& dev) {
  if ((dev.flags & (SVCR_DEV_F_CLS_BPF | SVCR_DEV_F_OWN_QDISC)) && dev.netns != currentNetns()) {
    spdlog::warn(
        "the packet path's filters on ifindex {} are in another network namespace: left there "
        "(unload in that namespace removes them; so does deleting it)",
        ifindex);
    return {};
  }
  if (dev.flags & SVCR_DEV_F_TCX)
    for (bool ingress : {true, false})
      SVCR_RETURN_IF_ERROR(detachPinnedLink(tcxPin(pinDir, ingress, ifindex)));
  if (dev.flags & (SVCR_DEV_F_CLS_BPF | SVCR_DEV_F_OWN_QDISC)) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex));
    for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
      hook.attach_point = point;
      LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SVCR_TC_HANDLE, .priority = SVCR_TC_PRIORITY);
      int err = bpf_tc_detach(&hook, &opts);
      if (err != 0 && err != -ENOENT && err != -ENODEV && err != -EINVAL)
        return fail("detach the cls_bpf filter of ifindex " + std::to_string(ifindex), -err);
    }
    if (dev.flags & SVCR_DEV_F_OWN_QDISC) {
      hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
      int err = bpf_tc_hook_destroy(&hook);
      if (err != 0 && err != -ENOENT && err != -ENODEV && err != -EINVAL)
        return fail("remove the clsact qdisc of ifindex " + std::to_string(ifindex), -err);
    }
  }
  return {};
}

enum class LinkLocal { kSkip, kKeep };

// The addresses of one device, or of every device when `device` is empty;
// IPv4 first.
Result<std::vector<IpAddr>> interfaceAddresses(const std::string& device, LinkLocal linkLocal) {
  ifaddrs* all = nullptr;
  if (getifaddrs(&all) != 0)
    return fail("list the addresses of " + (device.empty() ? "this node" : device), errno);
  std::vector<IpAddr> v4, v6;
  for (ifaddrs* a = all; a; a = a->ifa_next) {
    if (!a->ifa_addr || (!device.empty() && device != a->ifa_name)) continue;
    std::array<uint8_t, 16> bytes{};
    if (a->ifa_addr->sa_family == AF_INET) {
      bytes[10] = bytes[11] = 0xff;
      std::memcpy(bytes.data() + 12, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, 4);
      v4.push_back(IpAddr::fromBytes(bytes));
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr);
      if (linkLocal == LinkLocal::kSkip && IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr)) continue;
      std::memcpy(bytes.data(), &in6->sin6_addr, 16);
      v6.push_back(IpAddr::fromBytes(bytes));
    }
  }
  freeifaddrs(all);
  v4.insert(v4.end(), v6.begin(), v6.end());
  return v4;
}

}  // namespace

Result<std::vector<IpAddr>> deviceAddresses(const std::string& device) {
  if (ifindexOf(device) == 0) return fail("--tc-dev " + device + ": no such device", ENODEV);
  return interfaceAddresses(device, LinkLocal::kSkip);
}

Result<std::vector<IpAddr>> nodeAddresses() {
  return interfaceAddresses(std::string(), LinkLocal::kKeep);
}

Result<void> attachTc(const std::string& pinDir, const TcOptions& options,
                      const MapSizes& sizes, const KernelFeatures& features) {
  // Every device first: nothing is attached when one is missing.
  std::map<uint32_t, std::string> devices;
  for (const auto& name : options.devices) {
    uint32_t ifindex = ifindexOf(name);
    if (ifindex == 0) return fail("--tc-dev " + name + ": no such device", ENODEV);
    devices[ifindex] = name;
  }
  TcSkeleton skel(svcr_tc__open());
  if (!skel) return fail("open the packet path's BPF object", errno);
  // The service table is the socket programs' (pinned already); the packet
  // path's own maps are pinned beside it on first load.
  SVCR_RETURN_IF_ERROR(sizeMaps(skel->obj, pinDir, sizes));
  bpf_map* map;
  bpf_object__for_each_map(map, skel->obj) {
    if (bpf_map__is_internal(map)) continue;
    std::string path = pinDir + "/maps/" + bpf_map__name(map);
    if (int err = bpf_map__set_pin_path(map, path.c_str()); err != 0)
      return fail("set pin path of " + std::string(bpf_map__name(map)), err);
  }
  if (int err = svcr_tc__load(skel.get()); err != 0)
    return fail("load the packet path's programs", err);
  SVCR_ASSIGN_OR_RETURN(auto devMap,
                        (maps::TypedMap<uint32_t, svcr_device>::from(skel->maps.svcr_devices)));
  // Devices attached before but not asked for now are left as found.
  SVCR_ASSIGN_OR_RETURN(auto before, devMap.entries());
  for (const auto& [ifindex, dev] : before) {
    if (devices.contains(ifindex)) continue;
    SVCR_RETURN_IF_ERROR(detachDevice(pinDir, ifindex, dev));
    (void)devMap.erase(ifindex);
  }
  const bool tcx = features.on(FeatureId::kTcx);
  for (const auto& [ifindex, name] : devices) {
    svcr_device dev{};
    for (const auto& [i, d] : before)
      if (i == ifindex) dev = d;
    // Switching between tcx and clsact (--without tcx): undo the other first.
    if (tcx && (dev.flags & ~SVCR_DEV_F_TCX)) {
      svcr_device other{};
      other.flags = dev.flags & ~SVCR_DEV_F_TCX;
      SVCR_RETURN_IF_ERROR(detachDevice(pinDir, ifindex, other));
      dev.flags &= SVCR_DEV_F_TCX;
    } else if (!tcx && (dev.flags & SVCR_DEV_F_TCX)) {
      svcr_device other{};
      other.flags = SVCR_DEV_F_TCX;
      SVCR_RETURN_IF_ERROR(detachDevice(pinDir, ifindex, other));
      dev.flags &= ~SVCR_DEV_F_TCX;
    }
    SVCR_ASSIGN_OR_RETURN(auto own, deviceAddresses(name));
    dev.ip4 = 0;
    dev.ip6 = {};
    if (auto a = snatAddress(own, options.nodeIps, false))
      std::memcpy(&dev.ip4, a->bytes().data() + 12, 4);
    if (auto a = snatAddress(own, options.nodeIps, true))
      std::memcpy(&dev.ip6, a->bytes().data(), 16);
    dev.netns = currentNetns();
    if (tcx) {
      SVCR_RETURN_IF_ERROR(attachTcx(pinDir, skel->progs.svcr_tc_ingress, true, ifindex, name));
      SVCR_RETURN_IF_ERROR(attachTcx(pinDir, skel->progs.svcr_tc_egress, false, ifindex, name));
      dev.flags |= SVCR_DEV_F_TCX;
    } else {
      SVCR_ASSIGN_OR_RETURN(dev.flags, attachClsBpf(*skel, ifindex, name, dev.flags));
    }
    SVCR_RETURN_IF_ERROR(devMap.update(ifindex, dev));
  }
  return {};
}

Result<void> detachTc(const std::string& pinDir) {
  std::string path = pinDir + "/maps/svcr_devices";
  if (!exists(path)) return {};
  maps::Fd fd(bpf_obj_get(path.c_str()));
  if (!fd.valid()) return fail("open pinned map " + path, errno);
  uint32_t key, next;
  uint32_t* prev = nullptr;
  while (bpf_map_get_next_key(fd.get(), prev, &next) == 0) {
    svcr_device dev{};
    if (bpf_map_lookup_elem(fd.get(), &next, &dev) == 0)
      SVCR_RETURN_IF_ERROR(detachDevice(pinDir, next, dev));
    key = next;
    prev = &key;
  }
  return {};
}

}  // namespace svcrouter::loader
