#!/usr/bin/env bash
# Installs the Debian packages the project needs (when run as root and any is
# missing), then configures and builds into ${BUILD_DIR:-build}.
#   BUILD_DIR=build-asan CMAKE_ARGS="-DVARIANT_SANITIZE=ON" scripts/bootstrap.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  cppzmq-dev libzmq3-dev libmsgpack-cxx-dev prometheus-cpp-dev
  liblpsolve55-dev libsuitesparse-dev libspdlog-dev libgtest-dev libbenchmark-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libsimdjson-dev
  python3 python3-zmq python3-msgpack python3-yaml
  prometheus
  libcpp-httplib-dev libssl-dev openssl yamllint
  chromium  # test/report: the HTML report opened headless
  clang libclang-rt-dev  # test/fuzz: libFuzzer targets (scripts/fuzz.sh, CI)
  golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev
  prometheus
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

BUILD_DIR=${BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "${JOBS:-2}"
