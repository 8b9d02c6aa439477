import { describe, expect, it } from 'vitest';
import { MAX_AGE_SECONDS, verifySlackRequest } from '../../src/intake/slack/verify-request.js';
import { signSlackRequest } from './helpers.js';

// Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack).
const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const TS = 1531420618;
const BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const SIGNATURE = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';

const headers = (over: Record<string, string | undefined> = {}) => ({ 'x-slack-signature': SIGNATURE, 'x-slack-request-timestamp': String(TS), ...over });
const at = (seconds: number) => seconds * 1000;

describe('verifySlackRequest', () => {
  it("accepts Slack's documented example at its own time", () => {
    expect(signSlackRequest(SECRET, TS, BODY)).toBe(SIGNATURE);
    expect(verifySlackRequest(SECRET, headers(), BODY, at(TS))).toEqual({ ok: true });
    expect(verifySlackRequest(SECRET, headers(), Buffer.from(BODY), at(TS + 30))).toEqual({ ok: true });
  });

  it('rule 1: refuses a request without either header', () => {
    expect(verifySlackRequest(SECRET, headers({ 'x-slack-signature': undefined }), BODY, at(TS))).toMatchObject({ ok: false, reason: 'missing_headers' });
    expect(verifySlackRequest(SECRET, headers({ 'x-slack-request-timestamp': undefined }), BODY, at(TS))).toMatchObject({ ok: false, reason: 'missing_headers' });
  });

  it('rule 2: refuses a timestamp more than five minutes away, either way, or not in seconds', () => {
    expect(verifySlackRequest(SECRET, headers(), BODY, at(TS + MAX_AGE_SECONDS))).toEqual({ ok: true });
    expect(verifySlackRequest(SECRET, headers(), BODY, at(TS + MAX_AGE_SECONDS + 1))).toMatchObject({ ok: false, reason: 'stale' });
    expect(verifySlackRequest(SECRET, headers(), BODY, at(TS + 6 * 60))).toMatchObject({ ok: false, reason: 'stale' });
    expect(verifySlackRequest(SECRET, headers(), BODY, at(TS - 6 * 60))).toMatchObject({ ok: false, reason: 'stale' });
    expect(verifySlackRequest(SECRET, headers({ 'x-slack-request-timestamp': '1531420618.5' }), BODY, at(TS))).toMatchObject({ ok: false, reason: 'bad_timestamp' });
  });

  it('rule 2 comes first: a stale request with a valid signature is refused (no replay)', () => {
    expect(verifySlackRequest(SECRET, headers(), BODY, at(TS + 3600))).toMatchObject({ ok: false, reason: 'stale' });
  });

  it('rules 3 and 4: refuses a malformed or wrong signature, another secret, another body', () => {
    expect(verifySlackRequest(SECRET, headers({ 'x-slack-signature': 'v1=' + SIGNATURE.slice(3) }), BODY, at(TS))).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(verifySlackRequest(SECRET, headers({ 'x-slack-signature': SIGNATURE.slice(0, -2) }), BODY, at(TS))).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(verifySlackRequest(SECRET, headers({ 'x-slack-signature': SIGNATURE.replace(/.$/, '4') }), BODY, at(TS))).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(verifySlackRequest('another-secret', headers(), BODY, at(TS))).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(verifySlackRequest(SECRET, headers(), `${BODY}&text=rm`, at(TS))).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it('signs the raw bytes: a body that is not valid UTF-8 still verifies as sent', () => {
    const raw = Buffer.from([0x61, 0xff, 0x62]);
    const sig = signSlackRequest(SECRET, TS, raw);
    expect(verifySlackRequest(SECRET, headers({ 'x-slack-signature': sig }), raw, at(TS))).toEqual({ ok: true });
    expect(verifySlackRequest(SECRET, headers({ 'x-slack-signature': sig }), raw.toString('utf8'), at(TS))).toMatchObject({ ok: false });
  });
});
