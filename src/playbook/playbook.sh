# pagefault-triage playbook: ONE POSIX sh script, read from stdin.
#
#   [sudo -n] timeout -k 2 N sh -s -- probe   NONCE
#   [sudo -n] timeout -k 2 N sh -s -- rank    NONCE SAMPLE_SECONDS [CAPTURE_SECONDS TIER]
#   [sudo -n] timeout -k 2 N sh -s -- capture NONCE CAPTURE_SECONDS TIER [PID...]
#
# Works with dash, bash and busybox sh; needs only coreutils/busybox-level tools (head, cut, grep, sed, tr,
# sort, uniq, wc, sleep, mktemp, rm, kill, timeout), plus perf or bpftrace when present. No awk.
#
# Output (stdout) is a sequence of sections. A section starts with a marker line
#     @@pft:NONCE NAME key=value key=value
# and its body is every line up to the next marker line. Only the bot knows NONCE before the step starts, and
# no text a process controls can begin a line with a marker: comm is at most 15 bytes (a marker is at least 22),
# maps escape newlines, and free text (cmdline, cgroup, user names, tool messages) is printed behind a '|' or
# '! ' prefix. The first marker is `begin step=STEP`, the last `end step=STEP status=...`: an output without it
# was cut. Sections, in order:
#   probe:   begin, node, perf-check, end
#   rank:    begin (version=3), node, meminfo, psi phase=start, then for i in 0..SAMPLE_SECONDS: snap i= uptime=
#            (`table=1` at the first, second and last), whose body is one `head -v` dump (two at the second) of
#            /proc/vmstat and: first and last, every /proc/PID/stat and /proc/PID/io; second, every stat, then the
#            io and status of the processes that faulted in the first second; in between, the stat and io of those
#            processes only; last, their status too. Then psi phase=end, end. (Version 2 had a counters section
#            after each snap; the bot still reads it.)
#   rank with CAPTURE_SECONDS TIER (overlapped): the same, and a system-wide capture (as `capture NONCE
#            CAPTURE_SECONDS TIER`, no pids, its perf period measured before the first snapshot) runs from the
#            start of the rank window; each second the processes
#            whose majflt grew are read (proc… when=during) while they run. After the rank's end marker comes the
#            capture's whole output, begin step=capture … end step=capture.
#   capture: begin, pid-gone*, then interleaved: proc + pstat/cmdline/status/user/cgroup/maps/smaps per given pid
#            (when=during, read 0.5 s into the window) and attempt* (one per tier tried; `! ` lines are the
#            tool's messages); then vmstat phase=start, tracer (period=P: perf kept 1 in P major faults;
#            rate=R: pgmajfault/s in the PFT_RATE_NAP before the window, which chose P), samples (the tracer's
#            own line format, named by format=), samples-end, vmstat phase=end, proc... (when=after: other pids
#            seen in the samples), end
# Errors of the step itself go to stderr. Exit 0 when the step completed, even degraded; 2 on bad arguments.
# Temporary files live in one `mktemp -d ${TMPDIR:-/tmp}/pft.XXXXXX` directory; a trap on EXIT HUP INT TERM PIPE
# stops the tracer and removes it.

PFT_MAX_SAMPLES=50000
# perf major-faults records 1 in PFT_PERIOD faults, chosen so that the faults expected in the window (the node's
# pgmajfault rate over the PFT_RATE_NAP just before it) fill at most a quarter of the cap: a 0.2 s rate swings 2-3x
# on a busy node, and fewer samples also mean a quicker perf script.
PFT_PERIOD=
PFT_PERIOD_RATE=
PFT_RATE_NAP=0.2
PFT_MAX_OTHER_PIDS=16
PFT_MAX_MAPS_LINES=10000
PFT_NONCE=
PFT_DIR=
PFT_TPID=
PFT_NAP=
PFT_CLEANED=
PFT_PERF=
PFT_BPFTRACE=
# perf record options that save CPU (no side-band thread, no /proc walk); dropped for a perf that lacks them.
PFT_PERF_FAST='--no-bpf-event --synth=no'
PFT_HALF=0.5
PFT_DETAILED=' '
PFT_OVERLAP=

pft_cleanup() {
	[ -n "$PFT_CLEANED" ] && return 0
	PFT_CLEANED=1
	trap '' HUP INT TERM PIPE
	{
		[ -n "$PFT_TPID" ] && kill -TERM "$PFT_TPID"
		[ -n "$PFT_NAP" ] && kill -TERM "$PFT_NAP"
		# The tracer writes to a file that is already open: removing the directory first leaves nothing
		# behind even if this shell is killed while it waits for the tracer (bounded by its own timeout -k).
		[ -n "$PFT_DIR" ] && rm -rf "$PFT_DIR"
		[ -n "$PFT_TPID" ] && wait "$PFT_TPID"
		[ -n "$PFT_NAP" ] && wait "$PFT_NAP"
		# Again only if something was waited for (one fork less for a step that traced nothing).
		[ -n "$PFT_DIR" ] && [ -n "$PFT_TPID$PFT_NAP" ] && rm -rf "$PFT_DIR"
	} </dev/null >/dev/null 2>&1
	return 0
}
trap 'pft_cleanup' EXIT
trap 'pft_cleanup; exit 129' HUP
trap 'pft_cleanup; exit 130' INT
trap 'pft_cleanup; exit 143' TERM
trap 'pft_cleanup; exit 141' PIPE

pft_die() {
	printf 'playbook: %s\n' "$1" >&2
	exit "${2:-2}"
}

pft_mark() {
	printf '@@pft:%s %s\n' "$PFT_NONCE" "$1"
}

