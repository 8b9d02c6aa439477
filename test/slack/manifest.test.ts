import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { slackSchema } from '../../src/config/schema.js';
import { packageRoot } from '../../src/paths.js';

describe('config/slack-app-manifest.yaml', () => {
  const manifest = parse(readFileSync(join(packageRoot, 'config', 'slack-app-manifest.yaml'), 'utf8'));

  it('points the slash command and the buttons at the bot routes', () => {
    const [command] = manifest.features.slash_commands;
    expect(command.command).toBe(slackSchema.parse({ token: 't', signingSecret: '5f2b0c9e7a41d38e6b0f9c2a1d4e7b30', channel: 'C' }).command);
    expect(new URL(command.url).pathname).toBe('/slack/commands');
    expect(manifest.settings.interactivity).toMatchObject({ is_enabled: true });
    expect(new URL(manifest.settings.interactivity.request_url).pathname).toBe('/slack/interactions');
    expect(manifest.settings.socket_mode_enabled).toBe(false);
  });

  it('asks for the minimal bot scopes only', () => {
    expect(manifest.oauth_config.scopes).toEqual({ bot: ['chat:write', 'commands'] });
  });
});
