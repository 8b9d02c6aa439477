import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';

/** The Slack block's combinations: HTTP (signing secret), Socket Mode (app token), or both. */

const withSlack = (slack: string) => `slack:\n${slack
  .trim()
  .split('\n')
  .map((l) => `  ${l.trim()}`)
  .join('\n')}\nnodes:\n  - name: local\n    local: true\n`;

describe('slack: tokens and transports', () => {
  it('Socket Mode alone: an xapp- app token, no signing secret', () => {
    const c = parseConfig(withSlack('token: xoxb-1-bot\nappToken: xapp-1-A0APP-1-abc\nchannel: C0ALERTS'), {});
    expect(c.slack).toMatchObject({ token: 'xoxb-1-bot', appToken: 'xapp-1-A0APP-1-abc', socketReconnectMaxSeconds: 30 });
    expect(c.slack!.signingSecret).toBeUndefined();
  });

  it('HTTP alone: a signing secret, no app token', () => {
    const c = parseConfig(withSlack('token: xoxb-1-bot\nsigningSecret: 8f742231b10e8888abcd99edcbaf85a5\nchannel: C0ALERTS'), {});
    expect(c.slack).toMatchObject({ signingSecret: '8f742231b10e8888abcd99edcbaf85a5' });
    expect(c.slack!.appToken).toBeUndefined();
  });

  it('both: Socket Mode and the HTTP routes', () => {
    const c = parseConfig(withSlack('token: xoxb-1-bot\nsigningSecret: 8f742231b10e8888abcd99edcbaf85a5\nappToken: xapp-1-A0APP-1-abc\nchannel: C0ALERTS'), {});
    expect(c.slack).toMatchObject({ signingSecret: '8f742231b10e8888abcd99edcbaf85a5', appToken: 'xapp-1-A0APP-1-abc' });
  });

  it('neither: says there is no way in and names both keys', () => {
    expect(() => parseConfig(withSlack('token: xoxb-1-bot\nchannel: C0ALERTS'), {})).toThrow(/slack\.signingSecret: Slack needs a way in: set slack\.appToken \(xapp-…\) for Socket Mode.*or slack\.signingSecret/);
  });

  it('a bot token (xoxb-) where the app token belongs is refused with what to put where', () => {
    expect(() => parseConfig(withSlack('token: xoxb-1-bot\nappToken: xoxb-1-bot\nchannel: C0ALERTS'), {})).toThrow(
      /slack\.appToken: slack\.appToken must be an app-level token \(xapp-…, with connections:write.*this is a xoxb-… token: the bot token \(xoxb-…\) belongs in slack\.token/,
    );
    expect(() => parseConfig(withSlack('token: xoxb-1-bot\nappToken: hunter2\nchannel: C0ALERTS'), {})).toThrow(/this is not a Slack token/);
  });

  it('an app token where the bot token belongs is refused', () => {
    expect(() => parseConfig(withSlack('token: xapp-1-A0APP-1-abc\nappToken: xapp-1-A0APP-1-abc\nchannel: C0ALERTS'), {})).toThrow(
      /slack\.token: slack\.token must be the Bot User OAuth Token \(xoxb-…\); this is an app-level token/,
    );
  });
});
