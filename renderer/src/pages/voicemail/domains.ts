/**
 * The domains the domain picker offers. The API has no list of the domains that have mailboxes
 * (mailboxes are per domain, and the default vmail group serves any domain), so the picker offers
 * the domains the vmail groups name in `include_domains` (the configuration) and the domains this
 * browser opened before with mailboxes in them (localStorage), newest first.
 */
import { useEffect, useState } from 'react';
import { getRolesConfig } from '../../api/endpoints.js';

const KEY = 'sitecall.voicemail.domains';
const MAX_REMEMBERED = 20;

export function normalizeDomain(text: string): string {
  return text.trim().toLowerCase().replace(/\.$/, '');
}

/** The characters and label rules of a domain name, enough to catch a typo before asking. */
export function isDomainLike(text: string): boolean {
  return /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(text);
}

export function rememberedDomains(): string[] {
  try {
    const raw: unknown = JSON.parse(window.localStorage.getItem(KEY) ?? '[]');
    return Array.isArray(raw) ? raw.filter((d): d is string => typeof d === 'string' && isDomainLike(d)) : [];
  } catch {
    return [];
  }
}

export function rememberDomain(domain: string): void {
  try {
    const list = [domain, ...rememberedDomains().filter((d) => d !== domain)].slice(0, MAX_REMEMBERED);
    window.localStorage.setItem(KEY, JSON.stringify(list));
  } catch {
    // storage disabled: the picker offers the configured domains only
  }
}

export interface DomainChoices {
  /** remembered first (the last one opened), then configured */
  domains: string[];
  /** the configuration was read (or could not be: then only remembered domains) */
  ready: boolean;
}

export function useDomainChoices(): DomainChoices {
  const [configured, setConfigured] = useState<string[] | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    getRolesConfig(controller.signal).then(
      (config) => {
        const list = config.instances
          .filter((i) => i.roletype === 'vmail' && i.enabled !== false)
          .flatMap((i) => i.include_domains ?? [])
          .map(normalizeDomain)
          .filter(isDomainLike);
        setConfigured([...new Set(list)].sort());
      },
      () => {
        if (!controller.signal.aborted) setConfigured([]);
      },
    );
    return () => controller.abort();
  }, []);
  const remembered = rememberedDomains();
  return { domains: [...new Set([...remembered, ...(configured ?? [])])], ready: configured !== null };
}
