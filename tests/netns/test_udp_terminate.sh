#!/usr/bin/env bash
# A connected UDP socket whose backend leaves its service is closed: its next
# use fails, and a new socket reaches a live backend. A socket to a backend
# that stays, a socket to a backend that is merely terminating, and a TCP
# connection to the removed backend are left alone. IPv4 and IPv6 (a
# dual-stack Service). Three times, each on a
# fresh datapath: `apply` with the kernel's mechanism (the bpf_sock_destroy
# kfunc through a socket iterator where the kernel has it), `apply --without
# sock_destroy` (sock_diag's SOCK_DESTROY), and the agent (`run --config`).
source "$(dirname "$0")/lib.sh"
require_env
make_topology c1:2 b1:11 b2:12 b3:13
start_backend b1 echo-1 --udp 5454 --tcp 8080
start_backend b2 echo-2 --udp 5454 --tcp 8080
start_backend b3 echo-3 --udp 5454 --tcp 8080
host_of() { [[ $1 == echo-1 ]] && echo 11 || echo 12; }

# dns: 53/UDP and 80/TCP on 10.96.0.53 and fd96::53, over the hosts given
# (N[/COND]: 10.77.0.N and fd77::N).
dns() {
	local v4=() v6=() h
	for h in "$@"; do v4+=("10.77.0.$h") v6+=("fd77::$h"); done
	service dns 10.96.0.53,fd96::53 dns:53/UDP web:80/TCP &&
		slice dns-4 dns dns:5454/UDP web:8080/TCP -- "${v4[@]}" &&
		slice dns-6 dns dns:5454/UDP web:8080/TCP --v6 -- "${v6[@]}"
}

