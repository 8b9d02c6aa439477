/**
 * The Markdown report: pinned per verdict kind (file snapshots under __snapshots__/, one per kind and tier
 * variant), safe against whatever a node or an alert puts in a name, and loud when a template or a field is
 * missing.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Marked, type Token, type Tokens } from 'marked';
import { afterEach, describe, expect, it } from 'vitest';
import { TriageError } from '../../../src/errors.js';
import type { TriageResult } from '../../../src/model/triage.js';
import { verdictKindSchema } from '../../../src/model/verdict.js';
import { renderReport } from '../../../src/report/markdown.js';
import { helpers, loadTemplates } from '../../../src/report/templates.js';
import { reportView } from '../../../src/report/view.js';
import { templatesDir } from '../../../src/paths.js';
import { CONTAINER_ID, fixtures, POD_UID } from './fixtures.js';

const render = (r: TriageResult) => renderReport(r, { reportUrl: 'https://triage.example/reports/01JDX7' });

describe('report snapshots', () => {
  it('has a fixture for every verdict kind', () => {
    const kinds = new Set(Object.values(fixtures).map((f) => f().verdict.kind));
    expect([...kinds].sort()).toEqual([...verdictKindSchema.options].sort());
  });

  it.each(Object.keys(fixtures))('%s', async (name) => {
    const r = fixtures[name]!();
    expect(name.startsWith(r.verdict.kind), `fixture ${name} gives ${r.verdict.kind}`).toBe(true);
    await expect(render(r)).toMatchFileSnapshot(`./__snapshots__/report-${name}.md`);
  });
});

describe('formatting helpers', () => {
  const opts = {}; // stands in for Handlebars' options argument
  it('spark: its own maximum, or a shared scale', () => {
    expect(helpers.spark!([0, 5, 10], opts)).toBe('▁▅█');
    expect(helpers.spark!([0, 5, 10], 20, opts)).toBe('▁▃▅');
    expect(helpers.spark!([0, 0], 500, opts)).toBe('▁▁');
  });
  it('kbToMib and signedMib: small amounts are not shown as 0', () => {
    expect(helpers.kbToMib!(88, opts)).toBe('<1');
    expect(helpers.kbToMib!(0, opts)).toBe('0');
    expect(helpers.kbToMib!(812 * 1024, opts)).toBe('812');
    expect(helpers.signedMib!(12 * 1024, opts)).toBe('+12');
    expect(helpers.signedMib!(-3 * 1024, opts)).toBe('-3');
    expect(helpers.signedMib!(96, opts)).toBe('+<1');
    expect(helpers.signedMib!(-76, opts)).toBe('-<1');
  });
});

describe('what the report shows', () => {
  it('swap per process with its change over the window', () => {
    expect(render(fixtures['swap-thrash']!())).toMatch(/\| 4242 \| java \| payments\.service \| app \| 1,297 \| – \| 812 \(\+12\) \| [▁-█]{5} \|/);
  });

  it('who: cmdline, user, and the cgroup as unit or container + pod', () => {
    const md = render(fixtures['mmap-read']!());
    expect(md).toContain(`| 7 | reader | container ${CONTAINER_ID.slice(0, 12)} · pod ${POD_UID} | nobody |`);
    expect(md).toContain('| 8 | indexer | indexer.service |');
    expect(md).toContain('| 7 | /usr/local/bin/reader --data /data/block --random |');
    // Per file across processes: both readers of /data/block on one row.
    expect(md).toContain('| /data/block | file-data | 1,200 | 100% | 7 8 |');
  });

  it('per-second sparklines on one scale with the alert threshold marked, and the node against it', () => {
    const md = render(fixtures['swap-thrash']!());
    expect(md).toMatch(/Node total: \*\*1,312 major faults\/s\*\* [▁-█]{5} · above the alert threshold of 500\/s \(5 of 5 seconds above it, peak 1,312\/s\)/);
    expect(md).toContain('Per-second sparklines share one scale, 0 to 1,312 major faults/s: the alert threshold is at ▄.');
    const quiet = render(fixtures.quiet!());
    expect(quiet).toContain('below the alert threshold of 500/s (0 of 5 seconds above it, peak 0/s)');
    expect(quiet).toContain('0 to 500 major faults/s: the alert threshold is at █.');
  });

  it('the tier and why better ones were not used; minor faults are not called major', () => {
    const tp = render(fixtures['mmap-read-tracepoint']!());
    expect(tp).toContain('| Tracer | perf exceptions:page_fault_user (all user page faults, minor ones included) (forced by playbook.tracer) |');
    expect(tp).toContain('4,600 page faults captured, minor and major alike (the tracer cannot tell them apart)');
    expect(tp).not.toContain('major faults captured');
    expect(tp).toContain('The tier was forced (`playbook.tracer` is tracepoint), so no other tier was tried.');
    const none = render(fixtures.inconclusive!());
    expect(none).toContain('- perf major-faults (exact major-fault addresses): perf refused (kernel.perf_event_paranoid is 2; needs root or CAP_PERFMON)');
    expect(none).toContain('tracer **none**:\nno tracer could record fault addresses');
  });

  it('next steps per kind', () => {
    expect(render(fixtures['swap-thrash']!())).toMatch(/## Next steps\n- pid 4242 \(`java`\) is working with more memory than it can keep resident[^\n]*\n- Compare its memory limit/);
    expect(render(fixtures['swap-thrash']!())).toContain('- The memory is shared memory');
    expect(render(fixtures['swap-thrash-proc-only']!())).toContain('- This verdict comes from /proc counters alone');
    expect(render(fixtures['mmap-read']!())).toContain('- Check the reader\'s access pattern');
    expect(render(fixtures['code-reread']!())).toContain('- This is a sign of memory pressure');
    expect(render(fixtures.mixed!())).toContain('- No single cause reaches 60% of the faults');
    expect(render(fixtures.inconclusive!())).toContain('- Install perf on the node');
  });

  it('an inconclusive verdict after perf ran does not ask to install perf, and says what to do instead', () => {
    const r = fixtures['inconclusive-perf']!();
    expect(r.analysis!.capture.tier).toBe('perf');
    const md = render(r);
    const next = md.slice(md.indexOf('## Next steps'), md.indexOf('## Method'));
    expect(next).not.toMatch(/install perf|no tracer could record/i);
    expect(next).toContain('perf recorded the fault addresses');
  });

  it('where the swap of the top processes is (smaps), shared memory included', () => {
    const md = render(fixtures['swap-thrash-proc-only']!());
    expect(md).toContain('| /dev/shm/cache of pid 4242 (pft-shmthrash) | shmem | 60 |');
    expect(fixtures['swap-thrash-proc-only']!().verdict.notes).toContain(
      '100% of what pid 4242 has in swap is shared memory (/dev/shm/cache, 60 MiB), which is swap-backed: its faults are swap-ins, not file reads',
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// Untrusted text cannot change the report's structure.

const NASTY = 'x | y *em* _u_ [x](http://e) <b>b</b> `tick` ``two`` \n# heading\n| a | b |\n![i](http://e/i.png) https://e.example www.e.example me@e.example &amp; \\| ~~s~~';

/** The same fixture with every node-controlled string replaced by `text`. */
function withText(text: string): TriageResult {
  const r = fixtures['mmap-read']!();
  const a = r.analysis!;
  for (const p of a.processes) {
    p.comm = text;
    if (p.who) Object.assign(p.who, { cmdline: text, user: text, cgroup: text, unit: text, container: null, podUid: null });
  }
  for (const m of a.mappings) Object.assign(m, { comm: text, label: text, path: text });
  for (const f of a.files) f.path = text;
  r.verdict = { ...r.verdict, summary: text, comm: text, path: text, notes: [text, ...r.verdict.notes] };
  if (r.trigger.kind === 'alert') r.trigger = { ...r.trigger, startsAt: text, labels: { ...r.trigger.labels, instance: text } };
  r.nodeInfo = { ...r.nodeInfo!, kernel: text };
  return r;
}

