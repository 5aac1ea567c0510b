/**
 * Prometheus text exposition (format 0.0.4), written by hand: a few counters and one histogram
 * do not justify a metrics library. Label values are escaped as the format requires.
 */

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labels(pairs: Record<string, string>): string {
  const body = Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',');
  return body === '' ? '' : `{${body}}`;
}

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

export class Metrics {
  private readonly requests = new Map<string, { route: string; method: string; status: string; n: number }>();
  private readonly latency = new Map<string, { route: string; method: string; h: Histogram }>();
  private readonly verifies = new Map<string, number>();
  appends = 0;

  observeRequest(route: string, method: string, status: number, seconds: number): void {
    const key = `${method} ${route} ${status}`;
    const r = this.requests.get(key) ?? { route, method, status: String(status), n: 0 };
    r.n += 1;
    this.requests.set(key, r);
    const lkey = `${method} ${route}`;
    const l = this.latency.get(lkey) ?? { route, method, h: { counts: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 } };
    LATENCY_BUCKETS.forEach((le, i) => {
      if (seconds <= le) l.h.counts[i]! += 1;
    });
    l.h.sum += seconds;
    l.h.count += 1;
    this.latency.set(lkey, l);
  }

  observeVerify(ok: boolean): void {
    const result = ok ? 'ok' : 'failed';
    this.verifies.set(result, (this.verifies.get(result) ?? 0) + 1);
  }

  /** The exposition, with gauges read at scrape time. */
  render(gauges: { ledgerSize: number; openAlerts: number; sequencerLag: number }): string {
    const out: string[] = [];
    out.push('# HELP sealtrail_http_requests_total HTTP requests answered, by route template, method and status.');
    out.push('# TYPE sealtrail_http_requests_total counter');
    for (const r of this.requests.values()) out.push(`sealtrail_http_requests_total${labels({ route: r.route, method: r.method, status: r.status })} ${r.n}`);
    out.push('# HELP sealtrail_http_request_duration_seconds Time to answer, by route template and method.');
    out.push('# TYPE sealtrail_http_request_duration_seconds histogram');
    for (const l of this.latency.values()) {
      const base = { route: l.route, method: l.method };
      LATENCY_BUCKETS.forEach((le, i) => out.push(`sealtrail_http_request_duration_seconds_bucket${labels({ ...base, le: String(le) })} ${l.h.counts[i]}`));
      out.push(`sealtrail_http_request_duration_seconds_bucket${labels({ ...base, le: '+Inf' })} ${l.h.count}`);
      out.push(`sealtrail_http_request_duration_seconds_sum${labels(base)} ${l.h.sum}`);
      out.push(`sealtrail_http_request_duration_seconds_count${labels(base)} ${l.h.count}`);
    }
    out.push('# HELP sealtrail_appends_total Events this server appended (new entries, not idempotent repeats).');
    out.push('# TYPE sealtrail_appends_total counter');
    out.push(`sealtrail_appends_total ${this.appends}`);
    out.push('# HELP sealtrail_verify_runs_total Verifications run through POST /api/verify, by result.');
    out.push('# TYPE sealtrail_verify_runs_total counter');
    for (const result of ['ok', 'failed']) out.push(`sealtrail_verify_runs_total${labels({ result })} ${this.verifies.get(result) ?? 0}`);
    out.push('# HELP sealtrail_ledger_size Entries in the ledger.');
    out.push('# TYPE sealtrail_ledger_size gauge');
    out.push(`sealtrail_ledger_size ${gauges.ledgerSize}`);
    out.push('# HELP sealtrail_open_alerts Alerts recorded in audit_alerts.');
    out.push('# TYPE sealtrail_open_alerts gauge');
    out.push(`sealtrail_open_alerts ${gauges.openAlerts}`);
    out.push('# HELP sealtrail_sequencer_lag Captured rows waiting in the outbox to be chained (PostgreSQL capture; 0 elsewhere).');
    out.push('# TYPE sealtrail_sequencer_lag gauge');
    out.push(`sealtrail_sequencer_lag ${gauges.sequencerLag}`);
    return `${out.join('\n')}\n`;
  }
}
