#!/bin/sh
# Installs the Debian packages the test suite runs for real: sshd, perf, Alertmanager, Prometheus and the node
# exporter, Chromium, and the tools the benchmarks compare against. Idempotent: does nothing when all are present.
set -eu

PACKAGES="dash busybox openssh-server openssh-client linux-perf prometheus-alertmanager prometheus prometheus-node-exporter chromium sudo procps util-linux coreutils passwd sysstat iotop gcc libc6-dev iproute2"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: missing Debian packages:$missing (run as root, or install them yourself)" >&2
  exit 1
fi
echo "install-test-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The Debian packages start alertmanager, prometheus, the node exporter and sshd as services; the tests start
# their own instances on free loopback ports.
systemctl disable --now prometheus-alertmanager prometheus prometheus-node-exporter ssh >/dev/null 2>&1 || true
