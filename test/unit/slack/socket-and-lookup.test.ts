import { describe, expect, it } from 'vitest';
import { deliveryKey } from '../../../src/intake/slack/handlers.js';
import { ackPayload, reconnectDelayMs } from '../../../src/intake/slack/socket.js';
import { lookupArgs, matchPosted } from '../../../src/notify/slack/client.js';

describe('Socket Mode: pure parts', () => {
  it('a request is one request per trigger id, else per envelope', () => {
    expect(deliveryKey({ trigger_id: '1.2.abc' }, 'env-1')).toBe('trigger:1.2.abc');
    expect(deliveryKey({ trigger_id: '' }, 'env-1')).toBe('envelope:env-1');
    expect(deliveryKey(undefined, 'env-2')).toBe('envelope:env-2');
  });

  it('the ack carries the ephemeral answer, and nothing for a bare acknowledgement', () => {
    expect(ackPayload({ kind: 'ephemeral', text: 'queued' })).toEqual({ response_type: 'ephemeral', text: 'queued' });
    expect(ackPayload({ kind: 'empty' })).toBeUndefined();
    expect(ackPayload({ kind: 'invalid', message: 'x' })).toBeUndefined();
  });

  it('reconnects at once after a drop, then backs off 1 s doubling to the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((f) => reconnectDelayMs(f, 30))).toEqual([0, 1000, 2000, 4000, 8000, 16000, 30000]);
    expect(reconnectDelayMs(40, 30)).toBe(30000);
    expect(reconnectDelayMs(3, 0.5)).toBe(500);
  });
});

describe('looking for a post that may have landed', () => {
  const where = { channel: 'C1', threadTs: null, oldestMs: 1_764_500_100_000, triageId: 't-1', purpose: 'start' };

  it('reads the channel, or the thread, from a minute before the attempt, with metadata', () => {
    expect(lookupArgs(where)).toEqual({
      method: 'conversations.history',
      args: { channel: 'C1', oldest: '1764500040.000000', inclusive: true, include_all_metadata: true, limit: 200 },
    });
    expect(lookupArgs({ ...where, threadTs: '1764500000.000100' })).toMatchObject({ method: 'conversations.replies', args: { ts: '1764500000.000100' } });
  });

  it('matches only the bot message naming this triage and purpose', () => {
    const md = (triage_id: string, purpose: string) => ({ event_type: 'pagefault_triage', event_payload: { triage_id, purpose } });
    const messages = [
      { ts: '1.1', text: 'someone else' },
      { ts: '1.2', metadata: md('t-2', 'start') },
      { ts: '1.3', metadata: md('t-1', 'verdict') },
      { ts: '1.4', metadata: { event_type: 'other_app', event_payload: { triage_id: 't-1', purpose: 'start' } } },
      { ts: '1.5', metadata: md('t-1', 'start') },
    ];
    expect(matchPosted(messages, where)).toBe('1.5');
    expect(matchPosted(messages.slice(0, 4), where)).toBeNull();
    expect(matchPosted(undefined, where)).toBeNull();
  });
});
