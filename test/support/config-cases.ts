/** Instances and the rule cases of design section 3, shared by the validator's unit tests and the API tests. */
export const cs = (over: Record<string, unknown> = {}) => ({ name: 'callstore1', roletype: 'callstore', iface: 'lo', group: 1, order: 1, include_domains: [], ...over });
export const vm = (over: Record<string, unknown> = {}) => ({ name: 'vmail1', roletype: 'vmail', iface: 'lo', group: 2, order: 1, include_domains: [], ...over });

/**
 * [what, instances, expected error as "path: message", interface aliases?]. Messages naming the
 * site (office) and its interfaces (lo, eth0) assume the unit tests' context; the API tests
 * compare the path only for those.
 */
export const RULE_CASES: [string, unknown[], string, unknown?][] = [
  ['a name that starts with a digit', [cs({ name: '1callstore' })], '/instances/0/name: must match pattern "^[A-Za-z][A-Za-z0-9]*$"'],
  ['a name with a dash', [cs({ name: 'call-store' })], '/instances/0/name: must match pattern "^[A-Za-z][A-Za-z0-9]*$"'],
  ['an unknown roletype', [cs({ roletype: 'pbx' })], '/instances/0/roletype: must be one of "callstore", "vmail"'],
  ['a group of 0', [cs({ group: 0 })], '/instances/0/group: must be >= 1'],
  ['a group above 9999999', [cs({ group: 10000000 })], '/instances/0/group: must be <= 9999999'],
  ['a fractional order', [cs({ order: 1.5 })], '/instances/0/order: must be integer'],
  ['ext that is a string', [cs({ ext: 'x' })], '/instances/0/ext: must be object'],
  ['a misspelt key', [cs({ include_domain: ['a.com'] })], '/instances/0/include_domain: is not a known field'],
  ['a missing iface', [{ name: 'c', roletype: 'callstore', group: 1, order: 1 }], '/instances/0/iface: is required'],
  ['a wrong cdr_mode', [cs({ cdr_mode: 'some' })], '/instances/0/cdr_mode: must be one of "all", "flagged", "off"'],
  ['a wrong state_save', [cs({ state_save: 'sync' })], '/instances/0/state_save: must be one of "none", "async", "transactional"'],
  ['cdr_mode on vmail', [vm({ cdr_mode: 'all' })], '/instances/0/cdr_mode: applies only to callstore instances, not to vmail'],
  ['state_save on vmail', [vm({ state_save: 'none' })], '/instances/0/state_save: applies only to callstore instances, not to vmail'],
  ['cdr_aggregation on vmail', [vm({ cdr_aggregation: false })], '/instances/0/cdr_aggregation: applies only to callstore instances, not to vmail'],
  ['a duplicate name', [cs(), cs({ name: 'CallStore1', group: 3 })], '/instances/1/name: "CallStore1" is already the name of /instances/0; names are unique (ignoring case)'],
  ['an unknown interface', [cs({ iface: 'wlan9' })], '/instances/0/iface: "wlan9" is neither an interface of site office nor an alias it defines (known: lo, eth0)'],
  ['an interface of another site', [cs({ iface: 'ens3' })], '/instances/0/iface: "ens3" is neither an interface of site office nor an alias it defines (known: lo, eth0)'],
  ['an unknown site', [cs({ site: 'site-z' })], '/instances/0/site: "site-z" is not a paired site'],
  ['two roletypes in one group', [cs(), vm({ group: 1, order: 2 })], '/instances/1/roletype: group 1 is a callstore group (/instances/0); all instances of a group have one roletype'],
  ['two domain sets in one group', [cs({ include_domains: ['a.com'] }), cs({ name: 'cs2', order: 2, include_domains: ['b.com'] })], '/instances/1/include_domains: differs from the include_domains of /instances/0 in group 1; all instances of a group serve the same domains'],
  ['a duplicate order in a group', [cs(), cs({ name: 'cs2' })], '/instances/1/order: 1 is already the order of /instances/0 in group 1; orders are unique in a group'],
  ['a domain in two groups', [cs({ include_domains: ['a.com'] }), cs({ name: 'cs2', group: 2, include_domains: ['b.com', 'A.com.'] }), cs({ name: 'cs3', group: 3 })], '/instances/1/include_domains/1: "a.com" is already served by callstore group 1 (/instances/0/include_domains/0); a domain belongs to one group'],
  ['two default groups', [cs(), cs({ name: 'cs2', group: 5 })], '/instances/1/include_domains: is empty, so group 5 would be a second default callstore group beside group 1; give one of them the domains it serves'],
  ['a domain with an empty label', [cs({ include_domains: ['a..com'] })], '/instances/0/include_domains/0: "a..com" has an empty label (two dots in a row, or a leading dot)'],
  ['a domain with a bad label', [cs({ include_domains: ['-a.com'] })], '/instances/0/include_domains/0: "-a.com" has an invalid label "-a": letters, digits and inner hyphens only'],
  ['a domain label over 63', [cs({ include_domains: [`${'a'.repeat(64)}.com`] })], `/instances/0/include_domains/0: "${'a'.repeat(64)}.com" has a label longer than 63 characters ("aaaaaaaaaaaaaaaaaaaa…")`],
  ['an empty domain', [cs({ include_domains: ['.'] })], '/instances/0/include_domains/0: "." is empty'],
  ['a bad resync_timeout', [cs({ ext: { resync_timeout: -1 } })], '/instances/0/ext/resync_timeout: must be a number of seconds greater than 0'],
  ['a call_timeout longer than a timer holds', [cs({ ext: { call_timeout: 1e10 } })], '/instances/0/ext/call_timeout: must be at most 2147483 seconds (24 days)'],
  ['a retention of 1e300 days', [cs({ ext: { raw_event_retention_days: 1e300 } })], '/instances/0/ext/raw_event_retention_days: must be at most 3660 days'],
  ['a sync_timeout of 0', [cs({ ext: { sync_timeout: 0 } })], '/instances/0/ext/sync_timeout: must be a number of seconds greater than 0'],
  ['a remote_profile_ttl given as text', [cs({ ext: { remote_profile_ttl: '30' } })], '/instances/0/ext/remote_profile_ttl: must be a number of seconds greater than 0'],
  ['a reject_until_synced that is not a boolean', [cs({ ext: { reject_until_synced: 'yes' } })], '/instances/0/ext/reject_until_synced: must be true or false'],
  ['a bad resync_unknown', [cs({ ext: { resync_unknown: 'drop' } })], '/instances/0/ext/resync_unknown: must be "reconstruct" or "refuse"'],
  ['an alias to a missing interface', [cs()], '/ifaceAliases/site-a/internal: names eth7, which is not an interface of site office (lo, eth0)', { 'site-a': { internal: 'eth7' } }],
  ['aliases of an unknown site', [cs()], '/ifaceAliases/site-q: is not a paired site', { 'site-q': {} }],
];
