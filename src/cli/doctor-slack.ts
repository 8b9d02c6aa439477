import type { SlackConfig } from '../config/schema.js';
import { authTest, PERMANENT_ERROR_HINTS } from '../notify/slack/client.js';

/** One Slack token's health as `doctor` sees it. */
export interface SlackTokenCheck {
  key: 'slack.token' | 'slack.appToken';
  ok: boolean;
  detail: string;
}

/**
 * `doctor`'s Slack part: each configured token is shown to Slack with `auth.test`. The bot token must
 * answer as a bot user; the app-level token (Socket Mode) as the app.
 */
export async function checkSlack(slack: SlackConfig): Promise<SlackTokenCheck[]> {
  const checks: SlackTokenCheck[] = [];
  const bot = await authTest(slack.token, slack);
  if (!bot.ok) {
    const hint = PERMANENT_ERROR_HINTS[bot.reason];
    checks.push({ key: 'slack.token', ok: false, detail: `auth.test failed: ${bot.reason}${hint ? ` (${hint})` : ''}` });
  } else if (bot.botId === null) {
    checks.push({ key: 'slack.token', ok: false, detail: 'auth.test answers, but not as a bot: use the Bot User OAuth Token (xoxb-…) of the installed app' });
  } else {
    checks.push({ key: 'slack.token', ok: true, detail: `ok: bot ${bot.user ?? bot.botId} in ${bot.team ?? 'the workspace'}` });
  }
  if (slack.appToken !== undefined) {
    const app = await authTest(slack.appToken, slack);
    if (!app.ok) {
      checks.push({ key: 'slack.appToken', ok: false, detail: `auth.test failed: ${app.reason} (slack.appToken must be a valid app-level token, xapp-…, with connections:write)` });
    } else {
      checks.push({ key: 'slack.appToken', ok: true, detail: `ok: app ${app.appId ?? 'unknown'} in ${app.team ?? 'the workspace'} (Socket Mode)` });
    }
  }
  return checks;
}

export function formatSlackChecks(checks: readonly SlackTokenCheck[]): string {
  return checks.map((c) => `${c.key}: ${c.detail}`).join('\n') + '\n';
}
