/**
 * 1. Rank footprint on the node: CPU and wall time of the playbook's rank step with 2,000 extra idle
 * processes, against `pidstat -r -d 1 N` and `iotop -b -o -n N` over the same processes in the same run.
 * The step runs exactly as the bot runs it locally (`timeout -k 2 T sh -s -- rank NONCE N`, script on
 * stdin); CPU is user+sys of each command and all its children (GNU time, wait4 rusage).
 */
import { buildStepCommand } from '../src/remote/command.js';
import { newNonce, playbookScript, rankArgs, rankTimeoutSeconds } from '../src/playbook/steps.js';
import { median, round, spawnIdleProcesses, timeCommand, type BenchOptions, type Section, type Timed } from './lib.js';

type Tool = 'rank' | 'pidstat' | 'iotop';

function commandOf(tool: Tool, seconds: number): { argv: string[]; input?: string } {
  switch (tool) {
    case 'rank': {
      const argv = buildStepCommand({ args: rankArgs(newNonce(), seconds), timeoutSeconds: rankTimeoutSeconds(seconds), sudo: false }).argv;
      return { argv: [...argv], input: playbookScript() };
    }
    case 'pidstat':
      return { argv: ['pidstat', '-r', '-d', '1', String(seconds)] };
    case 'iotop':
      return { argv: ['iotop', '-b', '-o', '-n', String(seconds)] };
  }
}

/**
 * The pieces of one rank step, timed alone with the playbook's own commands (mean of 10), to explain its CPU:
 * a whole snapshot (the first and last: vmstat, every stat and io file), the process table alone (the second),
 * the pass that picks who faulted (sed, C locale), and one process started (what each sleep and reader costs).
 */
async function rankPieces(): Promise<Record<string, number>> {
  const reps = 10;
  const loop = (cmd: string): string[] => ['sh', '-c', `i=0; while [ $i -lt ${reps} ]; do ${cmd}; i=$((i+1)); done; true`];
  const whole = await timeCommand(loop('head -v -c 16384 /proc/vmstat /proc/[0-9]*/stat /proc/[0-9]*/io >/dev/null 2>&1'));
  const table = await timeCommand(loop('head -v -c 16384 /proc/vmstat /proc/[0-9]*/stat >/dev/null 2>&1'));
  const pairs = await timeCommand(
    loop(
      "head -v -c 16384 /proc/vmstat /proc/[0-9]*/stat /proc/[0-9]*/io 2>/dev/null | LC_ALL=C sed -e h -e 's/^\\([0-9][0-9]*\\) .*) \\([^ ]* \\)\\{9\\}\\([1-9][0-9]*\\) .*/\\1 \\3/w /dev/null' -e g >/dev/null",
    ),
  );
  const spawn = await timeCommand(loop('sleep 0'));
  const status = await timeCommand(loop("grep -H -E '^VmSwap:[[:space:]]*[1-9]' /proc/[0-9]*/status >/dev/null 2>&1"));
  return {
    wholeSnapshotCpuS: round(whole.cpuS / reps, 4),
    processTableCpuS: round(table.cpuS / reps, 4),
    pickFaultingCpuS: round(Math.max(0, pairs.cpuS - whole.cpuS) / reps, 4),
    processStartCpuS: round(spawn.cpuS / reps, 4),
    everyVmSwapCpuS: round(status.cpuS / reps, 4),
  };
}

