/**
 * The cap on what one triage may store (storage.maxEvidenceBytes): a node that maps a million files or names
 * them with megabyte paths must not grow the store without bound. Past the cap the largest lists are halved
 * (they are ordered most important first), then long strings are cut, and the stored record says what was cut.
 */

export interface EvidenceTrim {
  /** Size of the whole evidence before trimming, in bytes of JSON. */
  originalBytes: number;
  limitBytes: number;
  /** What was cut: `analysis.mappings: kept 512 of 40000`, `nodeInfo.tmpfsMounts[3]: cut to 4096 characters`. */
  cuts: string[];
  /** True when even trimming did not fit and only the verdict and the trigger were kept. */
  summaryOnly: boolean;
}

const STRING_KEEP = 4096;
const MAX_ROUNDS = 200;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** JSON text of `evidence`, at most `limitBytes` (UTF-8), with an `evidenceTrimmed` field when anything was cut. */
export function capEvidence(evidence: object, limitBytes: number): { json: string; trim: EvidenceTrim | null } {
  const full = JSON.stringify(evidence);
  const originalBytes = Buffer.byteLength(full);
  if (originalBytes <= limitBytes) return { json: full, trim: null };

  const copy = JSON.parse(full) as { [k: string]: Json };
  const cuts: string[] = [];
  const fits = (trim: EvidenceTrim): string | null => {
    const text = JSON.stringify({ ...copy, evidenceTrimmed: trim });
    return Buffer.byteLength(text) <= limitBytes ? text : null;
  };
  const trimOf = (summaryOnly: boolean): EvidenceTrim => ({ originalBytes, limitBytes, cuts: cuts.slice(0, 50), summaryOnly });

  for (let round = 0; round < MAX_ROUNDS; round++) {
    const biggest = largestArray(copy, '');
    if (!biggest || biggest.size < 1024) break;
    const { arr, path } = biggest;
    const before = cutCount(cuts, path) ?? arr.length;
    arr.length = Math.floor(arr.length / 2);
    setCut(cuts, path, `${path}: kept ${arr.length} of ${before}`);
    const text = fits(trimOf(false));
    if (text) return { json: text, trim: trimOf(false) };
  }
  cutStrings(copy, '', cuts);
  const text = fits(trimOf(false));
  if (text) return { json: text, trim: trimOf(false) };

  // Nothing left to cut that helps: keep what names the triage and its verdict.
  const summary: { [k: string]: Json } = {};
  for (const k of ['node', 'address', 'trigger', 'startedAt', 'finishedAt', 'window', 'verdict']) if (k in copy) summary[k] = copy[k]!;
  const trim = trimOf(true);
  const json = JSON.stringify({ ...summary, analysis: null, nodeInfo: null, timings: [], evidenceTrimmed: trim });
  return { json: Buffer.byteLength(json) <= limitBytes ? json : JSON.stringify({ evidenceTrimmed: trim }), trim };
}

function cutCount(cuts: string[], path: string): number | undefined {
  const line = cuts.find((c) => c.startsWith(`${path}: kept `));
  const m = line ? / of (\d+)$/.exec(line) : null;
  return m ? Number(m[1]) : undefined;
}

function setCut(cuts: string[], path: string, text: string): void {
  const i = cuts.findIndex((c) => c.startsWith(`${path}: `));
  if (i >= 0) cuts[i] = text;
  else cuts.push(text);
}

/** The array with the most JSON bytes anywhere in `value`, with its path. */
function largestArray(value: Json, path: string): { arr: Json[]; path: string; size: number } | null {
  let best: { arr: Json[]; path: string; size: number } | null = null;
  const visit = (v: Json, p: string): void => {
    if (Array.isArray(v)) {
      const size = JSON.stringify(v).length;
      if (v.length > 0 && (!best || size > best.size)) best = { arr: v, path: p, size };
      v.forEach((x, i) => {
        if (x && typeof x === 'object') visit(x, `${p}[${i}]`);
      });
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) if (x && typeof x === 'object') visit(x, p ? `${p}.${k}` : k);
    }
  };
  visit(value, path);
  return best;
}

function cutStrings(value: Json, path: string, cuts: string[]): void {
  if (Array.isArray(value)) {
    value.forEach((x, i) => {
      if (typeof x === 'string' && x.length > STRING_KEEP) {
        value[i] = `${x.slice(0, STRING_KEEP)}…`;
        cuts.push(`${path}[${i}]: cut to ${STRING_KEEP} characters`);
      } else if (x && typeof x === 'object') cutStrings(x, `${path}[${i}]`, cuts);
    });
  } else if (value && typeof value === 'object') {
    for (const [k, x] of Object.entries(value)) {
      const p = path ? `${path}.${k}` : k;
      if (typeof x === 'string' && x.length > STRING_KEEP) {
        value[k] = `${x.slice(0, STRING_KEEP)}…`;
        cuts.push(`${p}: cut to ${STRING_KEEP} characters`);
      } else if (x && typeof x === 'object') cutStrings(x, p, cuts);
    }
  }
}

/** The Markdown report, cut at a line boundary under `limitBytes`, saying so at its end. */
export function capReport(markdown: string, limitBytes: number): { markdown: string; cut: boolean } {
  const bytes = Buffer.byteLength(markdown);
  if (bytes <= limitBytes) return { markdown, cut: false };
  const note = `\n\n> This report was cut: it was ${bytes} bytes, over storage.maxEvidenceBytes (${limitBytes}).\n`;
  const room = Math.max(0, limitBytes - Buffer.byteLength(note));
  let head = Buffer.from(markdown, 'utf8').subarray(0, room).toString('utf8').replace(/\uFFFD$/, '');
  const nl = head.lastIndexOf('\n');
  if (nl > 0) head = head.slice(0, nl);
  return { markdown: `${head}${note}`, cut: true };
}