pft_is_uint() {
	case $1 in '' | *[!0-9]*) return 1 ;; esac
	[ "${#1}" -le 10 ]
}

# pft_lines PREFIX FILE MAX: FILE's lines behind PREFIX (so none can pass for a marker), at most MAX.
pft_lines() {
	pl_n=0
	[ -r "$2" ] || return 0
	while IFS= read -r pl_l || [ -n "$pl_l" ]; do
		pl_n=$((pl_n + 1))
		[ "$pl_n" -gt "$3" ] && break
		printf '%s%s\n' "$1" "$pl_l"
		pl_l=
	done 2>/dev/null <"$2"
	return 0
}

# pft_read1 FILE: the first line of FILE in rd_v, without a fork. Some /proc/sys files answer a one-byte read
# and then nothing: `read` then fails although it got the value, so success means "got something".
pft_read1() {
	rd_v=
	{ read -r rd_v <"$1"; } 2>/dev/null
	[ -n "$rd_v" ]
}

# pft_nap SECONDS: sleep in the background and wait, so that a trapped signal is handled at once.
pft_nap() {
	sleep "$1" </dev/null >/dev/null 2>&1 &
	PFT_NAP=$!
	wait "$PFT_NAP"
	PFT_NAP=
}

pft_tmpdir() {
	[ -n "$PFT_DIR" ] && return 0
	for td_base in "${TMPDIR:-/tmp}" /tmp /var/tmp /dev/shm; do
		PFT_DIR=$(mktemp -d "$td_base/pft.XXXXXX" 2>/dev/null) || PFT_DIR=
		[ -n "$PFT_DIR" ] && return 0
	done
	return 1
}