const marked = new Marked({ gfm: true });

/** The shape of the rendered Markdown: block and inline token types, text left out. */
function shape(tokens: readonly Token[]): unknown[] {
  const out: unknown[] = [];
  for (const t of tokens) {
    if (t.type === 'text' || t.type === 'escape' || t.type === 'space') {
      const inner = 'tokens' in t && t.tokens ? shape(t.tokens) : [];
      if (inner.length) out.push(...inner);
      continue;
    }
    if (t.type === 'table') {
      const tb = t as Tokens.Table;
      out.push({ table: tb.header.length, header: tb.header.map((c) => shape(c.tokens)), rows: tb.rows.map((row) => [row.length, ...row.map((c) => shape(c.tokens))]) });
      continue;
    }
    if (t.type === 'list') {
      out.push({ list: (t as Tokens.List).items.map((i) => shape(i.tokens)) });
      continue;
    }
    out.push({ [t.type]: 'tokens' in t && t.tokens ? shape(t.tokens) : [] });
  }
  return out;
}

describe('escaping', () => {
  it('a comm, path, cmdline, label or alert label full of Markdown cannot change the report structure', () => {
    const benign = render(withText('benign'));
    const nasty = render(withText(NASTY));
    expect(shape(marked.lexer(nasty))).toEqual(shape(marked.lexer(benign)));
  });

  it('renders the text literally: no link, emphasis, image, code, raw HTML or autolink from it', () => {
    const html = marked.parse(render(withText(NASTY)), { async: false });
    const benign = marked.parse(render(withText('benign')), { async: false });
    for (const tag of ['a', 'em', 'strong', 'img', 'code', 'b', 'del', 'h1', 'h2', 'table', 'td', 'tr', 'li']) {
      const count = (s: string) => (s.match(new RegExp(`<${tag}[ >]`, 'g')) ?? []).length;
      expect(count(html), `<${tag}>`).toBe(count(benign));
    }
    expect(html).not.toContain('href="http://e"');
    expect(html).toContain('[x](http://e) &lt;b&gt;b&lt;/b&gt; `tick`');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Missing templates and fields throw; they never render as blanks.

describe('missing templates and fields', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  function thrown(fn: () => unknown): TriageError {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(TriageError);
      return e as TriageError;
    }
    throw new Error('expected a TriageError');
  }

  it('a missing report template is template_missing', () => {
    dir = mkdtempSync(join(tmpdir(), 'pft-test-templates-'));
    const err = thrown(() => renderReport(fixtures.quiet!(), { reportUrl: null }, loadTemplates(dir)));
    expect(err.code).toBe('template_missing');
    expect(err.message).toContain('report.md.hbs');
  });

  it('a missing next-steps template is template_missing, naming it', () => {
    dir = mkdtempSync(join(tmpdir(), 'pft-test-templates-'));
    cpSync(templatesDir, dir, { recursive: true });
    rmSync(join(dir, 'next-steps', 'code-reread.md.hbs'));
    const set = loadTemplates(dir);
    expect(() => renderReport(fixtures['mmap-read']!(), { reportUrl: null }, set)).not.toThrow();
    const err = thrown(() => renderReport(fixtures['code-reread']!(), { reportUrl: null }, set));
    expect(err.code).toBe('template_missing');
    expect(err.message).toContain('next-steps/code-reread.md.hbs');
  });

  it('a field the template uses but the view lacks is template_field_missing', () => {
    const set = loadTemplates();
    const view = reportView(fixtures['swap-thrash']!(), null) as Record<string, unknown>;
    delete view.title;
    const err = thrown(() => set.render('report.md.hbs', view, 'markdown'));
    expect(err.code).toBe('template_field_missing');
    expect(err.message).toMatch(/"title" not defined/);
  });

  it('a template naming a field that does not exist is template_field_missing', () => {
    dir = mkdtempSync(join(tmpdir(), 'pft-test-templates-'));
    writeFileSync(join(dir, 'report.md.hbs'), '# {{node}}: {{verdict.nope}}\n');
    const err = thrown(() => renderReport(fixtures.quiet!(), { reportUrl: null }, loadTemplates(dir)));
    expect(err.code).toBe('template_field_missing');
    expect(err.message).toContain('nope');
  });
});

describe('the raw Markdown reads well', () => {
  it('has no backslash before "." or ":" in plain text: kernel versions, the report link, numbered things', () => {
    for (const [kind, make] of Object.entries(fixtures)) {
      const r = make();
      r.nodeInfo = { ...r.nodeInfo!, kernel: '6.18.44-fc-v782' };
      const md = renderReport(r, { reportUrl: 'http://127.0.0.1:9095/reports/AAAAAAAAAAAAAAAAAAAAAA?sig=abc' });
      expect(md, kind).not.toMatch(/\\[.:]/);
      if (r.nodeInfo) expect(md, kind).toContain('kernel 6.18.44-fc-v782');
      expect(md, kind).toContain('http://127.0.0.1:9095/reports/AAAAAAAAAAAAAAAAAAAAAA?sig=abc');
    }
  });

  it('shows node names in running text as code, with a fence longer than any backtick run in them', () => {
    const r = fixtures['mmap-read']!();
    r.verdict = { ...r.verdict, path: '/data/a `b` ``c``', comm: 'x' };
    const md = render(r);
    expect(md).toContain('- ``` /data/a `b` ``c`` ``` is being read through a memory mapping by pid 7 (`x`)');
  });
});
