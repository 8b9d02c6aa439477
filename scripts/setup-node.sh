#!/bin/sh
# pagefault-triage: prepares a node for least-privilege triage (run it as root on the node; see SECURITY.md).
#
#   sh setup-node.sh --pubkey FILE [--user triage] [--from CIDR] [--home DIR] [--src DIR]
#   sh setup-node.sh --uninstall [--user triage]
#
# It creates the login user (no password), authorizes the bot's public key for it with `restrict`, installs the
# playbook root-owned under /usr/local/lib/pagefault-triage, and adds one sudoers rule that lets the user run the
# installed entry point (pft-step) as root and nothing else. Configure the node with `ssh.user: <user>`,
# `ssh.sudo: true` and `ssh.playbook: installed`. Run it again after upgrading the bot: the bot refuses an
# installed playbook that is not its own.
set -eu

user=triage
pubkey=
from=
home=
src=$(cd "$(dirname "$0")/.." && pwd)/src/playbook
uninstall=
dir=/usr/local/lib/pagefault-triage
sudoers=

die() {
	printf 'setup-node: %s\n' "$1" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case $1 in
	--user) user=$2; shift 2 ;;
	--pubkey) pubkey=$2; shift 2 ;;
	--from) from=$2; shift 2 ;;
	--home) home=$2; shift 2 ;;
	--src) src=$2; shift 2 ;;
	--uninstall) uninstall=1; shift ;;
	*) die "unknown option $1" ;;
	esac
done

case $user in '' | *[!a-z0-9_-]* | [!a-z_]*) die "--user must be a POSIX user name" ;; esac
case $from in *[!0-9a-fA-F.:/,*]*) die "--from must be addresses or CIDRs separated by commas" ;; esac
[ "$(id -u)" = 0 ] || die "run me as root"
sudoers=/etc/sudoers.d/pagefault-triage-$user
home=${home:-/var/lib/pagefault-triage-$user}

if [ -n "$uninstall" ]; then
	rm -f "$sudoers"
	if id -u "$user" >/dev/null 2>&1; then userdel -r "$user" 2>/dev/null || userdel "$user"; fi
	rm -rf "$dir"
	echo "removed $sudoers, user $user and $dir"
	exit 0
fi

[ -n "$pubkey" ] && [ -r "$pubkey" ] || die "--pubkey FILE: the bot's public key (the .pub of ssh.privateKeyPath)"
[ -r "$src/playbook.sh" ] && [ -r "$src/pft-step.sh" ] || die "no playbook.sh and pft-step.sh in $src (use --src)"
command -v visudo >/dev/null 2>&1 || die "visudo not found: install sudo"

# 1. The login: no password (`*`, not `!`: sshd without PAM refuses locked accounts), key only.
if ! id -u "$user" >/dev/null 2>&1; then
	useradd --system --create-home --home-dir "$home" --shell /bin/sh "$user"
fi
usermod -p '*' "$user"
home=$(getent passwd "$user" | cut -d: -f6)
install -d -o "$user" -g "$(id -g "$user")" -m 0700 "$home/.ssh"
# restrict: no pty, no port/agent/X11 forwarding, no ~/.ssh/rc. from=: only the bot's address may use the key.
opts=restrict
[ -n "$from" ] && opts="$opts,from=\"$from\""
printf '%s %s\n' "$opts" "$(head -n 1 "$pubkey")" >"$home/.ssh/authorized_keys.new"
chown "$user:$(id -g "$user")" "$home/.ssh/authorized_keys.new"
chmod 0600 "$home/.ssh/authorized_keys.new"
mv "$home/.ssh/authorized_keys.new" "$home/.ssh/authorized_keys"

# 2. The playbook, root-owned: the triage user can run it through sudo but never change it.
install -d -o root -g root -m 0755 "$dir"
install -o root -g root -m 0644 "$src/playbook.sh" "$dir/playbook.sh"
install -o root -g root -m 0755 "$src/pft-step.sh" "$dir/pft-step"

# 3. sudo: that one file, as root, no password; nothing else (no timeout, no sh: either would be a root shell).
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cat >"$tmp" <<EOF
# pagefault-triage: $user may run the installed playbook entry point as root, and nothing else.
Defaults:$user !requiretty
$user ALL=(root) NOPASSWD: $dir/pft-step
EOF
visudo -c -q -f "$tmp" || die "visudo refused the rule"
install -o root -g root -m 0440 "$tmp" "$sudoers"

echo "user $user: key-only login with restrict${from:+ from $from}; sudo: $dir/pft-step only"
for k in /etc/ssh/ssh_host_ed25519_key.pub; do
	[ -r "$k" ] && echo "hostKey for the bot's config: $(ssh-keygen -lf "$k" | cut -d' ' -f2)"
done
exit 0
