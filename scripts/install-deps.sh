#!/usr/bin/env bash
# Installs with apt-get the Debian packages taper needs to build and test,
# only those that are missing. Extra package names may be passed as arguments
# (scripts/bench-vs-torch.sh adds python3-torch, for example).
set -euo pipefail

packages=(cmake g++ make libeigen3-dev nlohmann-json3-dev catch2 libstb-dev zlib1g-dev libopenmpi-dev openmpi-bin "$@")

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
