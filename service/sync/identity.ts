import 'reflect-metadata';
import { createHash, createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { StartupError } from '../errors.js';

/** The files of a site's identity in its data directory: the key is owner-only (0600). */
export const SITE_KEY_FILE = 'site-key.pem';
export const SITE_CERT_FILE = 'site-cert.pem';

/**
 * A site's TLS identity (design section 7): an ECDSA P-256 key pair and a self-signed certificate
 * made at first start. The site id is the SHA-256 fingerprint of the certificate's DER bytes in
 * one canonical text form: 64 lowercase hex digits, no separators (`siteIdOf`). It fits the
 * `site` field of role instances (64 characters) and is what a peer pins.
 */
export interface SiteCertificate {
  id: string;
  certPem: string;
  keyPem: string;
}

/** The canonical site id of a certificate (PEM or DER). */
export function siteIdOf(cert: string | Buffer): string {
  const der = typeof cert === 'string' ? new X509Certificate(cert).raw : cert;
  return createHash('sha256').update(der).digest('hex');
}

/** Node's `fingerprint256` ("AB:CD:...") in the canonical form. */
export function siteIdFromFingerprint256(fingerprint: string): string {
  return fingerprint.replaceAll(':', '').toLowerCase();
}

/** A site id shown to people: groups of eight, as Syncthing shows device ids in groups. */
export function displaySiteId(id: string): string {
  return (id.match(/.{1,8}/g) ?? []).join('-').toUpperCase();
}

/**
 * Loads the site's certificate and key, making them on first start. The key is written first and
 * the certificate last, each to a temporary file made durable and renamed into place: a certificate
 * on disk means the pair is whole; a key without one (a crash in between) is made again.
 */
export async function loadOrCreateSiteCertificate(dataDir: string): Promise<SiteCertificate & { created: boolean }> {
  const keyFile = join(dataDir, SITE_KEY_FILE);
  const certFile = join(dataDir, SITE_CERT_FILE);
  if (existsSync(certFile)) {
    if (!existsSync(keyFile)) throw new StartupError(`The site certificate ${certFile} has no key beside it (${SITE_KEY_FILE}): restore the key from a backup; a new key would be a new site that its peers no longer trust.`);
    const certPem = readFileSync(certFile, 'utf8');
    const keyPem = readFileSync(keyFile, 'utf8');
    try {
      const cert = new X509Certificate(certPem);
      if (!cert.checkPrivateKey(createPrivateKey(keyPem))) throw new Error('the key does not belong to the certificate');
      return { id: siteIdOf(cert.raw), certPem, keyPem, created: false };
    } catch (err) {
      throw new StartupError(`The site certificate ${certFile} or its key cannot be used: ${(err as Error).message}. Restore both from a backup.`);
    }
  }
  const { certPem, keyPem } = await makeSelfSignedCertificate();
  writeDurably(keyFile, keyPem, 0o600);
  writeDurably(certFile, certPem, 0o644);
  return { id: siteIdOf(certPem), certPem, keyPem, created: true };
}

/** A new P-256 key pair and a self-signed certificate for it (valid a hundred years: it is pinned, never checked against a clock by a CA). */
export async function makeSelfSignedCertificate(commonName = 'Sitecall site'): Promise<{ certPem: string; keyPem: string }> {
  const crypto = webcrypto;
  // The library types its provider as the DOM's Crypto, which Node's webcrypto is at run time.
  const provider = crypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1];
  x509.cryptoProvider.set(provider as never);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const notBefore = new Date(Date.now() - 24 * 60 * 60_000);
  const notAfter = new Date(notBefore.getTime() + 100 * 365 * 24 * 60 * 60_000);
  // No key-usage extension: OpenSSL then accepts the self-signed certificate as its own trust anchor (the pin).
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
      name: `CN=${commonName}`,
      notBefore,
      notAfter,
      signingAlgorithm: algorithm,
      keys: keys as never,
    },
    provider,
  );
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${(pkcs8.toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END PRIVATE KEY-----\n`;
  return { certPem: cert.toString('pem') + '\n', keyPem };
}

function writeDurably(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
