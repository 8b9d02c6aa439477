/**
 * "The node is left clean", checked for one triage only, so that other tests running the playbook or perf on
 * this shared machine at the same time cannot make it fail (test/engine/helpers.ts expectNodeClean looks at the
 * whole machine). While the triage runs, a watcher notes the sessions started under the test's own sshd
 * listener (every step, sudo included, runs in one; timeout, sh and perf keep the session id even when
 * orphaned) and the playbook temp dirs their processes hold open. Afterwards none of those may be left.
 */
import { readdirSync, readFileSync, readlinkSync, existsSync } from 'node:fs';

interface Proc {
  pid: number;
  ppid: number;
  sid: number;
  state: string;
  cmd: string;
}

function procs(): Proc[] {
  const out: Proc[] = [];
  for (const ent of readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    try {
      const stat = readFileSync(`/proc/${ent}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = readFileSync(`/proc/${ent}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      out.push({ pid: Number(ent), state: rest[0]!, ppid: Number(rest[1]), sid: Number(rest[3]), cmd });
    } catch {
      // gone
    }
  }
  return out;
}

const TEMP_DIR = /^(.*\/pft\.[A-Za-z0-9]{6})(\/|$)/;

export interface NodeWatch {
  /** Sessions and temp dirs seen so far (for messages). */
  seen(): { sessions: number[]; dirs: string[]; commands: string[] };
  /** Stops watching and waits until nothing of the triage is left; throws naming what is. */
  expectClean(timeoutMs?: number): Promise<void>;
}

/** Watches what runs under `rootPid` (the test sshd's listener) until expectClean is called. */
export function watchNode(rootPid: number, everyMs = 40): NodeWatch {
  const sessions = new Set<number>();
  const dirs = new Set<string>();
  const commands = new Set<string>();
  const poll = (): void => {
    const all = procs();
    const byPid = new Map(all.map((p) => [p.pid, p]));
    const rootSid = byPid.get(rootPid)?.sid;
    for (const p of all) {
      // sshd's own processes, and anything still in the listener's (the test's) session, are not the triage's.
      if (p.cmd.startsWith('sshd') || p.sid === rootSid || p.sid === 0) continue;
      let q: Proc | undefined = p;
      for (let hops = 0; q && hops < 30; hops++) {
        if (q.ppid === rootPid) {
          sessions.add(p.sid);
          break;
        }
        q = byPid.get(q.ppid);
      }
    }
    for (const p of all) {
      if (!sessions.has(p.sid)) continue;
      if (/ (probe|rank|capture) [0-9a-f]{16,}/.test(p.cmd) || /^(\S*\/)?perf /.test(p.cmd)) commands.add(p.cmd.slice(0, 200));
      try {
        for (const fd of readdirSync(`/proc/${p.pid}/fd`)) {
          try {
            const m = TEMP_DIR.exec(readlinkSync(`/proc/${p.pid}/fd/${fd}`));
            if (m) dirs.add(m[1]!);
          } catch {
            // closed meanwhile
          }
        }
      } catch {
        // gone
      }
    }
  };
  poll();
  const timer = setInterval(poll, everyMs);
  const left = () => {
    const alive = procs().filter((p) => sessions.has(p.sid) && p.state !== 'Z' && !/^sshd/.test(p.cmd));
    return { processes: alive.map((p) => `${p.pid} ${p.cmd}`), dirs: [...dirs].filter((d) => existsSync(d)) };
  };
  return {
    seen: () => ({ sessions: [...sessions], dirs: [...dirs], commands: [...commands] }),
    async expectClean(timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs;
      let l = left();
      while (Date.now() < until) {
        poll();
        l = left();
        if (l.processes.length === 0 && l.dirs.length === 0) {
          clearInterval(timer);
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      clearInterval(timer);
      throw new Error(`the triage left things on the node after ${timeoutMs} ms: ${JSON.stringify(l)}`);
    },
  };
}
