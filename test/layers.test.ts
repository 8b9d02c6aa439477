/**
 * The layering of src/, checked on every import (static, type-only and dynamic): a file may import its own
 * folder and the layers below its own, never one above. Top to bottom:
 *
 *   cli → server → service.ts (the chain put together) → intake → dispatch → pipeline.ts (the engine), context
 *   → remote → playbook → analysis → report → notify → store → metrics.ts → config → model → errors/log/paths
 *
 * Besides the order, intake and notify never import each other (requests and delivery meet only in service.ts).
 * Run alone with `npm run lint:layers`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const SRC = join(ROOT, 'src');

/** Layers, top first. A name is a folder under src/ or a file directly in it. */
export const LAYERS: readonly (readonly string[])[] = [
  ['cli'],
  ['server'],
  ['service.ts'],
  ['intake'],
  ['dispatch'],
  ['pipeline.ts', 'context'],
  ['remote'],
  ['playbook'],
  ['analysis'],
  ['report'],
  ['notify'],
  ['store'],
  ['metrics.ts'],
  ['config'],
  ['model'],
  ['errors.ts', 'log.ts', 'paths.ts'],
];

/** Pairs that may not import each other whatever their order. */
const APART: readonly [string, string][] = [['intake', 'notify']];

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The top-level name under src/ a file belongs to: its folder, or the file itself. */
function unitOf(file: string): string {
  return relative(SRC, file).split('/')[0]!;
}

function layerOf(unit: string): number {
  const i = LAYERS.findIndex((names) => names.includes(unit));
  if (i < 0) throw new Error(`src/${unit} is in no layer: add it to LAYERS in test/layers.test.ts`);
  return i;
}

/** Relative specifiers of every import, export-from and dynamic import in the file. */
function importsOf(text: string): string[] {
  const specs: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s*['"](\.[^'"]+)['"]|\bimport\s*\(\s*['"](\.[^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"](\.[^'"]+)['"]/g;
  for (const m of text.matchAll(re)) specs.push((m[1] ?? m[2] ?? m[3])!);
  return specs;
}

export interface Violation {
  file: string;
  imports: string;
  why: string;
}

/** Every import in src/ that breaks the layering. */
export function layerViolations(): Violation[] {
  const out: Violation[] = [];
  for (const file of filesUnder(SRC)) {
    const from = unitOf(file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      if (!target.startsWith(`${SRC}/`)) continue;
      const to = unitOf(target);
      if (to === from) continue;
      const rel = relative(ROOT, file);
      const where = relative(ROOT, target);
      if (layerOf(to) < layerOf(from)) out.push({ file: rel, imports: where, why: `${from} may not import ${to}, a layer above it` });
      for (const [a, b] of APART) {
        if ((from === a && to === b) || (from === b && to === a)) out.push({ file: rel, imports: where, why: `${a} and ${b} never import each other` });
      }
    }
  }
  return out;
}

describe('layering of src/', () => {
  it('every folder and top-level file of src/ has a layer', () => {
    const units = new Set(filesUnder(SRC).map(unitOf));
    for (const u of units) expect(() => layerOf(u), u).not.toThrow();
  });

  it('finds the imports it checks (static, type-only, export-from, dynamic)', () => {
    const text = [
      "import { a } from '../x/a.js';",
      "import type { B } from './b.js';",
      "export { c } from '../../c.js';",
      "const m = await import('../server/server.js');",
      "import { readFileSync } from 'node:fs';",
    ].join('\n');
    expect(importsOf(text)).toEqual(['../x/a.js', './b.js', '../../c.js', '../server/server.js']);
  });

  it('no file imports a layer above its own, and intake and notify stay apart', () => {
    expect(layerViolations()).toEqual([]);
  });

  // The seams the layering exists for, named so a failure says which one broke.
  it.each([
    ['notify', 'server'],
    ['notify', 'intake'],
    ['notify', 'report'],
    ['intake', 'notify'],
    ['dispatch', 'intake'],
    ['store', 'analysis'],
    ['report', 'analysis'],
    ['playbook', 'remote'],
    ['intake', 'service.ts'],
    ['dispatch', 'service.ts'],
    ['notify', 'service.ts'],
  ])('%s does not import %s', (from, to) => {
    const forbidden = layerOf(to) < layerOf(from) || APART.some(([a, b]) => (a === from && b === to) || (a === to && b === from));
    expect(forbidden).toBe(true);
    expect(layerViolations().filter((v) => v.file.startsWith(`src/${from}`) && v.imports.startsWith(`src/${to}`))).toEqual([]);
  });
});
