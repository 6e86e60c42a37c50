#include "loader/features.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

namespace svcrouter::loader {
namespace {

// Just enough of an assembler for the probes below.
bpf_insn mov64Imm(uint8_t dst, int32_t imm) {
  return {BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm};
}
bpf_insn call(int32_t helper) { return {BPF_JMP | BPF_CALL, 0, 0, 0, helper}; }
bpf_insn exitInsn() { return {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}; }
bpf_insn storeStack64(uint8_t src, int16_t off) {
  return {BPF_STX | BPF_DW | BPF_MEM, BPF_REG_10, src, off, 0};
}
bpf_insn atomicFetchAddStack64(uint8_t src, int16_t off) {
  return {BPF_STX | BPF_DW | BPF_ATOMIC, BPF_REG_10, src, off, BPF_ADD | BPF_FETCH};
}

// What a probe found: available, or why not.
struct Finding {
  int err = 0;          // the errno of a refused load; EPERM means we may not probe at all
  std::string refusal;  // empty when available
  bool available() const { return refusal.empty(); }
};

Finding refused(std::string why, int err = 0) { return {err, std::move(why)}; }

// Loads a program and says whether the kernel took it or why not. The
// verifier's refusal (EINVAL for an unknown helper, attach type or
// instruction) is the answer, not an error.
Finding tryLoad(bpf_prog_type type, bpf_attach_type attach, std::vector<bpf_insn> insns) {
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach);
  int fd = bpf_prog_load(type, "svcr_probe", "GPL", insns.data(), insns.size(), &opts);
  if (fd >= 0) {
    close(fd);
    return {};
  }
  return refused(std::strerror(errno), errno);
}

// r1 is the context: load its 16-bit field at `off` into r2.
bpf_insn loadCtx16(int16_t off) {
  return {BPF_LDX | BPF_H | BPF_MEM, BPF_REG_2, BPF_REG_1, off, 0};
}

// A program of `type` and `attach` that runs `prologue`, then calls `helper`
// (if any) with whatever r1 holds: the context, unless the prologue set it.
Finding probeAttachType(bpf_prog_type type, bpf_attach_type attach, int32_t helper = -1,
                        std::vector<bpf_insn> prologue = {}) {
  std::vector<bpf_insn> insns = prologue;
  if (helper >= 0) insns.push_back(call(helper));  // r1 is the context
  insns.push_back(mov64Imm(BPF_REG_0, 1));
  insns.push_back(exitInsn());
  return tryLoad(type, attach, insns);
}

Finding probeAtomicFetch() {
  return tryLoad(BPF_PROG_TYPE_SOCKET_FILTER, BPF_CGROUP_INET_INGRESS,
                 {mov64Imm(BPF_REG_1, 1), storeStack64(BPF_REG_1, -8),
                  atomicFetchAddStack64(BPF_REG_1, -8), mov64Imm(BPF_REG_0, 0), exitInsn()});
}

// Looks a name up in the kernel's BTF.
Finding probeBtf(const btf* vmlinux, const char* name, int kind) {
  if (!vmlinux) return refused("no kernel BTF to look in");
  if (btf__find_by_name_kind(vmlinux, name, kind) >= 0) return {};
  return refused(std::string("no ") + name + " in the kernel's BTF");
}

// An enumerator of `enum bpf_attach_type` in the kernel's BTF.
Finding probeAttachEnum(const btf* vmlinux, const char* value) {
  if (!vmlinux) return refused("no kernel BTF to look in");
  int id = btf__find_by_name_kind(vmlinux, "bpf_attach_type", BTF_KIND_ENUM);
  if (id >= 0) {
    const btf_type* t = btf__type_by_id(vmlinux, id);
    const struct btf_enum* e = btf_enum(t);
    for (int i = 0; i < btf_vlen(t); ++i)
      if (std::strcmp(btf__name_by_offset(vmlinux, e[i].name_off), value) == 0) return {};
  }
  return refused(std::string("no ") + value + " in the kernel's BTF");
}

enum class Use { kOptional, kRequired, kUnused };

Feature feature(FeatureId id, std::string name, std::string what, std::string ifOff,
                Use use = Use::kOptional) {
  Feature f;
  f.id = id;
  f.name = std::move(name);
  f.what = std::move(what);
  f.ifOff = std::move(ifOff);
  f.used = use != Use::kUnused;
  f.required = use == Use::kRequired;
  return f;
}

struct Probe {
  Feature feature;
  Finding (*run)(const btf* vmlinux);
};

const std::vector<Probe>& probes() {
  static const std::vector<Probe> all = {
      // Required: before 5.12 the verifier refuses a fetch instruction even in
      // code it would prove dead, so there is no variant to fall back to.
      {feature(FeatureId::kAtomicFetch, "atomic_fetch", "BPF atomic fetch-and-add (5.12)",
               "svcrouter cannot load: exact round-robin needs it", Use::kRequired),
       [](const btf*) { return probeAtomicFetch(); }},
      {feature(FeatureId::kSetRetval, "set_retval", "bpf_set_retval() in cgroup programs (5.18)",
               "a refused connect()/sendmsg() fails with EPERM instead of ECONNREFUSED"),
       [](const btf*) {
         return probeAttachType(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT,
                                BPF_FUNC_set_retval, {mov64Imm(BPF_REG_1, 0)});
       }},
      {feature(FeatureId::kNetnsCookie, "netns_cookie",
               "bpf_get_netns_cookie() in sock_addr programs (5.7)",
               "sessionAffinity: ClientIP is not honoured: every connection is balanced"),
       [](const btf*) {
         return probeAttachType(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT,
                                BPF_FUNC_get_netns_cookie);
       }},
      {feature(FeatureId::kRecvmsgHook, "recvmsg", "cgroup/recvmsg4 and recvmsg6 hooks (5.2)",
               "UDP replies show the backend's address, not the VIP: clients that check the "
               "source (dig) reject them"),
       [](const btf*) {
         return probeAttachType(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_RECVMSG);
       }},
      {feature(FeatureId::kGetpeerHook, "getpeername",
               "cgroup/getpeername4 and getpeername6 hooks (5.8)",
               "getpeername() returns the backend's address, not the VIP"),
       [](const btf*) {
         return probeAttachType(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_GETPEERNAME);
       }},
      {feature(FeatureId::kReleaseHook, "sock_release",
               "cgroup/sock_release hook with bpf_get_socket_cookie() (5.10)",
               "a closed socket's reverse-NAT entry ages out of the LRU instead of being freed at "
               "close"),
       [](const btf*) {
         // As svcr_release does: a 16-bit read of dst_port (a 4-byte field
         // before 5.19), then bpf_get_socket_cookie().
         return probeAttachType(BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_RELEASE,
                                BPF_FUNC_get_socket_cookie,
                                {loadCtx16(offsetof(struct bpf_sock, dst_port))});
       }},
      {feature(FeatureId::kSockDestroy, "sock_destroy", "bpf_sock_destroy() kfunc (6.5)",
               "connected UDP sockets of removed backends are closed through sock_diag "
               "(SOCK_DESTROY: a kernel built with CONFIG_INET_DIAG_DESTROY)"),
       [](const btf* b) { return probeBtf(b, "bpf_sock_destroy", BTF_KIND_FUNC); }},
      {feature(FeatureId::kTcx, "tcx", "tcx links for TC programs (6.6)",
               "the packet path attaches as cls_bpf filters on a clsact qdisc"),
       [](const btf* b) { return probeAttachEnum(b, "BPF_TCX_INGRESS"); }},
  };
  return all;
}

}  // namespace

