#!/usr/bin/env bash
# Installs what svcrouter needs to build, test, demo and benchmark, from
# Debian 12's archive. Idempotent: installs only what is missing.
set -euo pipefail

packages=(
	# build
	cmake make g++ pkg-config clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
	libyaml-dev libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libgtest-dev
	libgmock-dev python3-yaml libcurl4-openssl-dev libssl-dev libcpp-httplib-dev prometheus-cpp-dev openssl
	libcap-dev
	# the DNS responder's messages (userspace/dns)
	libldns-dev
	# fuzzing and sanitizers (scripts/fuzz.sh, scripts/sanitize.sh): a clang whose C++23 has
	# std::expected with this libstdc++ (clang 14's has not), with libFuzzer and ASan/UBSan
	clang-19 libclang-rt-19-dev
	# tests and demo: namespaces, real clients and servers
	iproute2 util-linux procps curl jq dnsmasq-base bind9-dnsutils iperf3
	# the kernel matrix: Debian 12's 6.1 kernel booted under qemu
	qemu-system-x86 busybox-static cpio
	# benchmark alternatives and load (scripts/bench-dns.sh: dnsperf against the responder and dnsmasq;
	# scripts/bench.sh: kube-proxy's iptables and nftables modes, HAProxy, IPVS where the
	# kernel has it, and its plots)
	iptables dnsperf nftables haproxy ipvsadm gnuplot-nox
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	exit 0
fi
if [[ $(id -u) != 0 ]]; then
	echo "missing packages: ${missing[*]}; run this script as root to install them" >&2
	exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Debian's haproxy starts a system service on port 80 when installed: the benchmark starts
# its own in a test namespace, so none may start here (invoke-rc.d asks policy-rc.d; 101:
# not now), and none is left enabled for the next boot.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
	trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [[ " ${missing[*]} " == *" haproxy "* ]] && command -v systemctl >/dev/null; then
	systemctl disable --now haproxy >/dev/null 2>&1 || true
fi
((made_policy == 0)) || { rm -f "$policy" && trap - EXIT; }