# pft_which NAME: the absolute path of an executable NAME in $PATH, in wh_v (empty when none). A search in the
# shell itself: `$(command -v …)` costs a fork, and forks are what a step on a busy node pays for most.
pft_which() {
	wh_v=
	wh_ifs=$IFS
	IFS=:
	set -f
	for wh_d in $PATH; do
		case $wh_d in /*) ;; *) continue ;; esac
		if [ -f "$wh_d/$1" ] && [ -x "$wh_d/$1" ]; then
			wh_v=$wh_d/$1
			break
		fi
	done
	set +f
	IFS=$wh_ifs
}

pft_find_tools() {
	pft_which perf
	PFT_PERF=$wh_v
	pft_which bpftrace
	PFT_BPFTRACE=$wh_v
}

pft_node() {
	pft_mark "node"
	if pft_read1 /proc/sys/kernel/hostname; then nd_v=$rd_v; else nd_v=$(hostname 2>/dev/null); fi
	printf 'hostname %s\n' "$nd_v"
	if pft_read1 /proc/sys/kernel/osrelease; then nd_v=$rd_v; else nd_v=$(uname -r 2>/dev/null); fi
	printf 'kernel %s\n' "$nd_v"
	# The uid and the CPUs this shell may run on (what nproc counts) from its own status, and the page size
	# from its first mapping, read by the shell itself: each command in $(…) would cost a fork.
	nd_uid=
	nd_cpus=
	{
		while IFS= read -r nd_l; do
			case $nd_l in
			Uid:*) set -- $nd_l && nd_uid=$2 ;;
			Cpus_allowed_list:*) set -- $nd_l && nd_cpus=$2 ;;
			esac
		done </proc/self/status
	} 2>/dev/null
	pft_is_uint "$nd_uid" || nd_uid=$(id -u 2>/dev/null)
	printf 'uid %s\n' "$nd_uid"
	nd_v=
	{
		while IFS= read -r nd_l; do
			case $nd_l in KernelPageSize:*)
				set -- $nd_l
				pft_is_uint "$2" && [ "$3" = kB ] && nd_v=$(($2 * 1024))
				break
				;;
			esac
		done </proc/self/smaps
	} 2>/dev/null
	pft_is_uint "$nd_v" || nd_v=$(getconf PAGESIZE 2>/dev/null) || nd_v=
	printf 'pagesize %s\n' "$nd_v"
	pft_cpu_count "$nd_cpus"
	nd_v=$cc_n
	[ "$nd_v" -gt 0 ] 2>/dev/null || nd_v=$(nproc 2>/dev/null) || nd_v=
	pft_is_uint "$nd_v" || nd_v=$(getconf _NPROCESSORS_ONLN 2>/dev/null) || nd_v=
	pft_is_uint "$nd_v" || nd_v=$(grep -c '^processor' /proc/cpuinfo 2>/dev/null) || nd_v=
	printf 'nproc %s\n' "$nd_v"
	pft_read1 /proc/sys/kernel/perf_event_paranoid
	printf 'paranoid %s\n' "$rd_v"
	# Swap readahead: up to 2^page-cluster pages per swap-in fault, each one counted in pswpin.
	pft_read1 /proc/sys/vm/page-cluster
	pft_is_uint "$rd_v" || rd_v=
	printf 'pagecluster %s\n' "$rd_v"
	printf 'perf %s\n' "$PFT_PERF"
	printf 'bpftrace %s\n' "$PFT_BPFTRACE"
	# Whole /proc/self/mounts lines (escaped by the kernel: \040 for a space, \012 for a newline). One sed,
	# bounded by the lines it reads: a pipeline would cost a fork per command.
	sed -n -e '/^[^ ][^ ]* [^ ][^ ]* tmpfs /s/^/tmpfs /p' -e '20000q' /proc/self/mounts 2>/dev/null
}

# pft_cpu_count LIST: how many CPUs a list such as `0-3,8,10-11` names, in cc_n (0 when it is not one).
pft_cpu_count() {
	cc_n=0
	cc_ifs=$IFS
	IFS=,
	set -f
	for cc_r in $1; do
		cc_a=${cc_r%-*}
		cc_b=${cc_r#*-}
		if pft_is_uint "$cc_a" && pft_is_uint "$cc_b" && [ "$cc_b" -ge "$cc_a" ]; then
			cc_n=$((cc_n + cc_b - cc_a + 1))
		else
			cc_n=0
			break
		fi
	done
	set +f
	IFS=$cc_ifs
}

# A 0.1 s trial of `perf record -e major-faults -c 1 -d -a` into a file that is removed again.
pft_perf_check() {
	if [ -z "$PFT_PERF" ]; then
		pft_mark "perf-check ok=0 reason=missing"
		return 0
	fi
	if ! pft_tmpdir; then
		pft_mark "perf-check ok=0 reason=no-tmpdir"
		return 0
	fi
	pc_try=1
	while :; do
		timeout -k 1 10 "$PFT_PERF" record -N -B $PFT_PERF_FAST -e major-faults -c 1 -d -a \
			-o "$PFT_DIR/trial.data" -- sleep 0.1 </dev/null >/dev/null 2>"$PFT_DIR/trial.err" &
		PFT_TPID=$!
		wait "$PFT_TPID"
		pc_rc=$?
		PFT_TPID=
		if [ "$pc_rc" -ne 0 ] && [ "$pc_try" = 1 ] && [ -n "$PFT_PERF_FAST" ] &&
			grep -q -e 'bpf-event' -e 'synth' "$PFT_DIR/trial.err" 2>/dev/null; then
			PFT_PERF_FAST= # an old perf without --no-bpf-event or --synth
			pc_try=2
			continue
		fi
		break
	done
	if [ "$pc_rc" -eq 0 ] && [ -s "$PFT_DIR/trial.data" ]; then
		pft_mark "perf-check ok=1 rc=0"
	else
		pft_mark "perf-check ok=0 reason=failed rc=$pc_rc"
		pft_lines '! ' "$PFT_DIR/trial.err" 20
	fi
	rm -f "$PFT_DIR/trial.data" "$PFT_DIR/trial.data.old" "$PFT_DIR/trial.err"
	return 0
}

pft_psi() {
	ps_txt=
	if [ -r /proc/pressure/memory ]; then
		{
			while IFS= read -r ps_l || [ -n "$ps_l" ]; do
				ps_txt="$ps_txt$ps_l
"
			done </proc/pressure/memory
		} 2>/dev/null
	fi
	if [ -n "$ps_txt" ]; then
		pft_mark "psi phase=$1 ok=1"
		printf '%s' "$ps_txt"
	else
		pft_mark "psi phase=$1 ok=0"
	fi
}

pft_step_probe() {
	pft_mark "begin step=probe version=1"
	pft_find_tools
	pft_node
	pft_perf_check
	pft_mark "end step=probe status=ok"
}

# pft_overlap_start CAPTURE_SECONDS TIER: the capture step in the background, system-wide, into a file. It
# gets its own temporary directory inside ours (its EXIT trap removes only that) and its own traps.
pft_overlap_start() {
	PFT_OVERLAP=
	pft_tmpdir || return 0
	mkdir "$PFT_DIR/cap" 2>/dev/null || return 0
	: >"$PFT_DIR/during.out"
	(
		PFT_DIR="$PFT_DIR/cap"
		PFT_TPID=
		PFT_NAP=
		PFT_CLEANED=
		PFT_PIDS_ARG=
		trap 'pft_cleanup' EXIT
		trap 'pft_cleanup; exit 143' TERM
		trap 'pft_cleanup; exit 130' INT
		trap 'pft_cleanup; exit 129' HUP
		pft_step_capture "$1" "$2" >"$PFT_DIR/../capture.out" 2>"$PFT_DIR/../capture.err"
	) </dev/null &
	PFT_OVERLAP=$!
	PFT_TPID=$PFT_OVERLAP
	return 0
}

# pft_rank_pairs: copies a snapshot (stdin) to stdout, and writes `PID MAJFLT` of each stat record with
# majflt > 0 (the 10th field after the comm's last ') ') into $PFT_FCUR: one sed instead of tee, sed and sort.
# In the C locale: its regex runs about 4× faster than in a UTF-8 one, and the text is ASCII but for comm.
pft_rank_pairs() {
	LC_ALL=C sed -e h -e "s/^\([0-9][0-9]*\) .*) \([^ ]* \)\{9\}\([1-9][0-9]*\) .*/\1 \3/w $PFT_FCUR" -e g
}

# pft_rank_changes: `PID MAJFLT` of the processes whose majflt grew since the last call (or that are new with
# some) in the file $PFT_FNEW, most major faults first when overlapped (pft_overlap_faulting reads the first
# few); the snapshot's pairs become the baseline. Few processes: every fork counts at thousands of processes.
pft_rank_changes() {
	if [ -s "$PFT_FPREV" ]; then
		PFT_FNEW=$PFT_DIR/faulting.new
		grep -v -x -F -f "$PFT_FPREV" "$PFT_FCUR" >"$PFT_FNEW" 2>/dev/null
	else
		PFT_FNEW=$PFT_FCUR # nothing had faulted: every pair is new
	fi
	[ -n "$PFT_OVERLAP" ] && [ -s "$PFT_FNEW" ] && pft_rank_sort
	# The two files swap roles, without a fork.
	rc_t=$PFT_FPREV
	PFT_FPREV=$PFT_FCUR
	PFT_FCUR=$rc_t
}

# pft_rank_sort: $PFT_FNEW, most major faults first, into its own file (PFT_FNEW may be the next baseline).
pft_rank_sort() {
	sort -k2,2nr "$PFT_FNEW" >"$PFT_DIR/faulting.sorted" 2>/dev/null
	PFT_FNEW=$PFT_DIR/faulting.sorted
}

