/**
 * Numbers several stages share: the alert's threshold, the bounds of a timed window, and the thresholds a verdict
 * rests on (analysis decides with them, the report explains them). One definition each.
 */

/** node-mixin's NodeMemoryMajorPagesFaults: `rate(node_vmstat_pgmajfault[5m]) > 500`. */
export const ALERT_THRESHOLD_PER_SEC = 500;

/** A timed window (sample or capture) is whole seconds in this range, wherever it is given (config, CLI, Slack). */
export const WINDOW_SECONDS = { min: 1, max: 60 } as const;

/**
 * A cause needs this share of the resolved faults to name the verdict. A bare majority (> 50%) would flip
 * between two near-equal causes on sampling noise and name one of them while the other is almost as large;
 * at 60% the winner is at least 1.5× everything else combined, so acting on it removes most of the faults.
 * Below it the verdict is `mixed` and names the top two.
 */
export const MAJORITY_SHARE = 0.6;

/** Shared memory above this share of resolved faults gets a note: people read "/dev/shm/…" as a file. */
export const SHMEM_NOTE_SHARE = 0.25;

/**
 * Below this much in swap, a process's swap cannot account for sustained swap-ins (a few stray pages: a
 * library's data, the stack). The same bound leaves such mappings out of the report's swap table.
 */
export const SWAP_MEANINGFUL_KB = 1024;
