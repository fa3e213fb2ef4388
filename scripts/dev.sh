#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine:
#   scripts/dev.sh serve   install dependencies, build, run the server
#   scripts/dev.sh test    install dependencies, build, run every test
#                          (normal build with -Werror, then ASan+UBSan build,
#                          then a ThreadSanitizer build running the unit
#                          suites and the front/engine integration tests,
#                          then each libFuzzer target for a short while)
#   scripts/dev.sh deps    only install dependencies (idempotent)
#   scripts/dev.sh build   only build (build/)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc 2>/dev/null || echo 2)

# Debian packages the project needs to build, test and benchmark. Nothing is
# vendored; everything here comes from Debian 12.
PACKAGES=(
  build-essential cmake pkg-config git ca-certificates
  libuv1-dev libjansson-dev libsqlite3-dev libssl-dev libcmocka-dev
  libcurl4-openssl-dev
  libnghttp2-dev  # gRPC: HTTP/2 (the plugin's transport core)
  node-llhttp
  python3 curl sqlite3
  nghttp2-client python3-h2  # gRPC tests and bench: h2load, nghttp, raw HTTP/2
  clang libclang-rt-14-dev
  wrk nginx-light
  # gRPC: libprotobuf (Importer, DynamicMessage, JSON) and its compiler headers
  libprotobuf-dev libprotoc-dev protobuf-compiler
  libxml2-dev  # SOAP: envelopes, XPath conditions, WSDL and XSD
  python3-websockets  # WebSocket tests: a strict second client for RFC 6455 edges
  zlib1g-dev  # WebSocket: permessage-deflate (RFC 7692), raw deflate streams
  librdkafka-dev kcat  # Kafka: client and embedded mock cluster; kcat the second client
  librabbitmq-dev  # RabbitMQ: AMQP 0-9-1 (rabbitmq-c)
  rabbitmq-server amqp-tools  # RabbitMQ tests and bench: a real broker, a second client
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  # Node.js runs the official client libraries the integration tests use
  # (tests/node/package.json, pinned by its lock file). Debian's nodejs and
  # npm when the machine has none of its own.
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  if [ ! -f tests/node/node_modules/.package-lock.json ] ||
     ! cmp -s tests/node/package-lock.json tests/node/.installed-lock 2>/dev/null; then
    echo "==> installing the Node.js test clients (npm ci)"
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
    cp tests/node/package-lock.json tests/node/.installed-lock
  fi
}

build() { # build DIR [cmake args...]
  local dir=$1; shift
  cmake -S "$ROOT" -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
}

case "${1:-}" in
  deps) deps ;;
  build) deps; build build ;;
  serve)
    deps
    build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    shift
    exec "$ROOT/build/bin/doppel" serve "$@"
    ;;
  test)
    deps
    echo "==> build (warnings are errors)"
    build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDOPPEL_WERROR=ON
    echo "==> tests"
    (cd build && ctest --output-on-failure -j "$JOBS")
    echo "==> build with AddressSanitizer + UBSan"
    build build-asan -DCMAKE_BUILD_TYPE=Debug -DDOPPEL_WERROR=ON -DDOPPEL_SANITIZE=ON
    echo "==> tests under ASan + UBSan"
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
       UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
       ctest --output-on-failure -j "$JOBS")
    echo "==> build with ThreadSanitizer"
    build build-tsan -DCMAKE_BUILD_TYPE=Debug -DDOPPEL_WERROR=ON -DDOPPEL_TSAN=ON
    echo "==> engine and front tests under ThreadSanitizer"
    # Every unit suite (the engine's index swap, stores, journal rings and
    # the concurrency suite; the front's server and local calls), and the
    # integration tests that drive the front and the engine from two
    # workers at once. A race report fails the test (harness.py reads the
    # server's log for it).
    (cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
       ctest --output-on-failure -j "$JOBS" -L unit &&
     TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
       ctest --output-on-failure -j "$JOBS" \
       -R 'integration\.test_(http_front|http_mocks|admin_api|admin_off_loop|admin_audit_tx|admin_schemas|auth_api|auth_tenancy|durability|events|mock_format|grpc_calls|grpc_streams|plugin_conn|plugin_services|protocol_sections|record_replay|sdk_compat|graphql_mocks|graphql_http|soap_mocks|soap_config|graphql_record|soap_record|sse|sse_publish|http_upgrade|protocol_actions|graphql_ws|websocket|socketio|stream_journal|sse_store)$')
    echo "==> fuzz targets (libFuzzer, ${FUZZ_SECONDS:-15} s each)"
    DOPPEL_FUZZ_BUILD="$ROOT/build-fuzz" sh fuzz/run.sh "${FUZZ_SECONDS:-15}"
    ;;
  *)
    echo "usage: $0 serve|test|deps|build" >&2
    exit 2
    ;;
esac