export async function run(opts: BenchOptions): Promise<Section> {
  const extra = opts.quick ? 300 : 2000;
  const seconds = opts.quick ? 2 : 5;
  const rounds = opts.quick ? 1 : 2;
  const notes: string[] = [];
  opts.log(`rank: starting ${extra} idle processes`);
  const crowd = await spawnIdleProcesses(extra);
  const results: Record<Tool, Timed[]> = { rank: [], pidstat: [], iotop: [] };
  let pieces: Record<string, number> = {};
  let iotopError: string | null = null;
  try {
    opts.log(`rank: ${crowd.count} processes on the machine; ${rounds} round(s) of rank, pidstat, iotop for ${seconds} s each`);
    for (let r = 0; r < rounds; r++) {
      for (const tool of ['rank', 'pidstat', 'iotop'] as const) {
        const { argv, input } = commandOf(tool, seconds);
        const t = await timeCommand(argv, input === undefined ? {} : { input });
        if (t.exitCode !== 0) {
          const msg = `${tool} exited ${t.exitCode}: ${t.stderr.trim().split('\n').slice(-2).join(' | ')}`;
          if (tool === 'iotop') iotopError = msg;
          else throw new Error(msg);
        }
        results[tool].push(t);
        opts.log(`rank:   ${tool.padEnd(7)} cpu ${t.cpuS.toFixed(2)} s (user ${t.userS}, sys ${t.sysS}), wall ${t.wallS} s, ${t.stdoutBytes} bytes out`);
      }
    }
    pieces = await rankPieces();
  } finally {
    await crowd.stop();
  }

  const cpu = (tool: Tool): number => median(results[tool].map((t) => t.cpuS));
  const wall = (tool: Tool): number => median(results[tool].map((t) => t.wallS));
  const iotopOk = iotopError === null;
  if (!iotopOk) notes.push(`iotop could not run here: ${iotopError}; the anchor is pidstat alone`);
  const rankCpu = cpu('rank');
  const pidstatCpu = cpu('pidstat');
  const ratio = rankCpu / pidstatCpu;
  const belowIotop = !iotopOk || rankCpu < cpu('iotop');
  notes.push(
    `rank CPU, piece by piece (each timed alone): a whole snapshot (vmstat, every stat and io file) ${pieces.wholeSnapshotCpuS} s, the process table alone ${pieces.processTableCpuS} s, ` +
      `picking who faulted (sed) ${pieces.pickFaultingCpuS} s, one process started (each sleep, reader) ${pieces.processStartCpuS} s; VmSwap of every process, no longer read, would cost ${pieces.everyVmSwapCpuS} s. ` +
      `The rank reads the whole table at 3 of its ${seconds + 1} snapshots (first, second, last; io at the first and last) and only the processes that faulted in the first second at the others`,
  );

  const label = `${seconds} s, ${extra.toLocaleString('en-US')} extra idle processes`;
  return {
    rows: [
      {
        id: '1a',
        measurement: 'rank footprint',
        figure: `rank step CPU (user+sys), ${label}`,
        value: round(rankCpu, 2),
        unit: 's',
        anchor: { name: 'pidstat', value: round(pidstatCpu, 2), unit: 's' },
        ratio: round(ratio, 2),
        target: iotopOk ? '≤ 0.5× pidstat, < iotop' : '≤ 0.5× pidstat',
        met: ratio <= 0.5 && belowIotop,
      },
      {
        id: '1b',
        measurement: 'rank footprint',
        figure: 'pidstat -r -d 1 N CPU',
        value: round(pidstatCpu, 2),
        unit: 's',
        anchor: { name: 'rank step', value: round(rankCpu, 2), unit: 's' },
        ratio: round(pidstatCpu / rankCpu, 2),
      },
      ...(iotopOk
        ? [
            {
              id: '1c',
              measurement: 'rank footprint',
              figure: 'iotop -b -o -n N CPU',
              value: round(cpu('iotop'), 2),
              unit: 's',
              anchor: { name: 'rank step', value: round(rankCpu, 2), unit: 's' },
              ratio: round(cpu('iotop') / rankCpu, 2),
            },
          ]
        : []),
      {
        id: '1d',
        measurement: 'rank footprint',
        figure: `rank step wall time (${seconds} s window)`,
        value: round(wall('rank'), 2),
        unit: 's',
        anchor: { name: 'pidstat wall', value: round(wall('pidstat'), 2), unit: 's' },
        ratio: round(wall('rank') / wall('pidstat'), 2),
        note: `output ${Math.round(median(results.rank.map((t) => t.stdoutBytes)) / 1024)} KiB`,
      },
    ],
    details: {
      processesOnMachine: crowd.count,
      extraIdleProcesses: extra,
      seconds,
      rounds,
      runs: Object.fromEntries(
        Object.entries(results).map(([k, v]) => [k, v.map((t) => ({ wallS: t.wallS, userS: t.userS, sysS: t.sysS, outBytes: t.stdoutBytes }))]),
      ),
      pieces,
      iotop: iotopOk ? 'ran' : iotopError,
    },
    notes,
  };
}
