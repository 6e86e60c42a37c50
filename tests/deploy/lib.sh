# shellcheck shell=bash
# Sourced by tests/deploy/test_*.sh: paths, skip/fail, and the validator's
# npm packages.
SVCR_SRC=${SVCR_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SVCR_BUILD=${SVCR_BUILD:-$SVCR_SRC/build}
deploy_tests=$SVCR_SRC/tests/deploy
# In the build directory, so that the packages are downloaded once per build
# tree (and CI pays for them on its first run only), never into the sources.
node_dir=$SVCR_BUILD/tests/deploy/node

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# Installs package-lock.json's exact packages into $node_dir when the lock
# changed since the last install, and copies the scripts beside them (an ES
# module finds its imports only in a node_modules above it). Skips, with the
# reason, without node and npm, or when npm cannot reach its registry;
# any other install failure is a failure.
node_setup() {
	command -v node >/dev/null || skip "no node: the manifest validator runs on Node.js (apt-get install nodejs npm)"
	command -v npm >/dev/null || skip "no npm: it installs the validator's packages (apt-get install npm)"
	local major
	major=$(node -p 'process.versions.node.split(".")[0]')
	((major >= 18)) || skip "node $(node --version) is too old for the validator (18 or later)"
	mkdir -p "$node_dir"
	if ! cmp -s "$deploy_tests/package-lock.json" "$node_dir/.installed-lock.json"; then
		cp "$deploy_tests/package.json" "$deploy_tests/package-lock.json" "$node_dir/"
		local out
		# --prefer-offline: from npm's cache when it has them. No scripts:
		# none of these packages needs one.
		if ! out=$(cd "$node_dir" && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline \
			--fetch-timeout=30000 --fetch-retries=1 2>&1); then
			if ! (cd "$node_dir" && timeout 60 npm ping >/dev/null 2>&1); then
				skip "npm cannot reach its registry ($(npm config get registry)) to install the validator: $(grep -m1 -i 'npm error\|ERR' <<<"$out")"
			fi
			echo "$out" >&2
			fail "npm ci in $node_dir failed"
		fi
		cp "$deploy_tests/package-lock.json" "$node_dir/.installed-lock.json"
	fi
	cp "$deploy_tests"/*.mjs "$node_dir/"
}

# expect_rejected LABEL FILE SED-EXPR TEXT CHECKER...: runs CHECKER... on a
# copy of FILE (made in the caller's $tmp) with one mistake made by SED-EXPR,
# and requires it to fail with TEXT in its output. This is what shows a checker is live: one that
# passed everything would pass the real files too.
expect_rejected() {
	local label=$1 src=$2 expr=$3 want=$4 out
	shift 4
	local copy=${tmp:?}/$label.yaml
	sed "$expr" "$src" >"$copy"
	# An expression that no longer matches (the file changed) would test
	# nothing: say so instead of passing.
	! cmp -s "$src" "$copy" || fail "negative check '$label': sed '$expr' changes nothing in $src; update the check"
	if out=$("$@" "$copy" 2>&1); then
		echo "$out"
		fail "negative check '$label': the mistake was accepted"
	fi
	grep -qF -- "$want" <<<"$out" || { echo "$out"; fail "negative check '$label': rejected, but not for '$want'"; }
	echo "rejected as expected ($label): $(grep -m1 -F -- "$want" <<<"$out")"
}