bool KernelFeatures::on(FeatureId id) const {
  for (const auto& f : features)
    if (f.id == id) return f.on;
  return false;
}

std::vector<std::string> optionalFeatureNames() {
  std::vector<std::string> names;
  for (const auto& p : probes())
    if (p.feature.used && !p.feature.required) names.push_back(p.feature.name);
  return names;
}

Result<void> checkRequired(const KernelFeatures& kernel) {
  std::string missing;
  for (const auto& f : kernel.features)
    if (f.required && !f.on) missing += (missing.empty() ? "" : "; ") + f.what + ": " + f.reason;
  if (!missing.empty())
    return fail("this kernel (" + kernel.release + ") lacks what svcrouter needs: " + missing +
                ". svcrouter needs Linux 5.12 or newer");
  return {};
}

Result<KernelFeatures> probeKernel(const std::set<std::string>& without) {
  auto optional = optionalFeatureNames();
  for (const auto& name : without)
    if (std::ranges::find(optional, name) == optional.end())
      return fail("--without " + name + ": not an optional feature in use");
  KernelFeatures k;
  utsname u{};
  uname(&u);
  k.release = u.release;
  // The probes' own refusals are expected: keep libbpf quiet meanwhile.
  auto previous = libbpf_set_print(nullptr);
  // The kernel's BTF, read once for every probe that looks in it.
  std::unique_ptr<btf, decltype(&btf__free)> vmlinux(btf__load_vmlinux_btf(), btf__free);
  for (const auto& p : probes()) {
    Feature f = p.feature;
    Finding found = p.run(vmlinux.get());
    if (found.err == EPERM) {
      libbpf_set_print(previous);
      return fail("probe the kernel's BPF features (needs root, or CAP_BPF and CAP_NET_ADMIN)",
                  EPERM);
    }
    f.on = found.available();
    f.reason = f.on ? "probe loaded" : "probe refused: " + found.refusal;
    if (f.on && without.contains(f.name)) {
      f.on = false;
      f.reason = "turned off by --without " + f.name;
    }
    k.features.push_back(f);
  }
  libbpf_set_print(previous);
  return k;
}

}  // namespace svcrouter::loader
