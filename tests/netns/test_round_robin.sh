#!/usr/bin/env bash
# Strict round-robin: 30 sequential curl requests to a ClusterIP over 3
# backends land 10 on each, in a fixed rotating order; list/stats agree.
source "$(dirname "$0")/lib.sh"
require_env curl
make_topology c1:2 b1:11 b2:12 b3:13
for i in 1 2 3; do start_backend b$i backend-$i --tcp 8080; done
svcr apply -f "$({ service web 10.96.0.10 p:80 && slice web-1 web p:8080 -- 10.77.0.11 10.77.0.12 10.77.0.13; } | manifest web.yaml)"

mapfile -t seq < <(for _ in $(seq 30); do in_client c1 curl -sS --max-time 2 http://10.96.0.10/; done)
assert_eq "requests answered" 30 "${#seq[@]}"
assert_round_robin 3 "${seq[@]}"
pass "30 requests: ${seq[*]:0:6} ..."

# The kernel's counters saw the same thing.
counts=$(svcr stats -o json | jq -r '.services[0].backends[].connections' | sort -u)
assert_eq "per-backend connections" 10 "$counts"
assert_eq "service connections" 30 "$(svcr stats -o json | jq '.services[0].connections')"
svcr list | grep -q 'default/web:p  10.96.0.10:80/TCP' || fail "list does not show the service"
pass "stats: 10 connections per backend"


# Traffic to anything that is not a service is left alone.
assert_eq "direct to a backend" backend-2 "$(in_client c1 curl -sS --max-time 2 http://10.77.0.12:8080/)"
pass "non-service traffic untouched"
