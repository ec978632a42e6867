#!/usr/bin/env bash
# Installs the Debian 12 packages gcd needs to build and test (only the missing ones).
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libuv1-dev libprotobuf-c-dev protobuf-c-compiler libcmocka-dev
      libinih-dev libsystemd-dev scdoc man-db systemd
      prometheus) # promtool and a real server for the metrics tests
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
