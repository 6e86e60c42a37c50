#!/usr/bin/env bash
# (From the team's shared tools, kept here so that CI, which has only this
# repository, can run the kernel matrix.)
# Boot a Debian kernel package in qemu (software emulation, no KVM needed) with a busybox initramfs that
# carries the given programs and their shared libraries, run a shell script inside, print its output.
# Use it to check that BPF programs load and work on another kernel than the host's, e.g. Debian 12's
# stock 6.1 kernel, which most Debian 12 VMs run.
#
#   run-on-kernel.sh [-k linux-image-amd64] [-f FILE]... [-t SECONDS] SCRIPT
#     -k  Debian kernel package (default linux-image-amd64: the distribution's current kernel)
#     -f  a file or directory to copy into the guest at the same absolute path (repeatable);
#         for an executable, its shared libraries (ldd) come along
#     -t  time limit for the whole boot + script (default 300)
#   SCRIPT runs under /bin/sh (busybox) as root with /proc, /sys, /dev, bpffs at /sys/fs/bpf and cgroup2 at
#   /sys/fs/cgroup mounted, loopback up. Its exit status is printed as "GUEST-EXIT <n>", and this script exits
#   with it. Needs: qemu-system-x86, busybox-static, cpio (Debian packages; installed on first use).
set -euo pipefail
pkg=linux-image-amd64; limit=300; files=()
while getopts "k:f:t:" o; do case $o in k) pkg=$OPTARG;; f) files+=("$OPTARG");; t) limit=$OPTARG;; *) exit 64;; esac; done
shift $((OPTIND - 1)); script=${1:?usage: run-on-kernel.sh [-k PKG] [-f FILE]... SCRIPT}
for b in qemu-system-x86_64 busybox cpio; do
  command -v $b >/dev/null || need=1
done
if [ "${need:-0}" = 1 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 busybox-static cpio >/dev/null
fi
cache=${RUN_ON_KERNEL_CACHE:-/var/cache/run-on-kernel}; mkdir -p "$cache"
# package lists are needed to find and download the kernel package
apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]' || apt-get update -qq >/dev/null
# resolve a meta package (linux-image-amd64) to the real image package
real=$(apt-cache depends "$pkg" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); real=${real:-$pkg}
# the modules a service router needs (cls_bpf, clsact, veth; inet_diag and udp_diag for sock_diag's
# SOCK_DESTROY of UDP sockets), with what they depend on; a cache made for another list is made again
# (a module the kernel has built in is simply not there)
mods="cls_bpf sch_ingress veth inet_diag udp_diag"
if [ ! -f "$cache/$real/vmlinuz" ] || [ "$(cat "$cache/$real/modules.list" 2>/dev/null)" != "$mods" ]; then
  tmp=$(mktemp -d); (cd "$tmp" && apt-get download "$real" >/dev/null 2>&1) || { echo "cannot download $real" >&2; exit 2; }
  mkdir -p "$cache/$real"; dpkg-deb -x "$tmp"/*.deb "$tmp/x"
  cp "$tmp"/x/boot/vmlinuz-* "$cache/$real/vmlinuz"
  kv=$(ls "$tmp/x/lib/modules"); mkdir -p "$cache/$real/modules"
  for m in $mods; do
    f=$(find "$tmp/x/lib/modules/$kv" -name "$m.ko*" | head -1); [ -n "$f" ] && cp "$f" "$cache/$real/modules/"
  done
  echo "$mods" >"$cache/$real/modules.list"
  rm -rf "$tmp"
fi
root=$(mktemp -d); trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc,run,lib/modules}
cp "$(command -v busybox)" "$root/bin/busybox"
cp "$cache/$real"/modules/* "$root/lib/modules/" 2>/dev/null || true
copy() { mkdir -p "$root$(dirname "$1")"; cp -a "$1" "$root$1"; }
for f in "${files[@]}"; do
  f=$(readlink -f "$f"); copy "$f"
  # shared libraries of ELF executables only: ldd fails on a script
  if [ -f "$f" ] && [ -x "$f" ] && [ "$(head -c4 "$f" | tail -c3)" = ELF ]; then
    ldd "$f" 2>/dev/null | grep -o '/[^ ]*' | while read -r l; do [ -e "$l" ] && copy "$(readlink -f "$l")" && { [ "$(readlink -f "$l")" = "$l" ] || { mkdir -p "$root$(dirname "$l")"; ln -sf "$(readlink -f "$l")" "$root$l"; }; }; done
  fi
done
cp "$script" "$root/guest-script"; chmod +x "$root/guest-script"
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
mount -t bpf bpf /sys/fs/bpf; mkdir -p /sys/fs/cgroup; mount -t cgroup2 none /sys/fs/cgroup
mkdir -p /var/run/netns /run/netns
# by name, so that a module is loaded after what it depends on (udp_diag after inet_diag)
for m in /lib/modules/*.ko*; do insmod "$m" 2>/dev/null; done
ip link set lo up
echo "GUEST-KERNEL $(uname -r)"
sh /guest-script; echo "GUEST-EXIT $?"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$root.initrd")
out=$(timeout "$limit" qemu-system-x86_64 -accel tcg -cpu max -m 2048 -smp 1 -kernel "$cache/$real/vmlinuz" \
  -initrd "$root.initrd" -append "console=ttyS0 quiet panic=-1" -nographic -no-reboot 2>&1 | tr -d '\r'); rm -f "$root.initrd"
echo "$out" | sed -n 's/.*\(GUEST-KERNEL\)/\1/; /GUEST-KERNEL/,$p' | grep -v "reboot: Power down"
code=$(echo "$out" | sed -n 's/^GUEST-EXIT \([0-9]*\)$/\1/p' | tail -1)
exit "${code:-3}"
