/**
 * The public API is what package.json `exports` promises: each subpath, imported by name from the
 * BUILT package (Node's self-reference), has the names docs/api.md lists, and its types file exists.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers/databases.js';

const root = fileURLToPath(new URL('..', import.meta.url));

const PROMISED: Record<string, string[]> = {
  sealtrail: [
    'openLedger', 'Ledger', 'headToJson', 'DEFAULT_MAX_PAYLOAD_BYTES', 'parseTrustedState', 'REDACTION_EVENT_KIND',
    'formatProofBundle', 'checkProofBundle', 'scanTargets', 'SealtrailError', 'ERROR_CATALOGUE', 'isSealtrailError', 'errorCodes',
  ],
  'sealtrail/formats': [
    'canonicalize', 'canonicalizePayload', 'parseJson', 'eventHash', 'canonicalHash', 'chainHash', 'GENESIS_HASH',
    'leafHash', 'nodeHash', 'merkleRoot', 'EMPTY_ROOT', 'inclusionProof', 'consistencyProof', 'verifyInclusion', 'verifyConsistency',
    'CompactRange', 'ledgerLeafData', 'ledgerLeafHash', 'generateSignerKey', 'NoteSigner', 'NoteVerifier', 'signNote', 'openNote', 'parseNote',
    'formatCheckpoint', 'parseCheckpoint', 'signCheckpoint', 'openCheckpoint', 'openLogCheckpoint', 'checkOrigin', 'CHAIN_HASH_EXTENSION',
    'CosignatureSigner', 'CosignatureVerifier', 'cosign', 'verifyCosignature', 'generateCosignerKey',
    'formatTlogProof', 'parseTlogProof', 'verifyTlogProof', 'isoFromMicros', 'microsFromIso',
    'tilePath', 'entriesPath', 'parseTilePath', 'encodeTile', 'decodeTile', 'encodeEntryBundle', 'decodeEntryBundle', 'TileBuilder',
    'rootFromTiles', 'inclusionProofFromTiles', 'tilesForProof', 'changedTiles', 'edgeTiles', 'allTiles', 'TILE_WIDTH',
    'encodeRowKey', 'decodeRowKey', 'versionKey', 'parseVersionKey', 'SealtrailError', 'ERROR_CATALOGUE', 'isSealtrailError',
  ],
  'sealtrail/capture': [
    'installCapture', 'watchTable', 'watchTables', 'unwatchTable', 'listWatched', 'runSequencer', 'drainOutbox', 'backfill',
    'scanCapture', 'captureScanTargets', 'createAuditLog', 'READ_ONLY_ROLE', 'SEALTRAIL_TABLES', 'SEQUENCER_LOCK_KEY', 'canonicalRow', 'canonicalRowAndPk',
  ],
  'sealtrail/anchor': [
    'SIGNING_KEY_ENV', 'loadSigners', 'loadCosigner', 'readKeyFile', 'writeKeyFile', 'installAnchoring', 'raiseAlert', 'listAlerts',
    'alertKey', 'deliverAlerts', 'validateAlertTable', 'ALERT_EVENT_KIND', 'issueCheckpoint', 'publishPending', 'checkpointCosignatures',
    'verifyAgainstSinks', 'CHECKPOINTS_TABLE', 'recomputeStates', 'verifyCheckpointsTable', 'parseWitnessKey', 'witnessVerifiersFor',
    'Witness', 'startWitnessServer', 'runMonitor', 'runMonitorCycle', 'readMonitorState', 'writeMonitorState', 'openSink', 'GIT_SINK_FILE', 'exportTiles',
  ],
  'sealtrail/tasks': ['TaskAuditService', 'TaskArtifactService', 'TaskRunnerAuditor', 'REF_TYPES', 'taskScanTargets', 'captureGitChanges'],
  'sealtrail/pipeline': [
    'PipelineRecorder', 'PayloadStore', 'pipelineScanTargets', 'sweepRun', 'SWEEP_QUERIES', 'explain', 'lineageEntries', 'exportRunJsonl', 'openLineageEvents',
    'postOpenLineage', 'stableHash', 'errorHash', 'canonicalText', 'checkRecord', 'OUTCOMES', 'OUTCOME_REQUIRED', 'STATE_RULES', 'CANONICAL_VERSION',
    'PIPELINE_TABLES',
  ],
};

describe('package exports', () => {
  let pkg = '';
  let exported: Record<string, string[]> = {};

  before(() => {
    // Build into a scratch copy of the package (the checkout's dist/ is left alone), then import
    // every subpath by the package's own name from a script inside it.
    pkg = tempDir('sealtrail-pkg-');
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist'), '--sourceMap', 'false'], { cwd: root, stdio: 'pipe' });
    copyFileSync(join(root, 'package.json'), join(pkg, 'package.json'));
    symlinkSync(realpathSync(join(root, 'node_modules')), join(pkg, 'node_modules'), 'dir');
    const script = join(pkg, 'probe.mjs');
    writeFileSync(
      script,
      `const out = {};\nfor (const name of ${JSON.stringify(Object.keys(PROMISED))}) out[name] = Object.keys(await import(name)).sort();\nprocess.stdout.write(JSON.stringify(out));\n`,
    );
    exported = JSON.parse(execFileSync(process.execPath, [script], { cwd: pkg, encoding: 'utf8' })) as Record<string, string[]>;
  });

  for (const [subpath, names] of Object.entries(PROMISED)) {
    it(`${subpath} exports what docs/api.md lists, with types`, () => {
      const got = new Set(exported[subpath]);
      assert.deepEqual(names.filter((n) => !got.has(n)), [], `${subpath} is missing names it promises`);
      const entry = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; default: string }> };
      const spec = entry.exports[subpath === 'sealtrail' ? '.' : `./${subpath.slice('sealtrail/'.length)}`];
      assert.ok(spec, `package.json exports has ${subpath}`);
      assert.ok(existsSync(join(pkg, spec.types)), `${spec.types} is built`);
      assert.ok(existsSync(join(pkg, spec.default)), `${spec.default} is built`);
    });
  }

  it('the ledger entry no longer re-exports core internals', () => {
    const ledgerNames = new Set(exported['sealtrail']);
    for (const internal of ['leafHash', 'CompactRange', 'NoteSigner', 'installCapture', 'TaskAuditService']) {
      assert.ok(!ledgerNames.has(internal), `'sealtrail' should not export ${internal}`);
    }
  });
});
