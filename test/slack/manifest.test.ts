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

  it('asks for the minimal bot scopes only (history: to find a post whose answer was lost)', () => {
    expect(manifest.oauth_config.scopes).toEqual({ bot: ['chat:write', 'commands', 'channels:history', 'groups:history'] });
  });
});

describe('config/slack-app-manifest-socket-mode.yaml', () => {
  const manifest = parse(readFileSync(join(packageRoot, 'config', 'slack-app-manifest-socket-mode.yaml'), 'utf8'));
  const http = parse(readFileSync(join(packageRoot, 'config', 'slack-app-manifest.yaml'), 'utf8'));

  it('turns Socket Mode on and has no request URLs', () => {
    expect(manifest.settings.socket_mode_enabled).toBe(true);
    expect(manifest.settings.interactivity).toEqual({ is_enabled: true });
    const [command] = manifest.features.slash_commands;
    expect(command.url).toBeUndefined();
    expect(JSON.stringify(manifest)).not.toMatch(/https?:\/\/[^"]*\/slack\//);
  });

  it('is the HTTP manifest otherwise: the same command, texts and scopes', () => {
    const { url: _url, ...command } = http.features.slash_commands[0];
    expect(manifest.features.slash_commands).toEqual([command]);
    expect(manifest.display_information).toEqual(http.display_information);
    expect(manifest.features.bot_user).toEqual(http.features.bot_user);
    expect(manifest.oauth_config).toEqual(http.oauth_config);
  });
});