# pft_overlap_faulting: read the details of this second's faulting processes (PFT_FNEW; at most
# PFT_OVERLAP_PER_SEC a second and PFT_MAX_OTHER_PIDS in all) while they still run.
PFT_OVERLAP_PER_SEC=8
PFT_OVERLAP_READ=0
pft_overlap_faulting() {
	[ -n "$PFT_OVERLAP" ] || return 0
	of_n=0
	while read -r of_p of_m; do
		[ "$PFT_OVERLAP_READ" -ge "$PFT_MAX_OTHER_PIDS" ] || [ "$of_n" -ge "$PFT_OVERLAP_PER_SEC" ] && break
		pft_is_uint "$of_p" && [ "$of_p" -gt 0 ] || continue
		case $PFT_DETAILED in *" $of_p "*) continue ;; esac
		of_n=$((of_n + 1))
		pft_details "$of_p" during >>"$PFT_DIR/during.out"
		PFT_OVERLAP_READ=$((PFT_OVERLAP_READ + 1))
	done <"$PFT_FNEW"
	return 0
}

# pft_rank_set: after the second snapshot, the processes that faulted in the first second (at most
# PFT_RANK_MAX_PIDS, most faults first) become the only ones read in the snapshots between the second and the
# last: their stat and io files, in PFT_RANK_STAT and PFT_RANK_IO; their status files (VmSwap) are read at the
# second and the last snapshot, PFT_RANK_STATUS.
PFT_RANK_MAX_PIDS=256
PFT_RANK_STAT=
PFT_RANK_IO=
PFT_RANK_STATUS=
pft_rank_set() {
	PFT_RANK_STAT=
	PFT_RANK_IO=
	PFT_RANK_STATUS=
	rs_n=0
	while read -r rs_p rs_m; do
		pft_is_uint "$rs_p" || continue
		if [ "$rs_n" -ge "$PFT_RANK_MAX_PIDS" ]; then
			# More than the cap: sort (a fork) only now, and keep those with the most.
			[ "$PFT_FNEW" = "$PFT_DIR/faulting.sorted" ] && break
			pft_rank_sort
			pft_rank_set
			return 0
		fi
		PFT_RANK_STAT="$PFT_RANK_STAT /proc/$rs_p/stat"
		PFT_RANK_IO="$PFT_RANK_IO /proc/$rs_p/io"
		PFT_RANK_STATUS="$PFT_RANK_STATUS /proc/$rs_p/status"
		rs_n=$((rs_n + 1))
	done <"$PFT_FNEW"
	return 0
}

# pft_overlap_finish: wait for the capture, then print its output with the details read during the window
# placed before its end marker (so that the end marker stays last).
pft_overlap_finish() {
	[ -n "$PFT_OVERLAP" ] || return 0
	wait "$PFT_OVERLAP"
	PFT_OVERLAP=
	PFT_TPID=
	of_last=$(tail -n 1 "$PFT_DIR/capture.out" 2>/dev/null)
	case $of_last in
	"@@pft:$PFT_NONCE end step=capture "*)
		sed '$d' "$PFT_DIR/capture.out"
		cat "$PFT_DIR/during.out"
		printf '%s\n' "$of_last"
		;;
	*)
		# Cut short: print what there is; the bot sees no end marker and runs the capture step on its own.
		cat "$PFT_DIR/capture.out" 2>/dev/null
		;;
	esac
	[ -s "$PFT_DIR/capture.err" ] && cat "$PFT_DIR/capture.err" >&2
	return 0
}

