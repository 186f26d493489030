/**
 * Profile counts across sites (design section 4.4), on real processes: two sites paired (B joined
 * A's installation), a TCP proxy under the test's control in front of each peer port. Each site
 * runs a callstore group of its own (A the default group, B the domain b.test), so a site's calls
 * are its own: what B counts of A is what A's lists say.
 *
 * - Calls on A are in A's list on B within moments (the change is sent, not the periodic list).
 * - The links cut: B keeps A's list for remote_profile_ttl, then drops it; healed, it is back.
 * - B restarts while the links are cut: it is not synced until A answered its request, and then
 *   it holds A's list.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { metric, PASSWORD, pairSites, remoteCalls, startCalls, synced } from '../support/profile-sites.js';
import { peerOf, restartSite, waitFor, type Stoppable } from '../support/sites.js';

const running: Stoppable[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop().catch(() => undefined);
});

describe('sites: profile counts', () => {
  it('calls on A are in A’s list on B within moments; a cut link keeps the list for remote_profile_ttl, then drops it; healed, it is back', async () => {
    const TTL_S = 2;
    const { a, b, token } = await pairSites(running, { remote_profile_ttl: TTL_S }, { split: true });
    expect(await remoteCalls(b, a)).toBe(0);

    const sentAt = Date.now();
    await startCalls(a, token, 'a.test', 3, 'a');
    await waitFor('A’s 3 calls on B', async () => ((await remoteCalls(b, a)) === 3 ? true : undefined), 10_000);
    const latencyMs = Date.now() - sentAt;
    console.log(`[profiles] 3 calls acknowledged by A were in A's list on B after ${latencyMs} ms`);
    // the change went as it happened (coalesced to 100 ms), not with the full list of every 2 s
    expect(latencyMs).toBeLessThan(1_500);
    // and B's own calls in B's list on A
    await startCalls(b, token, 'b.test', 2, 'b');
    await waitFor('B’s 2 calls on A', async () => ((await remoteCalls(a, b)) === 2 ? true : undefined), 10_000);

    // cut both ways (each site dials the other through the other's proxy)
    a.proxy.cut();
    b.proxy.cut();
    await waitFor('B sees A lost', async () => ((await peerOf(b, a.self.id))?.state !== 'connected' ? true : undefined), 10_000);
    const lostSeenAt = Date.now();
    // kept: the calls may well be up on A
    expect(await remoteCalls(b, a)).toBe(3);
    await waitFor('A’s list dropped on B', async () => ((await remoteCalls(b, a)) === undefined ? true : undefined), 15_000);
    const keptMs = Date.now() - lostSeenAt;
    console.log(`[profiles] A's list kept on B ${keptMs} ms after B saw the loss (remote_profile_ttl ${TTL_S} s)`);
    // the loss was seen after the link went (so the TTL counts from before lostSeenAt): a margin for the probes
    expect(keptMs).toBeGreaterThanOrEqual(TTL_S * 1000 - 600);
    expect(await metric(b, 'sitecall_profile_remote_lists_dropped_total')).toBe(1);
    // B's own calls are still B's
    expect((await apiClient(b.service.url, token).get('/api/v1/calls?limit=0')).body.total).toBe(2);

    a.proxy.heal();
    b.proxy.heal();
    await waitFor('A’s list back on B', async () => ((await remoteCalls(b, a)) === 3 ? true : undefined), 15_000);
    await waitFor('B’s list back on A', async () => ((await remoteCalls(a, b)) === 2 ? true : undefined), 15_000);
    await waitFor('B synced again', async () => ((await synced(b)) === 1 ? true : undefined), 10_000);
  }, 180_000);

  it('a site that restarts is not synced until its peer answered its request; then it holds the peer’s list', async () => {
    // a long sync_timeout: while the links are cut, B can only be synced by A's answer
    const { a, b, token } = await pairSites(running, { sync_timeout: 120 }, { split: true });
    await startCalls(a, token, 'a.test', 4, 'a');
    await waitFor('A’s 4 calls on B', async () => ((await remoteCalls(b, a)) === 4 ? true : undefined), 10_000);

    await b.service.stop({ keepData: true });
    a.proxy.cut();
    b.proxy.cut();
    await restartSite(running, b, PASSWORD);
    // B is up, paired with A, and cannot reach it: it waits for A's answer
    for (let i = 0; i < 5; i++) {
      expect(await synced(b)).toBe(0);
      expect(await remoteCalls(b, a)).toBeUndefined();
      await new Promise((r) => setTimeout(r, 200));
    }
    a.proxy.heal();
    b.proxy.heal();
    await waitFor('B synced', async () => ((await synced(b)) === 1 ? true : undefined), 20_000);
    // synced means A answered: its list is there (A counts the calls its sources brought in,
    // whatever the role of its instance while it catches up with B on the healed link)
    expect(await remoteCalls(b, a)).toBe(4);
    expect(await metric(b, 'sitecall_profile_messages_total', 'direction="received",type="counts"')).toBeGreaterThanOrEqual(1);
  }, 180_000);
});
