#!/usr/bin/env bash
# The agent's memory while it follows a large cluster from a file (issue
# 10: at most 64 MiB resident for 10,000 Services of 10 endpoints): `run
# --config` serves 10k x 10, and its resident size after the first sync,
# and after a change to the file, stays under SVCR_RSS_LIMIT_MIB (64). It
# still serves: Service s0 reaches a real backend.
source "$(dirname "$0")/lib.sh"
require_env curl python3
make_topology c1:2 b1:11
start_backend b1 backend-1 --tcp 8080
limit=${SVCR_RSS_LIMIT_MIB:-64}

python3 "$SVCR_SRC/tests/support/gen_services.py" yaml 10000 10 --serve 10.77.0.11 >"$TMP/config.yaml"
svcr_bg "$TMP/agent" run --config "$TMP/config.yaml"
AGENT_PID=$BG_PID
wait_until --log "$TMP/agent" 60 "the first sync" grep -q "^applied .*10000 service entries, 99991 backends" "$TMP/agent"
assert_eq "s0" backend-1 "$(in_client c1 curl -sS --max-time 2 http://10.100.0.1/)"

# Resident size, once the sync's freed memory is given back (right after it).
rss_mib() { echo $(($(awk '/^VmRSS/ { print $2 }' "/proc/$AGENT_PID/status") / 1024)); }
sleep 1
first=$(rss_mib)
((first <= limit)) || fail "resident after following 10k x 10 from a file: $first MiB, more than $limit MiB"
pass "10k x 10 from a file: $first MiB resident (limit $limit MiB)"

# A change: the file is read again, all of it, and one Service is replanned.
sed -i 's/addresses: \["10.77.0.11"\]/addresses: ["10.77.0.11"]}, {addresses: ["10.250.0.1"]/' "$TMP/config.yaml"
wait_until --log "$TMP/agent" 60 "the change" grep -q "^applied .*10000 service entries, 99992 backends" "$TMP/agent"
sleep 1
after=$(rss_mib)
((after <= limit)) || fail "resident after a change: $after MiB, more than $limit MiB"
pass "after a change: $after MiB resident"
