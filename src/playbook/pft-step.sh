#!/bin/sh
# pagefault-triage: the node-side entry point for `ssh.playbook: installed`.
#
#   pft-step SECONDS STEP NONCE [ARGS...]
#
# runs `timeout -k 2 SECONDS /bin/sh /usr/local/lib/pagefault-triage/playbook.sh STEP NONCE ARGS...`.
#
# scripts/setup-node.sh installs it root-owned (0755) as /usr/local/lib/pagefault-triage/pft-step, next to a
# root-owned copy of playbook.sh, and sudoers lets the triage user run this file and nothing else. So this file
# is what stands between that user and root: it takes nothing from the caller but its arguments, lets through
# only a small integer, a step name, a hex nonce and short lowercase tokens, and never reads stdin, the caller's
# environment or a file the caller can write. The playbook checks its own arguments again.
#
# First line on stderr: `pft-step: playbook sha256=HEX`, so the bot can tell when the installed copy is not the
# one it was built with.

set -f
umask 077
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
unset ENV BASH_ENV CDPATH TMPDIR
PFT_DIR=/usr/local/lib/pagefault-triage

pft_refuse() {
	printf 'pft-step: %s\n' "$1" >&2
	exit 2
}

[ $# -ge 3 ] && [ $# -le 262 ] || pft_refuse "usage: pft-step SECONDS probe|rank|capture NONCE [ARGS...]"
case $1 in '' | 0* | *[!0-9]*) pft_refuse "bad seconds" ;; esac
[ "${#1}" -le 5 ] && [ "$1" -le 86400 ] || pft_refuse "bad seconds"
case $2 in probe | rank | capture) ;; *) pft_refuse "bad step" ;; esac
case $3 in '' | *[!0-9a-f]*) pft_refuse "bad nonce" ;; esac
[ "${#3}" -ge 16 ] && [ "${#3}" -le 64 ] || pft_refuse "bad nonce"
pft_secs=$1
shift
pft_i=0
for pft_a; do
	pft_i=$((pft_i + 1))
	[ "$pft_i" -le 2 ] && continue
	case $pft_a in '' | *[!a-z0-9]*) pft_refuse "bad argument $pft_i" ;; esac
	[ "${#pft_a}" -le 16 ] || pft_refuse "bad argument $pft_i"
done

pft_sum=$(sha256sum "$PFT_DIR/playbook.sh" 2>/dev/null) || pft_refuse "cannot read $PFT_DIR/playbook.sh"
printf 'pft-step: playbook sha256=%s\n' "${pft_sum%% *}" >&2
exec timeout -k 2 "$pft_secs" /bin/sh "$PFT_DIR/playbook.sh" "$@" </dev/null
