/**
 * Slack's wire format for the messages the bot posts: Block Kit blocks, kept to the few kinds used
 * here, and the limits Slack enforces on them. Only the renderers in report/slack build these.
 */

interface PlainText {
  type: 'plain_text';
  text: string;
  emoji?: boolean;
}

/** `verbatim: true`: Slack does not auto-link bare URLs or #channel names in the text. */
interface Mrkdwn {
  type: 'mrkdwn';
  text: string;
  verbatim: true;
}

interface Button {
  type: 'button';
  action_id: string;
  text: PlainText;
  value?: string;
  url?: string;
  style?: 'primary' | 'danger';
}

export type Block =
  | { type: 'header'; text: PlainText }
  | { type: 'section'; text: Mrkdwn }
  | { type: 'context'; elements: (Mrkdwn | PlainText)[] }
  | { type: 'actions'; block_id: string; elements: Button[] };

/** A message: blocks, and the plain `text` Slack shows in notifications and where blocks cannot be shown. */
export interface SlackMessage {
  text: string;
  blocks: Block[];
}

// Limits, from Slack's Block Kit reference (docs.slack.dev/reference/block-kit/…):
/** blocks/header-block: "Maximum length for the text in this field is 150 characters." */
export const HEADER_TEXT_MAX = 150;
/** blocks/section-block: "Maximum length for the text in this field is 3000 characters." */
export const SECTION_TEXT_MAX = 3000;
/** blocks/context-block: "Maximum number of items is 10." Each is a text object (3000 characters). */
export const CONTEXT_ELEMENTS_MAX = 10;
/** block-elements/button-element: text 75, value 2000, url 3000 characters. */
export const BUTTON_TEXT_MAX = 75;
export const BUTTON_VALUE_MAX = 2000;
export const BUTTON_URL_MAX = 3000;
/** blocks (overview): "You can include up to 50 blocks in each message." */
export const BLOCKS_MAX = 50;
/**
 * chat.postMessage: `text` is truncated past 40,000 characters, and Slack cuts long messages around
 * 8 KB of text in practice. The bot stays far below: a verdict message is a summary
 * that links to the report, so the whole message (JSON) is kept under this budget.
 */
export const MESSAGE_BUDGET_BYTES = 6000;
/** The notification text: a line, not a report. */
export const FALLBACK_TEXT_MAX = 500;

/**
 * Cuts mrkdwn text to `max` characters, ending with "…". It never ends inside an entity (`&amp;`),
 * a `<link|label>`, a surrogate pair or an open code span, so the cut text still renders.
 */
export function cutText(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = s.slice(0, Math.max(0, max - 2));
  const amp = cut.lastIndexOf('&');
  if (amp >= 0 && !cut.slice(amp).includes(';') && cut.length - amp <= 6) cut = cut.slice(0, amp);
  const lt = cut.lastIndexOf('<');
  if (lt > cut.lastIndexOf('>')) cut = cut.slice(0, lt);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  if ((cut.match(/`/g)?.length ?? 0) % 2 === 1) cut += '`';
  return `${cut}…`;
}

const mrkdwn = (text: string, max: number): Mrkdwn => ({ type: 'mrkdwn', text: cutText(text, max), verbatim: true });

export const header = (text: string): Block => ({ type: 'header', text: { type: 'plain_text', text: cutText(text, HEADER_TEXT_MAX), emoji: true } });
export const section = (text: string): Block => ({ type: 'section', text: mrkdwn(text, SECTION_TEXT_MAX) });
export const context = (texts: string[]): Block => ({ type: 'context', elements: texts.slice(0, CONTEXT_ELEMENTS_MAX).map((t) => mrkdwn(t, SECTION_TEXT_MAX)) });
/** Plain text cannot format or mention anything: for prose that quotes node text (notes, errors). */
export const plainContext = (texts: string[]): Block => ({
  type: 'context',
  elements: texts.slice(0, CONTEXT_ELEMENTS_MAX).map((t) => ({ type: 'plain_text' as const, text: cutText(t, SECTION_TEXT_MAX), emoji: false })),
});

export interface ButtonSpec {
  actionId: string;
  text: string;
  value?: string;
  url?: string;
  primary?: boolean;
}

export function actions(blockId: string, buttons: ButtonSpec[]): Block {
  return {
    type: 'actions',
    block_id: blockId,
    elements: buttons.map((b) => ({
      type: 'button' as const,
      action_id: b.actionId,
      text: { type: 'plain_text' as const, text: cutText(b.text, BUTTON_TEXT_MAX), emoji: true },
      ...(b.value === undefined ? {} : { value: b.value.slice(0, BUTTON_VALUE_MAX) }),
      // A URL is not cut: a cut link would be wrong; one this long is left out instead.
      ...(b.url === undefined || b.url.length > BUTTON_URL_MAX ? {} : { url: b.url }),
      ...(b.primary ? { style: 'primary' as const } : {}),
    })),
  };
}

/** A message within Slack's limits: at most BLOCKS_MAX blocks, and a short notification text. */
export function message(text: string, blocks: Block[]): SlackMessage {
  return { text: cutText(text, FALLBACK_TEXT_MAX), blocks: blocks.slice(0, BLOCKS_MAX) };
}
