#!/usr/bin/env bash
# deploy/systemd/svcrouter.service, the VM service: systemd accepts it
# (systemd-analyze verify, with ExecStart pointed at this build), it restarts
# on failure, it runs `run --config /etc/svcrouter/services.yaml`, and that
# command line is one svcrouter's parser knows. Nothing is started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
unit=$SVCR_SRC/deploy/systemd/svcrouter.service
command -v systemd-analyze >/dev/null || skip "no systemd-analyze (apt-get install systemd)"
[[ -x $SVCR_BUILD/svcrouter ]] || fail "no $SVCR_BUILD/svcrouter: build first"

exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[[ $exec_start == "/usr/local/bin/svcrouter run --config /etc/svcrouter/services.yaml" ]] ||
	fail "ExecStart is '$exec_start'"
grep -qx 'Restart=on-failure' "$unit" || fail "the unit does not restart on failure"
grep -qx 'WantedBy=multi-user.target' "$unit" || fail "the unit is not wanted by multi-user.target"

# verify checks the binary exists: point it at this build's.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/local/bin/svcrouter|$SVCR_BUILD/svcrouter|" "$unit" >"$tmp/svcrouter.service"
out=$(systemd-analyze verify --man=no "$tmp/svcrouter.service" 2>&1) || fail "systemd-analyze verify: $out"
# It warns on stderr and still exits 0 for some mistakes: any line about
# our unit is one.
if grep -q "svcrouter.service" <<<"$out"; then fail "systemd-analyze verify: $out"; fi
echo "ok: systemd-analyze verify accepts the unit"

# The arguments are svcrouter's: `run` has --config (asked without running).
help=$("$SVCR_BUILD/svcrouter" run --help 2>&1) || fail "svcrouter run --help: $help"
grep -q -- "--config" <<<"$help" || fail "svcrouter run has no --config: $help"
echo "ok: ExecStart's command line is svcrouter's"