pft_step_rank() {
	rk_s=$1
	# version 3: each snapshot is one `head -v` dump of /proc/vmstat and /proc/PID/{stat,io,status} files.
	pft_mark "begin step=rank version=3 seconds=$rk_s${2:+ capture=$2 tier=$3}"
	pft_find_tools
	if [ -n "$2" ]; then
		# The rate that picks perf's period is measured before anything of ours runs: read alongside the
		# first snapshot, the faulting processes would lose CPU to it and look slower than they are.
		case $3 in auto | perf)
			if [ -n "$PFT_PERF" ]; then
				pft_sleep_check
				PFT_SECONDS=$2
				pft_period
			fi
			;;
		esac
		pft_overlap_start "$2" "$3"
	fi
	pft_node
	# No perf trial here: it costs ~0.2 s CPU on a node that may be thrashing, and capture finds out anyway.
	pft_mark "meminfo"
	{
		while IFS= read -r rk_l; do
			case $rk_l in MemTotal:* | MemFree:* | MemAvailable:* | Buffers:* | Cached:* | SwapTotal:* | SwapFree:*)
				printf '%s\n' "$rk_l"
				;;
			esac
		done </proc/meminfo
	} 2>/dev/null
	pft_psi start
	# The whole process table at the first, second and last snapshot; in between only the processes that
	# faulted in the first second (the others' counters are spread over the gap by the bot). Needs a
	# temporary directory to compare snapshots; without one every snapshot is whole (and VmSwap is not read).
	rk_cheap=
	PFT_FNEW=
	# The pairs file's name goes into a sed script (`w FILE`): only a plain path may (TMPDIR is the caller's).
	if pft_tmpdir && case $PFT_DIR in *[!A-Za-z0-9/._-]*) false ;; esac && : >"$PFT_DIR/faulting.a" 2>/dev/null; then
		rk_cheap=1
		PFT_FPREV=$PFT_DIR/faulting.a
		PFT_FCUR=$PFT_DIR/faulting.b
	fi
	rk_i=0
	while :; do
		# The next second starts now, so that the snapshots stay one second apart however long one takes.
		if [ "$rk_i" -lt "$rk_s" ]; then
			sleep 1 </dev/null >/dev/null 2>&1 &
			PFT_NAP=$!
		fi
		pft_read1 /proc/uptime
		# One process per snapshot (forks cost more than reading the files): a `head -v` dump of /proc/vmstat
		# and of the stat files of every process (first, second and last snapshot) or of those that faulted
		# in the first second (the others), their io files (read_bytes; all but the second snapshot) and
		# their status files (VmSwap; second and last). A pid that vanished in between prints nothing or an
		# empty file.
		if [ "$rk_i" -eq 0 ] || [ "$rk_i" -ge "$rk_s" ] || [ -z "$rk_cheap" ]; then
			pft_mark "snap i=$rk_i uptime=${rd_v%% *} table=1"
			set -- /proc/vmstat /proc/[0-9]*/stat /proc/[0-9]*/io $PFT_RANK_STATUS
		elif [ "$rk_i" -eq 1 ]; then
			pft_mark "snap i=$rk_i uptime=${rd_v%% *} table=1"
			set -- /proc/vmstat /proc/[0-9]*/stat
		else
			pft_mark "snap i=$rk_i uptime=${rd_v%% *}"
			set -- /proc/vmstat $PFT_RANK_STAT $PFT_RANK_IO
		fi
		# The first snapshot is the baseline; from the second on, who faulted in the last second. The second
		# picks the processes read until the last; overlapped, their maps are read now, while they run.
		if [ -n "$rk_cheap" ] && [ "$rk_i" -lt "$rk_s" ] && { [ "$rk_i" -le 1 ] || [ -n "$PFT_OVERLAP" ]; }; then
			head -v -c 16384 "$@" 2>/dev/null | pft_rank_pairs
			pft_rank_changes
			if [ "$rk_i" -eq 1 ]; then
				pft_rank_set
				# Their io and VmSwap belong to this snapshot, read a moment later.
				[ -n "$PFT_RANK_IO" ] && head -v -c 16384 $PFT_RANK_IO $PFT_RANK_STATUS 2>/dev/null
			fi
			[ "$rk_i" -ge 1 ] && pft_overlap_faulting
		else
			head -v -c 16384 "$@" 2>/dev/null
		fi
		[ "$rk_i" -ge "$rk_s" ] && break
		wait "$PFT_NAP"
		PFT_NAP=
		rk_i=$((rk_i + 1))
	done
	pft_psi end
	pft_mark "end step=rank status=ok"
	pft_overlap_finish
}

# ---- capture ---------------------------------------------------------------------------------------------

pft_vm_read() {
	pft_read1 /proc/uptime
	vm_up=${rd_v%% *}
	vm_txt=$(grep -E '^(pgmajfault|pswpin|pswpout) ' /proc/vmstat 2>/dev/null)
}

pft_vm_start() {
	pft_vm_read
	PFT_VM0_UP=$vm_up
	PFT_VM0_TXT=$vm_txt
}

pft_vm_print() { # phase uptime text
	pft_mark "vmstat phase=$1 uptime=$2"
	[ -n "$3" ] && printf '%s\n' "$3"
	return 0
}

pft_user() {
	pft_is_uint "$1" || return 0
	us_l=
	if command -v getent >/dev/null 2>&1; then
		us_l=$(getent passwd "$1" 2>/dev/null | head -n 1)
	elif [ -r /etc/passwd ]; then
		while IFS=: read -r us_n us_x us_u us_rest; do
			if [ "$us_u" = "$1" ]; then
				us_l=$us_n
				break
			fi
		done </etc/passwd
	fi
	us_l=${us_l%%:*}
	[ -n "$us_l" ] && printf '|%s\n' "$us_l"
	return 0
}

# pft_details PID WHEN: what the bot needs to name and resolve a process, read once per pid.
pft_details() {
	dt_p=$1
	case $PFT_DETAILED in *" $dt_p "*) return 0 ;; esac
	PFT_DETAILED="$PFT_DETAILED$dt_p "
	if [ ! -d "/proc/$dt_p" ]; then
		pft_mark "proc pid=$dt_p when=$2 alive=0"
		return 0
	fi
	pft_mark "proc pid=$dt_p when=$2 alive=1"
	pft_mark "pstat pid=$dt_p"
	head -c 4096 "/proc/$dt_p/stat" 2>/dev/null
	pft_mark "cmdline pid=$dt_p"
	printf '|'
	tr '\000\n' '  ' 2>/dev/null <"/proc/$dt_p/cmdline" | head -c 512
	printf '\n'
	pft_mark "status pid=$dt_p"
	dt_st=$(grep -E '^(Uid|VmSwap):' "/proc/$dt_p/status" 2>/dev/null)
	[ -n "$dt_st" ] && printf '%s\n' "$dt_st"
	set -- $dt_st
	dt_uid=
	[ "$1" = "Uid:" ] && dt_uid=$2
	pft_mark "user pid=$dt_p"
	pft_user "$dt_uid"
	pft_mark "cgroup pid=$dt_p"
	pft_lines '|' "/proc/$dt_p/cgroup" 200
	pft_mark "maps pid=$dt_p"
	head -n "$PFT_MAX_MAPS_LINES" "/proc/$dt_p/maps" 2>/dev/null
	# Swap per mapping, only mappings with some: `START KB` (START in hex as maps prints it). Unlike VmSwap this
	# counts shared memory (tmpfs, /dev/shm, SysV) too. Needs the same access as maps.
	pft_mark "smaps pid=$dt_p"
	sed -n -e '/^[0-9a-f][0-9a-f]*-[0-9a-f][0-9a-f]* /{s/-.*//;h;}' \
		-e '/^Swap:[[:space:]]*[1-9][0-9]* kB/{s/^Swap:[[:space:]]*\([0-9]*\) kB.*/\1/;H;x;s/\n/ /p;}' \
		"/proc/$dt_p/smaps" 2>/dev/null | head -n "$PFT_MAX_MAPS_LINES"
	return 0
}

