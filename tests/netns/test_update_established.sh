#!/usr/bin/env bash
# Removing a backend from a live service keeps an established TCP connection
# to it working, while new connections avoid it.
source "$(dirname "$0")/lib.sh"
require_env curl
make_topology c1:2 b1:11 b2:12 b3:13
for i in 1 2 3; do start_backend b$i backend-$i --tcp 8080; done
web() { service web 10.96.0.10 p:80 && slice web-1 web p:8080 -- "$@"; }
svcr apply -f "$(web 10.77.0.11 10.77.0.12 10.77.0.13 | manifest web.yaml)"

# Hold one connection open; ask it who it is now and then.
hold_open c1 10.96.0.10 80
hold_ask
held=$HOLD_REPLY
n=${held#backend-}
pass "held connection to $held"

# Apply the same service without that backend.
others=()
for i in 1 2 3; do [[ $i == "$n" ]] || others+=("10.77.0.1$i"); done
svcr apply -f "$(web "${others[@]}" | manifest web2.yaml)"

for _ in 1 2 3; do
	hold_ask
	assert_eq "held connection after the update" "$held" "$HOLD_REPLY"
done
pass "established connection to $held still answers"

mapfile -t seq < <(for _ in $(seq 6); do in_client c1 curl -sS --max-time 2 http://10.96.0.10/; done)
printf '%s\n' "${seq[@]}" | grep -qx "$held" && fail "new connection reached removed $held: ${seq[*]}"
assert_round_robin 2 "${seq[@]}"
pass "new connections avoid $held: ${seq[*]}"
hold_close
