import { Type, type Static } from '@sinclair/typebox';

/*
 * Profile counts between paired sites (PeerChannel topic `profiles`, design section 4.4): each
 * site tells its peers its *absolute* local counts of active calls per profile name and value,
 * never increments (a counter built from increments drifts, goes negative or doubles when a
 * site restarts; a list of absolute counts replaces what the receiver knew of its sender).
 *
 *   either → request {}                            "send me your full list now" (sent when a link opens)
 *   either → counts {boot, seq, counts, omitted}   the sender's whole local list: at once on a
 *                                                  request, when its counts change (at most one per
 *                                                  100 ms per peer), and every few seconds anyway
 *
 * The origin of a list is the link's peer (its pinned certificate), never a field of the message.
 * `(boot, seq)` orders a sender's lists: `boot` is the sender's start (its clock's milliseconds),
 * `seq` counts the lists it made since; the receiver keeps the list with the highest pair. A
 * list in answer to the receiver's request (or the first of a new link) from another `boot`
 * replaces the known one whatever its `boot`, so a clock set back across a restart does not
 * freeze a site's counts.
 */

export const PROFILES_TOPIC = 'profiles';

/**
 * Pairs one list carries at most. Past it the sender keeps the pairs with the highest counts
 * (the built-in `total` and `domain` pairs first) and says how many it left out (`omitted`):
 * a peer then counts none of the left-out pairs' calls of that site.
 */
export const MAX_PROFILE_PAIRS = 10_000;
/** a profile name: an `invite` event's (64 characters) or a built-in (`total`, `domain`) */
export const PROFILE_NAME_MAX = 64;
/** a profile value (an `invite` event's) */
export const PROFILE_VALUE_MAX = 256;
/** active calls one pair counts at most on one site (far above what one site holds) */
export const PROFILE_COUNT_MAX = 1_000_000_000;

export const ProfilePairCount = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: PROFILE_NAME_MAX }),
    value: Type.Union([Type.String({ maxLength: PROFILE_VALUE_MAX }), Type.Null()], { description: 'null: the calls of the profile that carry no value' }),
    count: Type.Integer({ minimum: 0, maximum: PROFILE_COUNT_MAX, description: 'active calls (and reservations) of the pair on the sending site' }),
  },
  { additionalProperties: false },
);
export type ProfilePairCount = Static<typeof ProfilePairCount>;

export const ProfileRequestMessage = Type.Object({ topic: Type.Literal(PROFILES_TOPIC), type: Type.Literal('request') }, { additionalProperties: false });
export type ProfileRequestMessage = Static<typeof ProfileRequestMessage>;

export const ProfileCountsMessage = Type.Object(
  {
    topic: Type.Literal(PROFILES_TOPIC),
    type: Type.Literal('counts'),
    boot: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'when the sender started (ms since the epoch, its clock)' }),
    seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'the list’s number among those the sender made since it started' }),
    counts: Type.Array(ProfilePairCount, { maxItems: MAX_PROFILE_PAIRS, description: 'every pair with a count above 0 on the sender; a pair not listed counts 0 there' }),
    omitted: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'pairs the sender left out past MAX_PROFILE_PAIRS' }),
  },
  { additionalProperties: false },
);
export type ProfileCountsMessage = Static<typeof ProfileCountsMessage>;

export const ProfileMessage = Type.Union([ProfileRequestMessage, ProfileCountsMessage]);
export type ProfileMessage = Static<typeof ProfileMessage>;
