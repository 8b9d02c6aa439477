import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { TriageError } from '../errors.js';
import { templatesDir } from '../paths.js';
import { escapeDeep, type OutputFormat } from './escape.js';
import { sparkline } from './spark.js';

/**
 * Handlebars templates under templates/. Compiled `strict` (a missing field throws instead of
 * rendering blank) and `noEscape`: the view model is escaped for the output format beforehand, so
 * every value from a node or an alert is safe however the template uses it.
 */
export interface TemplateSet {
  render(name: string, view: object, format: OutputFormat): string;
}

/** Formatting helpers: they receive numbers (never node text) and return plain text. */
export const helpers: Record<string, Handlebars.HelperDelegate> = {
  /** 1312.4 → "1,312"; fractional below 10. */
  num(v: unknown) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
    const digits = Math.abs(v) < 10 && !Number.isInteger(v) ? 1 : 0;
    return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  },
  /** bytes → MB with one decimal. */
  mb(v: unknown) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
    return (v / 1e6).toFixed(1);
  },
  /** kB → MiB; "<1" for a little that would round to 0. */
  kbToMib(v: unknown) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
    if (v > 0 && v < 512) return '<1';
    return (v / 1024).toFixed(0);
  },
  /** 0.812 → "81%". */
  pct(v: unknown) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
    return `${Math.round(v * 100)}%`;
  },
  /** milliseconds → "5.0 s". */
  secs(v: unknown) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
    return `${(v / 1000).toFixed(1)} s`;
  },
  /** kB → signed MiB: "+12", "-3", "+<1", "0". */
  signedMib(v: unknown) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
    const mib = Math.round(v / 1024);
    if (mib === 0) return v > 0 ? '+<1' : v < 0 ? '-<1' : '0';
    return mib > 0 ? `+${mib}` : String(mib);
  },
  /** A series of numbers → sparkline, scaled to `scale` when given (a shared scale), else to its own maximum. */
  spark(v: unknown, ...rest: unknown[]) {
    if (!Array.isArray(v) || v.length === 0) return '';
    const nums = v.map((x) => (typeof x === 'number' && Number.isFinite(x) ? x : 0));
    // The last argument is always Handlebars' options object.
    const scale = rest.length > 1 ? rest[0] : undefined;
    return sparkline(nums, typeof scale === 'number' && Number.isFinite(scale) && scale > 0 ? scale : undefined);
  },
  eq(a: unknown, b: unknown) {
    return a === b;
  },
  gt(a: unknown, b: unknown) {
    return typeof a === 'number' && typeof b === 'number' && a > b;
  },
};

export function loadTemplates(dir: string = templatesDir): TemplateSet {
  const hb = Handlebars.create();
  for (const [name, fn] of Object.entries(helpers)) hb.registerHelper(name, fn);
  const cache = new Map<string, Handlebars.TemplateDelegate>();

  const compile = (name: string): Handlebars.TemplateDelegate => {
    const hit = cache.get(name);
    if (hit) return hit;
    let source: string;
    try {
      source = readFileSync(join(dir, name), 'utf8');
    } catch (err) {
      throw new TriageError('template_missing', `template ${name} not found in ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const tpl = hb.compile(source, { strict: true, noEscape: true, preventIndent: true });
    cache.set(name, tpl);
    return tpl;
  };

  // `{{> partial}}` is resolved from the same directory on first use.
  hb.registerHelper('include', function (this: unknown, name: string) {
    if (typeof name !== 'string') throw new TriageError('template_missing', 'include needs a template name');
    // The including line ends the text, so the included file's final newline would leave a blank line.
    return compile(name)(this, { helpers: hb.helpers, partials: hb.partials }).replace(/\n+$/, '');
  });

  return {
    render(name, view, format) {
      const tpl = compile(name);
      try {
        return tpl(escapeDeep(view, format));
      } catch (err) {
        if (err instanceof TriageError) throw err;
        throw new TriageError('template_field_missing', `template ${name}: ${(err as Error).message}`, { cause: err });
      }
    },
  };
}

let shared: TemplateSet | undefined;
/** The packaged templates, loaded once. */
export function templates(): TemplateSet {
  shared ??= loadTemplates();
  return shared;
}
