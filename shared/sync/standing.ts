import { Type, type Static } from '@sinclair/typebox';

/*
 * A site's standing, told to each paired peer over the link (PeerChannel topic `standing`), for
 * Active-Passive across sites (design section 7): whether it is synced (it holds what each of its
 * linked peers held when their link opened), and which event sources are connected to it (a
 * source's calls are ended for its loss only when no reachable site has it). Sent when the link
 * opens, at once when `synced` changes, and every second.
 */

export const STANDING_TOPIC = 'standing';

/** sources a site tells at most (a site's sources are its phone systems: a handful) */
export const MAX_STANDING_SOURCES = 10_000;

export const StandingMessage = Type.Object(
  {
    topic: Type.Literal(STANDING_TOPIC),
    type: Type.Literal('state'),
    synced: Type.Boolean({ description: 'the site holds what each linked peer held when their link opened' }),
    sources: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: MAX_STANDING_SOURCES, description: 'ids of the event sources connected to the site now' }),
  },
  { additionalProperties: false },
);
export type StandingMessage = Static<typeof StandingMessage>;

/**
 * The body of a `role_term` entry of the change log (key `roletype:group`): who took the group
 * over, in which term, when. Replicated to every site (no domain); merged last-writer-wins.
 */
export const RoleTermBody = Type.Object(
  {
    term: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    instance: Type.String({ minLength: 1, maxLength: 200 }),
    site: Type.String({ minLength: 1, maxLength: 128 }),
    since: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type RoleTermBody = Static<typeof RoleTermBody>;