# pft_filter_pids: keeps the pids still alive (PFT_PIDS, PFT_PIDS_CSV, PFT_TARGET); 0 when some were dropped.
pft_filter_pids() {
	fp_keep=
	fp_csv=
	fp_dropped=1
	for fp_p in $PFT_PIDS; do
		if [ -d "/proc/$fp_p" ]; then
			fp_keep="$fp_keep $fp_p"
			fp_csv="$fp_csv${fp_csv:+,}$fp_p"
		else
			pft_mark "pid-gone pid=$fp_p"
			fp_dropped=0
		fi
	done
	PFT_PIDS=$fp_keep
	PFT_PIDS_CSV=$fp_csv
	if [ -n "$PFT_PIDS" ]; then PFT_TARGET=pids; else PFT_TARGET=all; fi
	return $fp_dropped
}

# pft_exited: the given pids that exited (or are zombies) since the capture started, as pid-exited markers.
pft_exited() {
	for ex_p in $PFT_PIDS; do
		ex_s=
		if pft_read1 "/proc/$ex_p/stat"; then
			ex_s=${rd_v##*) }
			ex_s=${ex_s%% *}
		fi
		case $ex_s in '' | Z | X) pft_mark "pid-exited pid=$ex_p" ;; esac
	done
	return 0
}

pft_details_given() {
	for dg_p in $PFT_PIDS; do pft_details "$dg_p" "$1"; done
}

pft_attempt_failed() { # tier reason rc errfile
	pft_mark "attempt tier=$1 ok=0 reason=$2${3:+ rc=$3}"
	[ -n "$4" ] && pft_lines '! ' "$4" 20
	return 0
}

