import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { TriageError } from '../errors.js';
import { defaultConfigPath } from '../paths.js';
import { configSchema, type Config } from './schema.js';

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` / `${VAR:-default}` in string values (after YAML parsing, so a variable's value
 * can never change the document's structure). An unset variable without a default is an error that
 * names the key, and so is a set but empty one (an empty token would otherwise switch authentication off);
 * only an explicit `${VAR:-}` may make a value empty, which drops it so optional keys fall back to their default.
 */
export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, path: (string | number)[] = []): unknown {
  if (typeof value === 'string') {
    const out = value.replace(VAR, (_m, name: string, def: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      // As in sh, `${VAR:-default}` also stands for a set but empty variable.
      if (def !== undefined) return def;
      // A set but empty variable is a mistake, not a choice: dropping it would silently switch a token off.
      if (v === '') throw new TriageError('config_invalid', `${formatPath(path)}: environment variable ${name} is set but empty (write \${${name}:-} if empty is meant)`);
      throw new TriageError('config_invalid', `${formatPath(path)}: environment variable ${name} is not set`);
    });
    return out === '' && value !== '' ? undefined : out;
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, [...path, i]));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const s = substituteEnv(v, env, [...path, k]);
      if (s !== undefined) out[k] = s;
    }
    return out;
  }
  return value;
}

export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ');
}

/** Parses and validates configuration text. Throws TriageError('config_invalid') naming key and reason. */
export function parseConfig(text: string, env: NodeJS.ProcessEnv = process.env, source = 'config'): Config {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const msg = err instanceof YAMLParseError ? err.message : String(err);
    throw new TriageError('config_invalid', `${source}: not valid YAML: ${msg}`);
  }
  if (raw === null || typeof raw !== 'object') throw new TriageError('config_invalid', `${source}: expected a YAML mapping at the top level`);
  let substituted: unknown;
  try {
    substituted = substituteEnv(raw, env);
  } catch (err) {
    throw new TriageError('config_invalid', `${source}: ${(err as Error).message}`);
  }
  const result = configSchema.safeParse(substituted);
  if (!result.success) throw new TriageError('config_invalid', `${source}: ${formatIssues(result.error)}`);
  return result.data;
}

/** Loads a config file, or the embedded default (the `local` node, loopback, no Slack). */
export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): Config {
  const path = file ?? defaultConfigPath;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TriageError('config_invalid', `cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseConfig(text, env, path);
}
