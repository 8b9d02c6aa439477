import { describe, expect, it } from 'vitest';
import { majfltChart } from '../../../src/report/chart.js';
import { withChart } from '../../../src/report/page.js';

const system = { series: [900, 1300, 1250, 1400], alertThresholdPerSec: 500 };
const proc = (pid: number, comm: string, series: number[]) => ({ pid, comm, series, majfltPerSec: series.reduce((a, b) => a + b, 0) / series.length });

describe('majfltChart', () => {
  it('draws the node, the top processes and the threshold', () => {
    const svg = majfltChart({ system, processes: [proc(4242, 'java', [800, 1200, 1200, 1300]), proc(7, 'idle', [0, 0, 0, 0])] } as never);
    expect(svg.startsWith('<figure class="chart"><svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(2); // node + java; the idle process is left out
    expect(svg).toContain('alert threshold 500/s');
    expect(svg).toContain('pid 4242 java');
  });
  it('escapes process names', () => {
    const svg = majfltChart({ system, processes: [proc(1, '<script>&"', [1, 2, 3, 4])] } as never);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;&amp;&quot;');
  });
  it('draws nothing without a series', () => {
    expect(majfltChart({ system: { series: [5], alertThresholdPerSec: 500 }, processes: [] } as never)).toBe('');
  });
  it('goes in front of the first section of the page', () => {
    expect(withChart('<h1>t</h1><p>v</p><h2>Who</h2>', '<figure/>')).toBe('<h1>t</h1><p>v</p><figure/><h2>Who</h2>');
    expect(withChart('<h1>t</h1>', '')).toBe('<h1>t</h1>');
  });
});
