import { Type, type Static } from '@sinclair/typebox';

/** The id of a source, as its events carry it in `source`. */
export const SourceId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' });

export const SOURCE_STATES = ['connected', 'lost', 'resyncing'] as const;
export type SourceState = (typeof SOURCE_STATES)[number];

export const SourceInfo = Type.Object({
  id: Type.String(),
  transport: Type.Union([Type.Literal('websocket'), Type.Literal('http')]),
  state: Type.Union(SOURCE_STATES.map((s) => Type.Literal(s))),
  lastSeenAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lostAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastSyncAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  heartbeatIntervalMs: Type.Union([Type.Integer(), Type.Null()], { description: 'null: no heartbeats, so a loss over HTTP cannot be seen' }),
  syncRequested: Type.Boolean({ description: 'the callstore wants this source’s dialog list (POST .../sync)' }),
  activeCalls: Type.Integer(),
  eventsReceived: Type.Integer(),
  gaps: Type.Integer({ description: 'sequence numbers skipped so far' }),
});
export type SourceInfo = Static<typeof SourceInfo>;

export const SourceList = Type.Object({ items: Type.Array(SourceInfo) });

export const HeartbeatRequest = Type.Object(
  { intervalMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000, description: 'the source’s heartbeat period; lost after 3 missed. Default 5000' })) },
  { additionalProperties: false },
);
export const HeartbeatResponse = Type.Object({ state: Type.Union(SOURCE_STATES.map((s) => Type.Literal(s))), syncRequested: Type.Boolean() });

export const SyncDialog = Type.Object(
  {
    callId: Type.String({ minLength: 1, maxLength: 256 }),
    fromTag: Type.String({ maxLength: 128 }),
    toTag: Type.String({ maxLength: 128 }),
    state: Type.Union([Type.Literal('early'), Type.Literal('confirmed'), Type.Literal('terminating')]),
    from: Type.String({ minLength: 1, maxLength: 512 }),
    to: Type.String({ minLength: 1, maxLength: 512 }),
    domain: Type.String({ minLength: 1, maxLength: 253 }),
    answeredAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);
export type SyncDialog = Static<typeof SyncDialog>;

/** Documented limits of a dialog list (`POST /api/v1/sources/{id}/sync`). */
export const SYNC_LIMITS = {
  dialogs: 100_000,
  /** bytes of the body, after any Content-Encoding is undone */
  bodyBytes: 32 * 1024 * 1024,
  /** bytes of one NDJSON line (a dialog within the field limits is under 2 KiB) */
  lineBytes: 16 * 1024,
} as const;

export const SyncRequest = Type.Object({ dialogs: Type.Array(SyncDialog, { maxItems: SYNC_LIMITS.dialogs }) }, { additionalProperties: false });
export type SyncRequest = Static<typeof SyncRequest>;

export const SyncResult = Type.Object({
  kept: Type.Array(Type.String(), { description: 'known dialogs that stay, with those the callstore had ended itself (source lost, admin, timeout) and now takes back' }),
  reconstructed: Type.Array(Type.String(), { description: 'answered dialogs unknown here, now active calls' }),
  refused: Type.Array(Type.String(), { description: 'answered dialogs unknown here, not taken (resync_unknown: refuse)' }),
  terminated: Type.Array(Type.String(), { description: 'dialogs known here but missing from the list: ended, endReason resync_missing' }),
  dropped: Type.Array(Type.String(), { description: 'ignored: unknown early or terminating dialogs, and dialogs whose source already reported their end (the list predates it)' }),
});
export type SyncResult = Static<typeof SyncResult>;
