import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root, found from this file whether it runs from src/ (tsx) or dist/ (built). */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'templates'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('pagefault-triage: cannot find the package root (package.json next to templates/)');
    dir = up;
  }
}

export const packageRoot = findRoot();
export const templatesDir = join(packageRoot, 'templates');
export const playbookScriptPath = join(packageRoot, 'src', 'playbook', 'playbook.sh');
export const defaultConfigPath = join(packageRoot, 'config', 'default.yaml');
