#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test heapsnow:
# Xvfb and Mesa's software Vulkan (for the demo window on a box with no
# display or GPU), imagemagick and xdotool (screenshots and keys in the
# window test) and gnuplot (the classic plot script). Needs root or sudo;
# skips what is installed.
#
# usage: scripts/install-deps.sh
set -euo pipefail

packages=(xvfb xauth mesa-vulkan-drivers libvulkan1 libxcursor1 libxi6 libxkbcommon-x11-0 imagemagick xdotool gnuplot-nox)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: everything is installed"
    exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
