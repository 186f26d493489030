import type { Cdr } from '../../../shared/api/cdr.js';
import { canonicalJson } from '../changelog/core/merge.js';

/**
 * Which record of a call id a store keeps (design section 7, "Failure and heal"): the `cdr` kind
 * is replaced by id, and every store keeps the greatest version of an id by one total order, so
 * two sites holding the same versions hold the same record whatever order they came in.
 *
 * A call's id is the same on every site (the callRef of its first invited leg, else its callId),
 * so a call recorded on both sides of a cut, or by a site about to die and by the one taking
 * over, has several versions. The order, greatest first:
 * 1. the record built from more events: the rebuild from the union of a call's events (which
 *    holds every event any version holds) beats the partial records of each side;
 * 2. then the higher term (absent, on records from before terms: below every term): of two
 *    records of the same events, the one the active instance of the later term wrote;
 * 3. then the site's id, then the canonical JSON text of the whole record: a correct installation
 *    never writes two different records of one call in one term on one site with the same number
 *    of events, but if it did, every site still picks the same one.
 * Pure: the merge is the maximum of a total order, so it is commutative, associative and
 * idempotent (test/unit/cdr-winner.property.test.ts, also through the real store).
 */
export function compareRecords(a: Cdr, b: Cdr): number {
  return eventCount(a) - eventCount(b) || (a.term ?? -1) - (b.term ?? -1) || cmp(a.site, b.site) || cmp(canonicalJson(a), canonicalJson(b));
}

/** The record of the two that a store keeps (`a` when they are the same record). */
export function mergeRecords(a: Cdr, b: Cdr): Cdr {
  return compareRecords(b, a) > 0 ? b : a;
}

/** Whether `incoming` replaces `held` in a store. */
export function supersedes(incoming: Cdr, held: Cdr): boolean {
  return compareRecords(incoming, held) > 0;
}

/** The events a record was built from (distinct: a fold never lists one twice, but a record from elsewhere is not trusted to). */
export function eventCount(cdr: Pick<Cdr, 'eventIds'>): number {
  return Array.isArray(cdr.eventIds) ? new Set(cdr.eventIds).size : 0;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