# A connected UDP socket held open in c1 by svcr-probe udphold, asked again
# for every line written to it: udp_open NAME; udp_ask NAME sets ANSWER to
# the backend that replied, or to errno=... when the call failed (the probe
# then exits: ask no more).
declare -A UDP_FD
udp_open() { # udp_open NAME VIP
	local name=$1 fd
	mkfifo "$TMP/$name.in"
	in_client c1 "$PROBE" udphold "$2" 53 --connect <"$TMP/$name.in" >"$TMP/$name.out" 2>&1 &
	PIDS+=($!)
	exec {fd}>"$TMP/$name.in"
	UDP_FD[$name]=$fd
	udp_answer "$name" 1
}
answers() { grep -cE '^(reply|errno)=' "$TMP/$1.out" || true; }
has_answers() { (($(answers "$1") >= $2)); }
udp_answer() {
	wait_until --log "$TMP/$1.out" 5 "answer $2 of socket $1" has_answers "$1" "$2"
	ANSWER=$(grep -E '^(reply|errno)=' "$TMP/$1.out" | sed -n "$2p")
	ANSWER=${ANSWER#reply=}
}
udp_ask() {
	local n=$(($(answers "$1") + 1))
	echo >&"${UDP_FD[$1]}"
	udp_answer "$1" "$n"
}
applied() { grep -c "^applied " "$1" || true; }
applied_more() { (($(applied "$1") > $2)); }
closed_count() { svcr stats -o json | jq -r '.udp_socket_termination.closed'; }

# scenario NAME MECHANISM HOW: HOW is "apply [OPTIONS]" or "run".
scenario() {
	local name=$1 mechanism=$2 how=$3 agent="" step=0
	# apply_now FILE: the table becomes FILE, and the socket pass has run.
	apply_now() {
		step=$((step + 1))
		if [[ $how == run ]]; then
			local before
			before=$(applied "$agent")
			# Renamed into place: the agent never reads half a file.
			cp "$1" "$TMP/$name.yaml.new" && mv "$TMP/$name.yaml.new" "$TMP/$name.yaml"
			wait_until --log "$agent" 5 "the agent to apply step $step" applied_more "$agent" "$before"
			LAST=$agent
		else
			# shellcheck disable=SC2086
			svcr ${how#apply} apply -f "$1" >"$TMP/$name-$step.out" 2>&1 || fail "apply: $(cat "$TMP/$name-$step.out")"
			LAST=$TMP/$name-$step.out
		fi
	}
	{ dns 11 12; } | manifest "$name-both.yaml" >/dev/null
	if [[ $how == run ]]; then
		agent=$TMP/$name-agent.log
		cp "$TMP/$name-both.yaml" "$TMP/$name.yaml"
		svcr_bg "$agent" run --config "$TMP/$name.yaml" -v
		wait_until --log "$agent" 5 "the agent to follow its file" grep -q following "$agent"
	else
		apply_now "$TMP/$name-both.yaml"
	fi

	# A TCP connection; the backend it reached is the one to remove. Per
	# family, two connected UDP sockets, one on each backend (round-robin).
	hold_open c1 10.96.0.53 80
	hold_ask
	local gone=$HOLD_REPLY stays doomed=() kept=() family vip first second s
	[[ $gone == echo-1 ]] && stays=echo-2 || stays=echo-1
	for family in 4 6; do
		[[ $family == 4 ]] && vip=10.96.0.53 || vip=fd96::53
		udp_open "$name-$family-a" $vip
		first=$ANSWER
		udp_open "$name-$family-b" $vip
		second=$ANSWER
		[[ $first != "$second" && $first == echo-* && $second == echo-* ]] ||
			fail "$name: two sockets to $vip, expected both backends, got '$first' and '$second'"
		if [[ $first == "$gone" ]]; then
			doomed+=("$name-$family-a") kept+=("$name-$family-b")
		else
			doomed+=("$name-$family-b") kept+=("$name-$family-a")
		fi
	done

	# Terminating (still serving, still listed) is not leaving: every UDP
	# socket keeps its backend.
	{ dns "$(host_of "$stays")" "$(host_of "$gone")/ready=false,serving=true,terminating=true"; } |
		manifest "$name-draining.yaml" >/dev/null
	apply_now "$TMP/$name-draining.yaml"
	for s in "${doomed[@]}"; do
		udp_ask "$s"
		assert_eq "$name: socket $s to a terminating backend" "$gone" "$ANSWER"
	done
	for s in "${kept[@]}"; do
		udp_ask "$s"
		assert_eq "$name: socket $s to a ready backend" "$stays" "$ANSWER"
	done
	pass "$name: a terminating backend keeps its connected UDP sockets (IPv4, IPv6)"

	# Removed, and echo-3 added (the backend set changes: the agent closes
	# sockets only after the grace period of that flip): the removed
	# backend's UDP sockets are closed, the others are not.
	{ dns "$(host_of "$stays")" 13; } | manifest "$name-removed.yaml" >/dev/null
	apply_now "$TMP/$name-removed.yaml"
	wait_until --log "$LAST" 5 "the socket pass after the removal" \
		grep -q "closed 2 connected UDP sockets whose backend left ($mechanism," "$LAST"
	pass "$name: $(grep -o "closed 2 connected UDP sockets.*" "$LAST" | tail -1)"
	for s in "${doomed[@]}"; do
		udp_ask "$s"
		case $ANSWER in
		errno=EDESTADDRREQ | errno=ECONNABORTED) ;;
		*) fail "$name: socket $s to the removed $gone: expected an error, got '$ANSWER'" ;;
		esac
		pass "$name: socket $s to the removed $gone failed its next send ($ANSWER)"
	done
	local fresh
	for vip in 10.96.0.53 fd96::53; do
		fresh=$(in_client c1 "$PROBE" udp $vip 53 --connect | sed -n 's/^reply=//p')
		[[ $fresh == "$stays" || $fresh == echo-3 ]] ||
			fail "$name: a new socket to $vip: expected $stays or echo-3, got '$fresh'"
	done
	for s in "${kept[@]}"; do
		udp_ask "$s"
		assert_eq "$name: socket $s to the backend that stayed" "$stays" "$ANSWER"
	done
	hold_ask
	assert_eq "$name: the TCP connection to the removed backend" "$gone" "$HOLD_REPLY"
	pass "$name: new sockets reach live backends; the sockets to $stays and the TCP connection to $gone are untouched"
	assert_eq "$name: stats' closed sockets" 2 "$(closed_count)"
	svcr stats | grep -q "^udp sockets of removed backends: closed=2 failed=0 " ||
		fail "$name: stats: $(svcr stats | tail -1)"

	# Clean slate for the next scenario.
	hold_close
	for s in "${doomed[@]}" "${kept[@]}"; do eval "exec ${UDP_FD[$s]}>&-"; done
	if [[ -n $agent ]]; then
		kill "$BG_PID"
		wait_pid "$BG_PID" 5 || true
	fi
	svcr unload >/dev/null
}

status=$(svcr status)
if grep -Eq '^  sock_destroy +on ' <<<"$status"; then
	scenario iter bpf_sock_destroy apply
else
	echo "note: this kernel has no bpf_sock_destroy: the first scenario uses sock_diag too"
	scenario iter sock_diag apply
fi
scenario diag sock_diag "apply --without sock_destroy"
scenario agent "$(grep -Eq '^  sock_destroy +on ' <<<"$status" && echo bpf_sock_destroy || echo sock_diag)" run
