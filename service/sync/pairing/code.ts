import { randomBytes } from 'node:crypto';

/**
 * The one-time pairing code (design section 7): 8 characters of Crockford's base32 alphabet, which
 * has no I, L, O or U, so nothing reads as another character; 8 × 5 = 40 bits. Shown as
 * `XXXX-XXXX`; read back forgivingly (case, spaces, dashes, and O/I/L typed for 0/1/1).
 */
export const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const CODE_LENGTH = 8;
export const CODE_BITS = CODE_LENGTH * 5;

export function makePairingCode(random: (n: number) => Uint8Array = randomBytes): string {
  const bytes = random(CODE_BITS / 8);
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let code = '';
  for (let i = CODE_LENGTH - 1; i >= 0; i--) code += CODE_ALPHABET[Number((bits >> BigInt(i * 5)) & 31n)];
  return code;
}

export function displayPairingCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/** The canonical code typed in, or undefined when it cannot be one (wrong length, a character outside the alphabet). */
export function normalizePairingCode(input: string): string | undefined {
  const code = input
    .toUpperCase()
    .replace(/[\s-]/g, '')
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
  if (code.length !== CODE_LENGTH) return undefined;
  for (const c of code) if (!CODE_ALPHABET.includes(c)) return undefined;
  return code;
}
