#!/usr/bin/env bash
# Runs doppel's gRPC integration tests against contract_double.mjs (a
# grpc-js stand-in that follows the gRPC mock contract) instead of doppel,
# to check the tests themselves:
#
#   tests/node/grpc/run_against_double.sh [TEST_FILE...] [-- unittest args]
#   (default: test_grpc_calls.py test_grpc_streams.py test_grpc_admin.py)
#
# Known differences, where the double cannot behave as the contract says
# (grpc-js decides): unknown methods are answered UNIMPLEMENTED by grpc-js
# before the double sees them (no unmatched entry); reflection reports
# @grpc/reflection's file names; the HTTP/2 checks of test_grpc_hostile.py
# and the limits of test_grpc_config.py are grpc-js's.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
FAKE=$(mktemp -d /tmp/doppel-grpc-double.XXXXXX)
trap 'rm -rf "$FAKE"' EXIT
mkdir -p "$FAKE/plugins"
: >"$FAKE/plugins/doppel_grpc.so"   # GrpcDoppel only checks that it exists
files=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do files+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
[ ${#files[@]} -gt 0 ] || files=(test_grpc_calls.py test_grpc_streams.py test_grpc_admin.py)
rc=0
for f in "${files[@]}"; do
  echo "== $f"
  DOPPEL_BIN=$ROOT/tests/node/grpc/contract_double.mjs DOPPEL_BUILD_DIR=$FAKE \
    DOPPEL_SOURCE_DIR=$ROOT python3 "$ROOT/tests/integration/$f" "$@" || rc=1
done
exit $rc