# pft_centis UPTIME: /proc/uptime's seconds (two decimals) in hundredths, in ce_v.
pft_centis() {
	ce_s=${1%%.*}
	ce_f=${1#*.}
	[ "$ce_f" = "$1" ] && ce_f=00
	ce_f=${ce_f}00
	ce_f=${ce_f%"${ce_f#??}"}
	pft_is_uint "$ce_s" && pft_is_uint "$ce_f" || {
		ce_v=
		return 1
	}
	# A leading 0 would read as octal.
	ce_v=$((ce_s * 100 + ${ce_f#0}))
}

# pft_pgmajfault: pgmajfault and /proc/uptime (hundredths) now, in pm_n and pm_t; empty when unreadable.
pft_pgmajfault() {
	pm_n=
	pm_t=
	pft_read1 /proc/uptime && pft_centis "${rd_v%% *}" && pm_t=$ce_v
	while read -r pm_k pm_v; do
		if [ "$pm_k" = pgmajfault ]; then
			pft_is_uint "$pm_v" && pm_n=$pm_v
			break
		fi
	done 2>/dev/null </proc/vmstat
}

# pft_sleep_check: a `sleep` that takes whole seconds only (old busybox) naps 1 s where 0.5 s or 0.2 s was meant.
pft_sleep_check() {
	sleep 0.01 </dev/null >/dev/null 2>&1 && return 0
	PFT_HALF=1
	PFT_RATE_NAP=1
}

# pft_period: PFT_PERIOD for `perf record -c`, from the node's pgmajfault over PFT_RATE_NAP: 1 while the window's
# expected faults fit in a quarter of PFT_MAX_SAMPLES, else the smallest P that makes them fit. Measured once per
# capture; 1 when the counters cannot be read.
pft_period() {
	[ -n "$PFT_PERIOD" ] && return 0
	PFT_PERIOD=1
	PFT_PERIOD_RATE=
	pft_pgmajfault
	pd_n0=$pm_n
	pd_t0=$pm_t
	pft_nap "$PFT_RATE_NAP"
	pft_pgmajfault
	[ -n "$pd_n0" ] && [ -n "$pd_t0" ] && [ -n "$pm_n" ] && [ -n "$pm_t" ] || return 0
	pd_dt=$((pm_t - pd_t0))
	[ "$pd_dt" -gt 0 ] || pd_dt=1
	pd_dn=$((pm_n - pd_n0))
	[ "$pd_dn" -ge 0 ] || pd_dn=0
	PFT_PERIOD_RATE=$((pd_dn * 100 / pd_dt))
	# From the printed rate, so that P can be checked from the output.
	pd_expect=$((PFT_PERIOD_RATE * PFT_SECONDS))
	pd_room=$((PFT_MAX_SAMPLES / 4))
	[ "$pd_expect" -gt "$pd_room" ] && PFT_PERIOD=$(((pd_expect + pd_room - 1) / pd_room))
	return 0
}

# pft_trace TIER: run one tracer for the window. 0 when it recorded (samples printed), 1 when it failed.
pft_trace() {
	tr_t=$1
	if [ -z "$PFT_DIR" ]; then
		pft_attempt_failed "$tr_t" no-tmpdir
		return 1
	fi
	tr_err="$PFT_DIR/$tr_t.err"
	tr_out="$PFT_DIR/$tr_t.out"
	tr_bound=$((PFT_SECONDS + 10))
	case $tr_t in
	perf | tracepoint)
		if [ -z "$PFT_PERF" ]; then
			pft_attempt_failed "$tr_t" missing
			return 1
		fi
		if [ "$tr_t" = perf ]; then
			pft_period
			set -- -e major-faults -c "$PFT_PERIOD" -d
		else
			set -- -e exceptions:page_fault_user -c 1
		fi
		if [ -n "$PFT_PIDS_CSV" ]; then set -- "$@" -p "$PFT_PIDS_CSV"; else set -- "$@" -a; fi
		tr_data="$PFT_DIR/$tr_t.data"
		pft_vm_start
		timeout -k 2 "$tr_bound" "$PFT_PERF" record -N -B $PFT_PERF_FAST "$@" -o "$tr_data" \
			-- sleep "$PFT_SECONDS" </dev/null >/dev/null 2>"$tr_err" &
		PFT_TPID=$!
		;;
	bpftrace)
		if [ -z "$PFT_BPFTRACE" ]; then
			pft_attempt_failed "$tr_t" missing
			return 1
		fi
		tr_filter=
		for tr_p in $PFT_PIDS; do tr_filter="$tr_filter${tr_filter:+ || }pid == $tr_p"; done
		[ -n "$tr_filter" ] && tr_filter="/$tr_filter/ "
		# Output per major fault: PID TID NSECS ADDR(hex) MAJOR(1). The kernel (mm_account_fault) counts a
		# fault as major when it returned VM_FAULT_MAJOR (4) or was a retry (FAULT_FLAG_TRIED, 0x20), and
		# skips VM_FAULT_RETRY (0x400) and VM_FAULT_ERROR (0x873) returns.
		tr_prog="kprobe:handle_mm_fault $tr_filter{ @pft_a[tid] = arg1; @pft_f[tid] = arg2; }
kretprobe:handle_mm_fault /@pft_a[tid]/ {
  if ((retval & 0xc73) == 0) {
    if ((retval & 4) != 0 || (@pft_f[tid] & 0x20) != 0) {
      printf(\"%d %d %llu %lx 1\\n\", pid, tid, nsecs, @pft_a[tid]);
    }
  }
  delete(@pft_a[tid]); delete(@pft_f[tid]);
}
interval:s:$PFT_SECONDS { exit(); }
END { clear(@pft_a); clear(@pft_f); }"
		pft_vm_start
		timeout -k 2 $((tr_bound + 20)) "$PFT_BPFTRACE" -e "$tr_prog" </dev/null >"$tr_out" 2>"$tr_err" &
		PFT_TPID=$!
		;;
	esac
	# While the tracer records, read the given processes (maps too) in case they exit during the window.
	pft_nap "$PFT_HALF"
	if kill -0 "$PFT_TPID" 2>/dev/null; then pft_details_given during; fi
	wait "$PFT_TPID"
	tr_rc=$?
	PFT_TPID=
	pft_vm_read
	tr_vm1_up=$vm_up
	tr_vm1_txt=$vm_txt
	case $tr_t in
	perf | tracepoint)
		if [ "$tr_rc" -ne 0 ] && [ -n "$PFT_PERF_FAST" ] && grep -q -e 'bpf-event' -e 'synth' "$tr_err" 2>/dev/null; then
			PFT_PERF_FAST=
			rm -f "$tr_data"
			pft_trace "$tr_t"
			return $?
		fi
		if [ ! -s "$tr_data" ] && [ "$tr_rc" -ne 0 ] && pft_filter_pids; then
			# perf -p refuses a pid that exited since the check: try again without it.
			rm -f "$tr_data"
			pft_trace "$tr_t"
			return $?
		fi
		if [ ! -s "$tr_data" ]; then
			pft_attempt_failed "$tr_t" failed "$tr_rc" "$tr_err"
			return 1
		fi
		if [ "$tr_t" = perf ]; then
			tr_fields=sw:pid,tid,time,addr
			tr_format=perf-script
		else
			tr_fields=trace:pid,tid,time,trace
			tr_format=perf-script-tracepoint
		fi
		timeout -k 2 $((PFT_SECONDS * 4 + 30)) "$PFT_PERF" script -i "$tr_data" --show-lost-events \
			-F "$tr_fields" </dev/null >"$tr_out" 2>"$PFT_DIR/script.err"
		tr_src=$?
		rm -f "$tr_data"
		if [ "$tr_src" -ne 0 ] && [ ! -s "$tr_out" ]; then
			pft_attempt_failed "$tr_t" script-failed "$tr_src" "$PFT_DIR/script.err"
			return 1
		fi
		;;
	bpftrace)
		tr_format=bpftrace
		if [ "$tr_rc" -ne 0 ]; then
			pft_attempt_failed "$tr_t" failed "$tr_rc" "$tr_err"
			return 1
		fi
		;;
	esac
	pft_exited
	pft_mark "attempt tier=$tr_t ok=1 rc=$tr_rc"
	pft_lines '! ' "$tr_err" 20
	[ -s "$PFT_DIR/script.err" ] && pft_lines '! ' "$PFT_DIR/script.err" 20
	pft_vm_print start "$PFT_VM0_UP" "$PFT_VM0_TXT"
	if [ "$tr_t" = perf ]; then
		pft_mark "tracer tier=$tr_t seconds=$PFT_SECONDS target=$PFT_TARGET period=$PFT_PERIOD${PFT_PERIOD_RATE:+ rate=$PFT_PERIOD_RATE}"
	else
		pft_mark "tracer tier=$tr_t seconds=$PFT_SECONDS target=$PFT_TARGET period=1"
	fi
	tr_n=$(wc -l <"$tr_out" 2>/dev/null) || tr_n=
	tr_n=$((tr_n + 0))
	pft_mark "samples tier=$tr_t format=$tr_format total=$tr_n max=$PFT_MAX_SAMPLES"
	head -n "$PFT_MAX_SAMPLES" "$tr_out" | tr -s ' '
	pft_mark "samples-end tier=$tr_t"
	pft_vm_print end "$tr_vm1_up" "$tr_vm1_txt"
	# Other processes seen in the samples, most samples first, if still alive. Tracing given pids, their
	# details were read during the capture already, and this pass over every sample is skipped.
	if [ "$PFT_TARGET" = pids ]; then
		: >"$PFT_DIR/others"
	else
		head -n "$PFT_MAX_SAMPLES" "$tr_out" | sed -n 's|^ *\([0-9][0-9]*\)[/ ][0-9].*|\1|p' | sort | uniq -c |
			sort -rn | head -n "$PFT_MAX_OTHER_PIDS" >"$PFT_DIR/others" 2>/dev/null
	fi
	rm -f "$tr_out"
	while read -r tr_c tr_p; do
		pft_is_uint "$tr_p" && [ "$tr_p" -gt 0 ] && pft_details "$tr_p" after
	done <"$PFT_DIR/others"
	return 0
}

pft_step_capture() {
	PFT_SECONDS=$1
	cp_tier=$2
	cp_csv=
	for cp_p in $PFT_PIDS_ARG; do cp_csv="$cp_csv${cp_csv:+,}$cp_p"; done
	pft_mark "begin step=capture version=1 seconds=$PFT_SECONDS tier=$cp_tier pids=$cp_csv"
	pft_find_tools
	pft_tmpdir || printf 'playbook: cannot create a temporary directory\n' >&2
	pft_sleep_check
	PFT_PIDS=$PFT_PIDS_ARG
	pft_filter_pids
	case $cp_tier in
	auto) cp_order='perf bpftrace tracepoint' ;;
	none) cp_order= ;;
	*) cp_order=$cp_tier ;;
	esac
	for cp_t in $cp_order; do
		if pft_trace "$cp_t"; then
			pft_mark "end step=capture status=ok"
			return 0
		fi
	done
	if [ "$cp_tier" != auto ] && [ "$cp_tier" != none ]; then
		# A forced tier that is unavailable: say so, record nothing.
		pft_vm_read
		pft_vm_print start "$vm_up" "$vm_txt"
		pft_mark "tracer tier=none seconds=0 target=$PFT_TARGET"
		pft_details_given after
		pft_vm_print end "$vm_up" "$vm_txt"
		pft_mark "end step=capture status=tracer-unavailable"
		return 0
	fi
	# No tracer: the window still passes, so that vmstat and the processes can be compared.
	pft_mark "attempt tier=none ok=1"
	pft_vm_read
	pft_vm_print start "$vm_up" "$vm_txt"
	pft_mark "tracer tier=none seconds=$PFT_SECONDS target=$PFT_TARGET"
	sleep "$PFT_SECONDS" </dev/null >/dev/null 2>&1 &
	cp_sl=$!
	PFT_TPID=$cp_sl
	pft_nap "$PFT_HALF"
	pft_details_given during
	wait "$cp_sl"
	PFT_TPID=
	pft_exited
	pft_vm_read
	pft_vm_print end "$vm_up" "$vm_txt"
	pft_mark "end step=capture status=ok"
	return 0
}

