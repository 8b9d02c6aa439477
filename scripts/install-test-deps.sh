#!/bin/sh
# Installs the Debian packages the test suite runs for real: sshd, perf, Alertmanager, PostgreSQL, Prometheus and
# the node exporter, Chromium, systemd-analyze (package systemd), strace and amtool for the shipped unit and
# Alertmanager config, and the tools the benchmarks compare against. Idempotent: does nothing when all are
# present.
set -eu

PACKAGES="dash busybox openssh-server openssh-client linux-perf prometheus-alertmanager postgresql prometheus prometheus-node-exporter chromium sudo procps util-linux coreutils passwd sysstat iotop gcc libc6-dev iproute2 systemd strace e2fsprogs mount"

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
# The Debian packages start alertmanager, prometheus, the node exporter, sshd and a PostgreSQL cluster as services;
# the tests start their own instances on free loopback ports (test/support/postgres.ts runs a private cluster in a
# temp dir).
systemctl disable --now prometheus-alertmanager prometheus prometheus-node-exporter ssh postgresql >/dev/null 2>&1 || true
# Without systemd (containers) postinst starts the cluster through its init script.
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for v in $(ls /etc/postgresql 2>/dev/null); do pg_ctlcluster "$v" main stop >/dev/null 2>&1 || true; done
fi
