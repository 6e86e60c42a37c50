# shellcheck shell=bash
# Sourced by scripts/bench-*.sh: SRC (the sources), and bench_build DIR,
# which exports SVCR_BUILD: DIR (--build) when given, else $SVCR_BUILD when
# set, else an (incremental) build of these sources into build/.
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bench_build() {
	if [[ -n $1 ]]; then
		SVCR_BUILD=$(realpath "$1")
	elif [[ -z ${SVCR_BUILD:-} ]]; then
		"$SRC/scripts/build.sh" >/dev/null # also installs what is missing
		SVCR_BUILD=$SRC/build
	fi
	export SVCR_BUILD
}

# bench_endpoint_changes M: M changes of Service s0's EndpointSlice s0-1 in
# namespace bench, 50 ms apart, through svcr-apiserver's admin port ($ADMIN,
# from $API_NS: tests/apiserver/lib.sh), one connection kept open; each is
# stamped with its last-change-trigger-time just before it is sent, as the
# EndpointSlice controller stamps it.
bench_endpoint_changes() {
	in_ns "$API_NS" python3 - "$ADMIN" "$1" <<'PY'
import datetime, http.client, json, sys, time
host, port = sys.argv[1].rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port))
for i in range(int(sys.argv[2])):
    ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = json.dumps({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"name": "s0-1", "namespace": "bench", "labels": {"kubernetes.io/service-name": "s0"},
                     "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": ts}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [f"10.250.{i // 250 % 250}.{i % 250 + 1}"]}]})
    conn.request("POST", "/objects", body, {"Content-Type": "application/json"})
    conn.getresponse().read()
    time.sleep(0.05)
PY
}