pft_main() {
	[ $# -ge 2 ] || pft_die "usage: sh -s -- probe|rank|capture NONCE [ARGS...]"
	pft_step=$1
	PFT_NONCE=$2
	case $PFT_NONCE in '' | *[!0-9a-f]*) pft_die "bad nonce" ;; esac
	[ "${#PFT_NONCE}" -ge 16 ] && [ "${#PFT_NONCE}" -le 64 ] || pft_die "bad nonce"
	shift 2
	case $pft_step in
	probe)
		[ $# -eq 0 ] || pft_die "usage: probe NONCE"
		pft_step_probe
		;;
	rank)
		{ [ $# -eq 1 ] || [ $# -eq 3 ]; } && pft_is_uint "$1" && [ "$1" -ge 1 ] && [ "$1" -le 3600 ] ||
			pft_die "usage: rank NONCE SAMPLE_SECONDS (1..3600) [CAPTURE_SECONDS TIER]"
		if [ $# -eq 3 ]; then
			pft_is_uint "$2" && [ "$2" -ge 1 ] && [ "$2" -le 3600 ] || pft_die "bad capture seconds"
			case $3 in auto | perf | bpftrace | tracepoint | none) ;; *) pft_die "bad tier: $3" ;; esac
		fi
		PFT_PIDS_ARG=
		pft_step_rank "$1" "$2" "$3"
		;;
	capture)
		[ $# -ge 2 ] && pft_is_uint "$1" && [ "$1" -ge 1 ] && [ "$1" -le 3600 ] ||
			pft_die "usage: capture NONCE CAPTURE_SECONDS TIER [PID...]"
		mn_s=$1
		mn_t=$2
		case $mn_t in auto | perf | bpftrace | tracepoint | none) ;; *) pft_die "bad tier: $mn_t" ;; esac
		shift 2
		[ $# -le 256 ] || pft_die "too many pids"
		PFT_PIDS_ARG=
		for mn_p; do
			pft_is_uint "$mn_p" && [ "$mn_p" -gt 0 ] || pft_die "bad pid"
			case " $PFT_PIDS_ARG " in *" $mn_p "*) ;; *) PFT_PIDS_ARG="$PFT_PIDS_ARG${PFT_PIDS_ARG:+ }$mn_p" ;; esac
		done
		pft_step_capture "$mn_s" "$mn_t"
		;;
	*) pft_die "unknown step: $pft_step" ;;
	esac
}

pft_main "$@" </dev/null; exit $?
