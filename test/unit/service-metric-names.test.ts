/**
 * Metric names: every metric the service registry exposes (its own and prom-client's process/Node.js
 * defaults) is listed by its full name in docs/service.md, and no name repeats a word back to back
 * (`macdemux_process_process_cpu_seconds_total`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createMetrics } from '../../src/service/metrics.ts';

const DOCS = readFileSync(fileURLToPath(new URL('../../docs/service.md', import.meta.url)), 'utf8');

async function metricNames(): Promise<string[]> {
  const registry = createMetrics(
    async () => ({
      time: Date.now(),
      ports: [{ network: 'n', port: 'p', dataplane: 'userspace', rxPackets: 1, rxBytes: 1, txPackets: 1, txBytes: 1 } as never],
      switches: [],
      leases: { n: 1 },
      networks: 1,
    }),
    { total: { ok: 1, failed: 0 }, lastDurationS: 0.1 },
  );
  const text = await registry.metrics();
  return [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
}

test('every metric is macdemux_*, without a repeated word, and documented by its full name', async () => {
  const names = await metricNames();
  assert.ok(names.includes('macdemux_process_cpu_seconds_total'), names.join(' '));
  assert.ok(names.includes('macdemux_port_rx_packets_total'));
  for (const name of names) {
    assert.match(name, /^macdemux_[a-z0-9_]+$/);
    const words = name.split('_');
    assert.ok(!words.some((w, i) => i > 0 && w === words[i - 1]), `${name} repeats a word`);
    assert.ok(DOCS.includes(`\`${name}\``), `docs/service.md lists \`${name}\``);
  }
});
