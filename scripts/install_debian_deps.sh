#!/usr/bin/env bash
# Installs the Debian packages RoboAlign needs when they are missing (idempotent).
set -euo pipefail
need=()
for p in libegl1 libgl1-mesa-dri libosmesa6 libusb-1.0-0; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
