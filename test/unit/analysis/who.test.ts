import { describe, expect, it } from 'vitest';
import { parseCgroup, truncateCmdline, whoOf } from '../../../src/analysis/who.js';
import { procDetail } from './builders.js';

const ID = 'a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const ID2 = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
const POD = '6b1a2c3d-4e5f-6789-abcd-ef0123456789';
const POD_ = POD.replaceAll('-', '_');

describe('parseCgroup', () => {
  it('reads a systemd service from a cgroup v2 line', () => {
    expect(parseCgroup(['0::/system.slice/postgresql.service'])).toEqual({
      cgroup: '/system.slice/postgresql.service',
      unit: 'postgresql.service',
      container: null,
      podUid: null,
    });
  });

  it('prefers the v2 line on a hybrid host, then name=systemd, then memory', () => {
    const lines = [
      '12:memory:/system.slice/memory-view.service',
      '11:cpu,cpuacct:/system.slice/cpu-view.service',
      '1:name=systemd:/system.slice/systemd-view.service',
      '0::/system.slice/unified.service',
    ];
    expect(parseCgroup(lines).unit).toBe('unified.service');
    expect(parseCgroup(lines.slice(0, 3)).unit).toBe('systemd-view.service');
    expect(parseCgroup(lines.slice(0, 2)).unit).toBe('memory-view.service');
  });

  it('reads a cgroup v1 host with only controller lines', () => {
    const r = parseCgroup([
      '12:pids:/system.slice/payments.service',
      '7:memory:/system.slice/payments.service',
      '1:name=systemd:/system.slice/payments.service',
    ]);
    expect(r).toMatchObject({ cgroup: '/system.slice/payments.service', unit: 'payments.service' });
  });

  it('skips an uninformative `/` v2 line for the v1 path of a container', () => {
    const r = parseCgroup(['0::/', `12:memory:/docker/${ID}`, `1:name=systemd:/docker/${ID}`]);
    expect(r).toEqual({ cgroup: `/docker/${ID}`, unit: null, container: ID, podUid: null });
  });

  it('finds a docker container under systemd (cgroup v2)', () => {
    expect(parseCgroup([`0::/system.slice/docker-${ID}.scope`])).toEqual({
      cgroup: `/system.slice/docker-${ID}.scope`,
      unit: `docker-${ID}.scope`,
      container: ID,
      podUid: null,
    });
  });

  it('finds a containerd container and its pod uid, underscores turned back into dashes', () => {
    const path = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/cri-containerd-${ID}.scope`;
    expect(parseCgroup([`0::${path}`])).toEqual({ cgroup: path, unit: `cri-containerd-${ID}.scope`, container: ID, podUid: POD });
  });

  it('finds a cri-o container and ignores its conmon monitor', () => {
    const pod = `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_}.slice`;
    expect(parseCgroup([`0::${pod}/crio-${ID}.scope`])).toMatchObject({ container: ID, podUid: POD });
    expect(parseCgroup([`0::${pod}/crio-${ID}`])).toMatchObject({ container: ID, podUid: POD });
    expect(parseCgroup([`0::${pod}/crio-conmon-${ID}.scope`])).toMatchObject({ container: null, podUid: POD, unit: `crio-conmon-${ID}.scope` });
  });

  it('reads cgroupfs-driver kubepods paths (v1), dashes kept', () => {
    expect(parseCgroup([`11:memory:/kubepods/burstable/pod${POD}/${ID}`])).toMatchObject({ container: ID, podUid: POD, unit: null });
    expect(parseCgroup([`11:memory:/kubepods/pod${POD}/${ID}`])).toMatchObject({ container: ID, podUid: POD });
  });

  it('reads a guaranteed pod (no QoS slice) and a static pod hash', () => {
    expect(parseCgroup([`0::/kubepods.slice/kubepods-pod${POD_}.slice/cri-containerd-${ID}.scope`]).podUid).toBe(POD);
    const hash = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';
    expect(parseCgroup([`0::/kubepods/besteffort/pod${hash}/${ID}`]).podUid).toBe(hash);
  });

  it("reads containerd's colon form", () => {
    const r = parseCgroup([`0::/system.slice/containerd.service/kubepods-burstable-pod${POD_}.slice:cri-containerd:${ID}`]);
    expect(r).toMatchObject({ container: ID, podUid: POD });
  });

  it('takes the last container id when nested', () => {
    expect(parseCgroup([`0::/docker/${ID2}/docker/${ID}`]).container).toBe(ID);
  });

  it('takes the last unit component, not the last component', () => {
    expect(parseCgroup(['0::/system.slice/nginx.service/payload']).unit).toBe('nginx.service');
    expect(parseCgroup(['0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-foo.scope']).unit).toBe('app-foo.scope');
    expect(parseCgroup(['0::/user.slice/user-1000.slice/session-3.scope']).unit).toBe('session-3.scope');
    expect(parseCgroup(['0::/system.slice']).unit).toBeNull();
  });

  it('does not take pod-looking names outside kubepods, nor short hex for a container', () => {
    expect(parseCgroup([`0::/system.slice/pod${POD}.service`]).podUid).toBeNull();
    expect(parseCgroup(['0::/docker/abc123']).container).toBeNull();
  });

  it('answers nulls for no lines, garbage and the root', () => {
    const none = { cgroup: null, unit: null, container: null, podUid: null };
    expect(parseCgroup([])).toEqual(none);
    expect(parseCgroup(['garbage', ''])).toEqual(none);
    expect(parseCgroup(['0::/'])).toEqual({ ...none, cgroup: '/' });
  });
});

describe('truncateCmdline', () => {
  it('leaves short cmdlines alone', () => {
    expect(truncateCmdline('java -Xmx4g -jar app.jar')).toBe('java -Xmx4g -jar app.jar');
    expect(truncateCmdline('x'.repeat(200))).toBe('x'.repeat(200));
  });

  it('cuts long ones to the limit, ellipsis included', () => {
    const out = truncateCmdline('y'.repeat(500));
    expect(out).toHaveLength(200);
    expect(out.endsWith('y…')).toBe(true);
    expect(truncateCmdline('abcdef', 4)).toBe('abc…');
  });

  it('never splits a surrogate pair', () => {
    const out = truncateCmdline(`${'a'.repeat(198)}😀tail`, 200);
    expect(out).toBe(`${'a'.repeat(198)}…`);
  });
});

describe('whoOf', () => {
  it('combines user, truncated cmdline and cgroup identity', () => {
    const who = whoOf(procDetail(4242, { cmdline: `java ${'-Dx=1 '.repeat(100)}`, user: 'app', uid: 1001, cgroup: ['0::/system.slice/payments.service'] }));
    expect(who).toMatchObject({ user: 'app', uid: 1001, unit: 'payments.service', container: null, podUid: null });
    expect(who.cmdline).toHaveLength(200);
  });

  it('gives a null cmdline for kernel threads and zombies', () => {
    expect(whoOf(procDetail(2, { cmdline: '' })).cmdline).toBeNull();
  });
});
