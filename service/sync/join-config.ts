import type { RoleInstance, RolesConfig } from '../../shared/api/roles.js';
import { normalizeDomain } from '../config/domains.js';

/**
 * The configuration a joining site adopts (design section 7, "Joining"): the installation's
 * (the donor's) configuration, with the joining site's own instances added under its site. Pure.
 *
 * - Only the joining site's instances are taken from its own configuration (`site`, or no site,
 *   which means itself); the installation's are taken as they are.
 * - A name that the installation uses already (names are unique ignoring case) gets the joining
 *   site's short name appended (letters and digits of its name, else `s` + the first 8 hex digits
 *   of its id), then a number if that is taken too: instance names are letters and digits only.
 * - A group of the joining site whose roletype and domains equal those of an installation group
 *   joins that group as its standby: where its orders clash with the group's, they are placed
 *   after the group's highest order, so the installation's active instance stays active (two
 *   fresh appliances both have a default callstore and vmail group, each at order 1). Another group keeps its number when it is free, else takes the
 *   next free number.
 * - The joining site's interface aliases are kept under its site id; the installation's others stay.
 *
 * Adopting twice gives the same instances (the joining site's instances are found by their
 * site, and they no longer clash), so a join that is repeated after a crash changes nothing more.
 */
export function mergeJoiningConfig(installation: RolesConfig, own: RolesConfig, self: { id: string; name: string }): Omit<RolesConfig, 'revision'> {
  const instances: RoleInstance[] = installation.instances.filter((i) => (i.site ?? '') !== self.id).map((i) => structuredClone(i));
  const mine = own.instances.filter((i) => (i.site ?? self.id) === self.id);
  const names = new Set(instances.map((i) => i.name.toLowerCase()));
  const suffix = shortName(self);

  const groupTarget = new Map<number, { group: number; orderOffset: number }>();
  const usedGroups = new Set(instances.map((i) => i.group));
  for (const group of [...new Set(mine.map((i) => i.group))].sort((a, b) => a - b)) {
    const first = mine.find((i) => i.group === group) as RoleInstance;
    const signature = groupSignature(first);
    const same = instances.filter((i) => i.roletype === first.roletype && groupSignature(i) === signature);
    const target = same[0]?.group;
    if (target !== undefined && same.every((i) => i.group === target) && instances.filter((i) => i.group === target).every((i) => i.roletype === first.roletype)) {
      const taken = new Set(instances.filter((i) => i.group === target).map((i) => i.order));
      // orders that clash go after the group's highest, the whole group together (it keeps its own order);
      // orders that clash with none stay (so adopting again moves nothing)
      const clash = mine.some((i) => i.group === group && taken.has(i.order));
      groupTarget.set(group, { group: target, orderOffset: clash ? Math.max(...taken) : 0 });
      continue;
    }
    let number = group;
    while (usedGroups.has(number)) number++;
    usedGroups.add(number);
    groupTarget.set(group, { group: number, orderOffset: 0 });
  }

  for (const inst of mine) {
    const target = groupTarget.get(inst.group) as { group: number; orderOffset: number };
    let name = inst.name;
    if (names.has(name.toLowerCase())) {
      const base = `${inst.name}${suffix}`.slice(0, 60);
      name = base;
      for (let n = 2; names.has(name.toLowerCase()); n++) name = `${base}${n}`;
    }
    names.add(name.toLowerCase());
    instances.push({ ...structuredClone(inst), name, site: self.id, group: target.group, order: inst.order + target.orderOffset });
  }

  const aliases = { ...(structuredClone(installation.ifaceAliases) ?? {}) };
  delete aliases[self.id];
  const ownAliases = own.ifaceAliases?.[self.id];
  if (ownAliases && Object.keys(ownAliases).length) aliases[self.id] = structuredClone(ownAliases);
  return Object.keys(aliases).length || installation.ifaceAliases ? { instances, ifaceAliases: aliases } : { instances };
}

/** What is appended to a clashing instance name: the site's name in letters and digits, or its id's first digits. */
export function shortName(self: { id: string; name: string }): string {
  const letters = self.name.replace(/[^A-Za-z0-9]/g, '').slice(0, 16);
  return letters || `s${self.id.slice(0, 8)}`;
}

function groupSignature(i: RoleInstance): string {
  return [...new Set((i.include_domains ?? []).map((d) => normalizeDomain(d)))].sort().join(',');
}
