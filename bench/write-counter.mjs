// Preloaded (`node --import`) into a `sealtrail` process by bench/ledger.ts: counts the rows its
// SQLite statements change (inserts, upserts, updates) and, at exit, writes that count with the
// process's /proc/self/io counters (bytes written) to $SEALTRAIL_BENCH_IO. Nothing else changes.
import { readFileSync, writeFileSync } from 'node:fs';
import process from 'node:process';
import Database from 'better-sqlite3';

const probe = new Database(':memory:');
const proto = Object.getPrototypeOf(probe.prepare('SELECT 1'));
probe.close();
const run = proto.run;
let rows = 0;
proto.run = function countedRun(...args) {
  const info = run.apply(this, args);
  rows += info.changes;
  return info;
};
process.on('exit', () => {
  const io = {};
  try {
    for (const line of readFileSync('/proc/self/io', 'utf8').split('\n')) {
      const [k, v] = line.split(':');
      if (k && v) io[k.trim()] = Number(v.trim());
    }
  } catch {
    // no /proc (not Linux): bytes are not reported
  }
  writeFileSync(process.env.SEALTRAIL_BENCH_IO, JSON.stringify({ rows, io }));
});
