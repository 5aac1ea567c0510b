/** The one redaction rule: every URL in a text loses its password, lone user name, later path segments, query values and fragment. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import '../helpers/replay.js';
import { redact } from '../../src/core/redact.js';

describe('redact', () => {
  const cases: Array<[string, string]> = [
    ['postgres://sealtrail:hunter2@db.example:5432/prod', 'postgres://sealtrail:***@db.example:5432/prod'],
    ['postgres://db.example/prod?sslmode=require&password=hunter2', 'postgres://db.example/prod?sslmode=***&password=***'],
    ['webhook:https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXX', 'webhook:https://hooks.slack.com/services/…'],
    ['webhook:https://hooks.example/x?token=abc123', 'webhook:https://hooks.example/x?token=***'],
    ['witness:https://ghp_abcdefghijklmnop@witness.example', 'witness:https://***@witness.example'],
    ['https://api.example/0123456789abcdef0123/hook', 'https://api.example/***/…'],
    ['https://api.example/a1b2c3d4e5', 'https://api.example/***'],
    ['http://127.0.0.1:7380', 'http://127.0.0.1:7380'],
    ['http://127.0.0.1:7380/hook', 'http://127.0.0.1:7380/hook'],
    ['https://h.example/x#secret', 'https://h.example/x#***'],
    ['file:/srv/checkpoints.jsonl', 'file:/srv/checkpoints.jsonl'],
    ['git:/srv/anchor-repo', 'git:/srv/anchor-repo'],
    ["fatal: unable to access 'https://x:tok3n@git.example/org/repo.git/': 403", "fatal: unable to access 'https://x:***@git.example/org/…': 403"],
  ];
  for (const [input, shown] of cases) {
    it(`shows ${JSON.stringify(input)} as ${JSON.stringify(shown)}`, () => assert.equal(redact(input), shown));
  }

  it('never shows a query value, a password or anything past the first path segment', () => {
    const secret = fc.stringMatching(/^[A-Za-z0-9_-]{6,40}$/).map((s) => `S3cr${s}`);
    fc.assert(
      fc.property(secret, secret, secret, fc.constantFrom('', '/hooks', '/services/T1'), (password, pathToken, queryToken, prefix) => {
        const url = `https://user:${password}@h.example${prefix}/${pathToken}?token=${queryToken}&x=1`;
        const shown = redact(`webhook:${url}`);
        for (const s of [password, pathToken, queryToken]) assert.ok(!shown.includes(s), `${shown} shows ${s}`);
        assert.ok(shown.startsWith('webhook:https://user:***@h.example'));
      }),
      { seed: 11, numRuns: 200 },
    );
  });
});
