#!/usr/bin/env bash
# The svcrouter demo: builds, makes a small topology of network namespaces
# (a client and three web backends that answer with their own name), applies
# examples/demo.yaml, and shows requests to the ClusterIP landing
# round-robin. Everything it creates is removed when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
source tests/netns/lib.sh
require_env curl

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "topology: client 10.77.0.2, backends web-1..3 at 10.77.0.11-13:8080 (network namespaces)"
make_topology client:2 web1:11 web2:12 web3:13
for i in 1 2 3; do start_backend web$i web-$i --tcp 8080; done

step "svcrouter apply -f examples/demo.yaml   (socket programs attached to a child cgroup: $CG)"
svcr apply -f examples/demo.yaml
svcr list

step "9 requests from the client to http://10.96.0.10/ (the ClusterIP)"
for i in $(seq 9); do
	printf '  request %d -> %s\n' "$i" "$(in_client client curl -sS --max-time 2 http://10.96.0.10/)"
done

step "svcrouter stats"
svcr stats

step "what the client sees: getpeername() returns the ClusterIP, not the backend"
in_client client "$PROBE" tcp 10.96.0.10 80 | sed 's/^/  /'

step "cleaning up (svcrouter unload, namespaces, cgroup)"
