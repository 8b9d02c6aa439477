import { afterEach, describe, expect, it, vi } from 'vitest';
import { TriageError } from '../../../src/errors.js';
import type { StepRequest } from '../../../src/remote/session.js';
import { sudoRefusal } from '../../../src/remote/ssh.js';
import { superviseStep, type StepSink } from '../../../src/remote/step.js';

const req = (over: Partial<StepRequest> = {}): StepRequest => ({ script: '', args: [], timeoutSeconds: 3, maxOutputBytes: 8, ...over });

/** A fake runner: hands out the sink and counts stop() calls. */
function fake() {
  const state: { sink?: StepSink; stops: number } = { stops: 0 };
  const start = (sink: StepSink) => {
    state.sink = sink;
    return { stop: () => void state.stops++ };
  };
  return { state, start };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('superviseStep', () => {
  it('resolves with the capped output once the step finishes', async () => {
    const { state, start } = fake();
    const p = superviseStep(req(), { maxStderrBytes: 4 }, start);
    state.sink?.stdout.push('0123456789');
    state.sink?.stderr.push('abcdef');
    state.sink?.finish(0, null);
    state.sink?.finish(1, null); // only the first ending counts
    const out = await p;
    expect(out).toMatchObject({ stdout: '01234567', truncated: true, exitCode: 0, exitSignal: null });
    expect(out.stderr).toBe('abcd\n[stderr truncated: 2 bytes dropped]');
    expect(state.stops).toBe(0);
  });

  it('stops the step and rejects with cancelled on abort', async () => {
    const { state, start } = fake();
    const ac = new AbortController();
    const p = superviseStep(req({ signal: ac.signal }), {}, start);
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'cancelled' });
    expect(state.stops).toBe(1);
  });

  it('does not start a step whose signal is already aborted', async () => {
    const { state, start } = fake();
    await expect(superviseStep(req({ signal: AbortSignal.abort() }), {}, start)).rejects.toMatchObject({ code: 'cancelled' });
    expect(state.sink).toBeUndefined();
  });

  it('gives up after timeout + kill-after + grace with deadline_exceeded', async () => {
    vi.useFakeTimers();
    const { state, start } = fake();
    const p = superviseStep(req({ timeoutSeconds: 3 }), { deadlineGraceMs: 1000 }, start);
    const settled = vi.fn();
    p.catch(settled);
    await vi.advanceTimersByTimeAsync(5999);
    expect(settled).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await expect(p).rejects.toMatchObject({ code: 'deadline_exceeded', retryable: true });
    expect(state.stops).toBe(1);
  });

  it('passes a runner failure through', async () => {
    const { state, start } = fake();
    const p = superviseStep(req(), {}, start);
    state.sink?.fail(new TriageError('connection_lost', 'gone'));
    await expect(p).rejects.toMatchObject({ code: 'connection_lost' });
  });

  it('refuses a cap that is not a positive byte count', async () => {
    const { start } = fake();
    await expect(superviseStep(req({ maxOutputBytes: 0 }), {}, start)).rejects.toMatchObject({ code: 'internal' });
  });
});

describe('sudoRefusal', () => {
  it('finds sudo -n refusing before the playbook ran', () => {
    expect(sudoRefusal({ exitCode: 1, stdout: '', stderr: 'sudo: a password is required\n' })).toBe('sudo: a password is required');
    expect(
      sudoRefusal({ exitCode: 1, stdout: '', stderr: 'Could not chdir to home directory /nonexistent\nsudo: sorry, you must have a tty to run sudo\n' }),
    ).toBe('sudo: sorry, you must have a tty to run sudo');
  });

  it('ignores a playbook that ran', () => {
    expect(sudoRefusal({ exitCode: 1, stdout: 'x', stderr: 'sudo: a password is required\n' })).toBeUndefined();
    expect(sudoRefusal({ exitCode: 0, stdout: '', stderr: 'sudo: a password is required\n' })).toBeUndefined();
    expect(sudoRefusal({ exitCode: 1, stdout: '', stderr: 'perf: not found\n' })).toBeUndefined();
  });
});
