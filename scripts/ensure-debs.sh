#!/usr/bin/env bash
# Install the Debian packages the test suite needs when they are missing (apt-get; through sudo when not root).
# Each entry is "command-to-check:package".
set -euo pipefail
needed=()
for entry in "$@"; do
  cmd=${entry%%:*}; pkg=${entry#*:}
  command -v "$cmd" >/dev/null 2>&1 || needed+=("$pkg")
done
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "Missing Debian packages: ${needed[*]}. Install them with: sudo apt-get update && sudo apt-get install -y ${needed[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${needed[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${needed[@]}"
