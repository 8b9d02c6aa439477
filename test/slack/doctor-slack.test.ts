import { afterEach, describe, expect, it } from 'vitest';
import { checkSlack, formatSlackChecks } from '../../src/cli/doctor-slack.js';
import { slackSchema } from '../../src/config/schema.js';
import { SlackStandin } from '../support/slack-standin.js';

/** `doctor` shows each Slack token to Slack (auth.test, at the Web API stand-in). */

const standins: SlackStandin[] = [];
afterEach(async () => {
  for (const s of standins.splice(0)) await s.close();
});

async function standin() {
  const s = await SlackStandin.start();
  standins.push(s);
  return s;
}

const slackOf = (s: SlackStandin, over: Record<string, unknown>) =>
  slackSchema.parse({ token: s.token, channel: 'C0ALERTS', apiUrl: s.apiUrl, requestTimeoutSeconds: 2, ...over });

describe('doctor: Slack tokens', () => {
  it('both tokens good: the bot and the app, each confirmed by auth.test', async () => {
    const s = await standin();
    const checks = await checkSlack(slackOf(s, { appToken: s.appToken }));
    expect(checks).toEqual([
      { key: 'slack.token', ok: true, detail: 'ok: bot pagefault-triage in Stand-in' },
      { key: 'slack.appToken', ok: true, detail: 'ok: app A0STANDINAPP in Stand-in (Socket Mode)' },
    ]);
    expect(s.callsOf('auth.test')).toHaveLength(2);
    expect(formatSlackChecks(checks)).toBe('slack.token: ok: bot pagefault-triage in Stand-in\nslack.appToken: ok: app A0STANDINAPP in Stand-in (Socket Mode)\n');
  });

  it('a revoked or wrong token: says which one, why, and what to do', async () => {
    const s = await standin();
    const checks = await checkSlack(slackOf(s, { token: 'xoxb-wrong', appToken: 'xapp-1-wrong' }));
    expect(checks).toEqual([
      { key: 'slack.token', ok: false, detail: expect.stringMatching(/^auth\.test failed: invalid_auth \(slack\.token \(SLACK_BOT_TOKEN\) is not valid/) },
      { key: 'slack.appToken', ok: false, detail: expect.stringMatching(/^auth\.test failed: invalid_auth \(slack\.appToken must be a valid app-level token/) },
    ]);
  });

  it('HTTP set-up only: the bot token alone is checked', async () => {
    const s = await standin();
    const checks = await checkSlack(slackOf(s, { signingSecret: '8f742231b10e8888abcd99edcbaf85a5' }));
    expect(checks.map((c) => [c.key, c.ok])).toEqual([['slack.token', true]]);
  });
});
