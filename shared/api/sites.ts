import { Type, type Static } from '@sinclair/typebox';

/** A site id: the SHA-256 fingerprint of the site's certificate, 64 lowercase hex digits. */
export const SiteId = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 fingerprint of the site certificate, lowercase hex' });

export const PeerState = Type.Union([Type.Literal('connected'), Type.Literal('unreachable'), Type.Literal('refused')], {
  description: 'connected: the link is up; unreachable: no link now (both sides keep dialing); refused: one side refused the other (unpaired, or a certificate that is not the pinned one)',
});
export type PeerState = Static<typeof PeerState>;

export const SelfSite = Type.Object({
  id: SiteId,
  name: Type.String(),
  publicUrl: Type.String({ description: 'the address peers are given for this site (SITECALL_PUBLIC_URL)' }),
});
export type SelfSite = Static<typeof SelfSite>;

export const PeerSite = Type.Object({
  id: SiteId,
  name: Type.String(),
  url: Type.String({ description: 'where this site dials the peer: the address entered when this site joined it, or the one the peer advertised (empty when that was not a wss:// address; then only the peer dials)' }),
  joined: Type.Boolean({ description: 'true when this site entered the code (it joined the peer), false when the peer joined this site' }),
  state: PeerState,
  rttMs: Type.Union([Type.Number(), Type.Null()], { description: 'round-trip time of the last heartbeat, while connected' }),
  lastError: Type.Union([Type.String(), Type.Null()]),
  pairedAt: Type.String({ format: 'date-time' }),
  connectedSince: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lag: Type.Object(
    {
      entries: Type.Union([Type.Integer(), Type.Null()]),
      ms: Type.Union([Type.Number(), Type.Null()]),
    },
    { description: 'replication lag towards this peer; null until replication reports it' },
  ),
  join: Type.Union(
    [
      Type.Object({
        state: Type.Union([Type.Literal('joining'), Type.Literal('synced')], { description: 'joining: this site is adopting the installation or copying what the peer held when the join began; synced: it holds all of it' }),
        copied: Type.Integer({ description: 'entries of the join’s target this site holds now' }),
        total: Type.Union([Type.Integer(), Type.Null()], { description: 'entries the peer held (of other origins than this site) when the join began; null until the adoption is done' }),
      }),
      Type.Null(),
    ],
    { description: 'on the site that joined (`joined`): its join of the peer’s installation; null on the site that was joined' },
  ),
});
export type PeerSite = Static<typeof PeerSite>;

/** The answer to pairing (POST /api/v1/sites): the new peer, and what joining its installation changed here. */
export const PairedSite = Type.Object({
  ...PeerSite.properties,
  adoption: Type.Object(
    {
      state: Type.Union([Type.Literal('adopted'), Type.Literal('pending')], { description: 'adopted: this site now has the installation’s users, tokens and configuration; pending: the link did not come up in time, it adopts them when it does' }),
      replacedUsers: Type.Array(Type.String(), { description: 'users of this site that now have the installation’s password and scopes: their sessions on this site ended' }),
      sessionEnded: Type.Boolean({ description: 'true when the session that sent this request was one of them: log in again with the installation’s password' }),
      message: Type.String(),
    },
    { description: 'this site uses the installation’s users from now on' },
  ),
});
export type PairedSite = Static<typeof PairedSite>;

export const SitesList = Type.Object({ self: SelfSite, peers: Type.Array(PeerSite) });
export type SitesList = Static<typeof SitesList>;

export const PairingCode = Type.Object({
  code: Type.String({ description: 'the one-time code, XXXX-XXXX (8 characters of Crockford base32, 40 bits); shown once' }),
  expiresAt: Type.String({ format: 'date-time' }),
  tries: Type.Integer({ description: 'wrong tries allowed before the code is void' }),
  url: Type.String({ description: 'the address to enter on the other site with the code (this site’s public URL)' }),
});
export type PairingCode = Static<typeof PairingCode>;

export const PairRequest = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048, description: 'the other site’s peer address, wss://HOST[:PORT]' }),
    code: Type.String({ minLength: 1, maxLength: 32, description: 'the code the other site shows' }),
  },
  { additionalProperties: false },
);
export type PairRequest = Static<typeof PairRequest>;

export const SiteParams = Type.Object({ id: SiteId }, { additionalProperties: false });
