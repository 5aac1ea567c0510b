/**
 * C2SP tlog-cosignature v1, Ed25519 flavour (signature type 0x04): a witness's timestamped
 * statement that a checkpoint is the largest consistent one it has seen for that log.
 *
 *   key ID          = SHA-256(name ‖ 0x0A ‖ 0x04 ‖ 32-byte public key)[:4]
 *   signed message  = "cosignature/v1\ntime " decimal(t) "\n" ‖ checkpoint note text
 *   line payload    = u32be key ID ‖ u64be t ‖ 64-byte Ed25519 signature
 *
 * CosignatureVerifier satisfies note.ts's SignatureVerifier, so a cosigned checkpoint opens with
 * openNote(note, [logVerifier, witnessVerifier, ...]) and verifiedBy tells which of them signed.
 */
import { SealtrailError } from './errors.js';
import { KeySigner, KeyVerifier, SIGNATURE_TYPE_COSIGNATURE_V1, formatKeyId, generateKeyStrings } from './note-key.js';
import { parseSignatureLine, signatureLine } from './note.js';

const MAX_TIMESTAMP = 2n ** 63n - 1n;

export function generateCosignerKey(name: string): { signerKey: string; verifierKey: string } {
  return generateKeyStrings(name, SIGNATURE_TYPE_COSIGNATURE_V1);
}

/** The bytes a cosigner signs for `checkpointBody` (the note text, ending in newline) at time t. */
export function cosignedMessage(checkpointBody: string, timeSeconds: number | bigint): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${BigInt(timeSeconds)}\n${checkpointBody}`, 'utf8');
}

/** A witness's cosigning key (signature type 0x04): signs a checkpoint body at a time. */
export class CosignatureSigner extends KeySigner {
  private constructor(signerKey: string) {
    super(SIGNATURE_TYPE_COSIGNATURE_V1, 'CosignatureSigner', signerKey);
  }

  static fromKey(signerKey: string): CosignatureSigner {
    return new CosignatureSigner(signerKey);
  }

  /** timestamp ‖ signature: the signature-line payload after the key ID. */
  sign(checkpointBody: string, timeSeconds: number | bigint): Buffer {
    const time = checkTimestamp(timeSeconds);
    const out = Buffer.alloc(8 + 64);
    out.writeBigUInt64BE(time, 0);
    out.set(this.signBytes(cosignedMessage(checkpointBody, time)), 8);
    return out;
  }
}

/** A witness's trusted public key (signature type 0x04). */
export class CosignatureVerifier extends KeyVerifier {
  private constructor(verifierKey: string) {
    super(SIGNATURE_TYPE_COSIGNATURE_V1, verifierKey);
  }

  static fromKey(verifierKey: string): CosignatureVerifier {
    return new CosignatureVerifier(verifierKey);
  }

  /** `signature` is timestamp ‖ Ed25519 signature, as it follows the key ID in a signature line. */
  verify(message: Uint8Array, signature: Uint8Array): boolean {
    if (signature.length !== 8 + 64) return false;
    const time = Buffer.from(signature.buffer, signature.byteOffset, 8).readBigUInt64BE(0);
    if (time > MAX_TIMESTAMP) return false;
    return this.verifyBytes(Buffer.concat([cosignedMessage('', time), message]), signature.subarray(8));
  }
}

/** The note signature line ("— name base64(...)\n") cosigning `checkpointBody` at timeSeconds. */
export function cosign(checkpointBody: string, signer: CosignatureSigner, timeSeconds: number | bigint): string {
  return signatureLine(signer.name, signer.keyId, signer.sign(checkpointBody, timeSeconds));
}

/**
 * Checks one cosignature line against `checkpointBody`; returns its timestamp (seconds).
 * Throws invalid_note if the line is malformed, invalid_signature if it is not a valid
 * cosignature by `verifier`.
 */
export function verifyCosignature(
  checkpointBody: string,
  line: string,
  verifier: CosignatureVerifier,
): { timeSeconds: bigint } {
  const sig = parseSignatureLine(line.endsWith('\n') ? line.slice(0, -1) : line);
  if (sig.name !== verifier.name || sig.keyId !== verifier.keyId) {
    throw new SealtrailError('invalid_signature', `line is not a cosignature by ${verifier.name}`, {
      details: { name: sig.name, keyId: formatKeyId(sig.keyId) },
    });
  }
  if (!verifier.verify(Buffer.from(checkpointBody, 'utf8'), sig.signature)) {
    throw new SealtrailError('invalid_signature', `cosignature by ${verifier.name} does not verify`, {
      details: { name: sig.name, keyId: formatKeyId(sig.keyId) },
    });
  }
  return { timeSeconds: sig.signature.readBigUInt64BE(0) };
}

function checkTimestamp(timeSeconds: number | bigint): bigint {
  const ok = typeof timeSeconds === 'bigint' || Number.isSafeInteger(timeSeconds);
  const time = ok ? BigInt(timeSeconds) : -1n;
  if (time < 0n || time > MAX_TIMESTAMP) {
    throw new SealtrailError('invalid_argument', 'cosignature time must be an integer in [0, 2^63-1] seconds', {
      details: { timeSeconds: String(timeSeconds) },
    });
  }
  return time;
}
