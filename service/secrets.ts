/**
 * What a secret is, and the one redaction every way out of the service applies: API answers, the
 * console's live feed, logs, configuration exports, and later backups and replication to a peer
 * that does not need the secret. Secrets are write-only (design section 6): they come in and are
 * stored as they are, and go out only as the mark REDACTED, which a client may send back to keep
 * the stored value (restoreSecrets).
 *
 * A secret is
 * - a value under a key that names one (isSecretKey), at any depth, in objects and in arrays: the
 *   strings and numbers below it are replaced, its shape (keys, lengths, booleans, nulls) stays;
 * - inside any text: the password of a URL (`scheme://user:password@host`), a Sitecall bearer
 *   token, an `Authorization` credential, and `name=value` or `"name": value` pairs whose name is a
 *   secret key (an error message quoting a URL or a request body).
 *
 * Pure and dependency-free, so that every layer may use it; the walks are bounded in depth (and, for
 * logs, in size) so that a hostile document cannot exhaust the stack or stall a log call.
 */

export const REDACTED = '********';

/** A key whose last word is one of these names a secret: `pass`, `smtpPassword`, `api_token`, `newPin`. */
const SECRET_LAST_WORDS = new Set(['pass', 'pwd', 'password', 'passwords', 'passwd', 'passphrase', 'secret', 'secrets', 'token', 'tokens', 'pin', 'credential', 'credentials', 'authorization', 'cookie']);
/** Words that make a key a secret wherever they stand in it: `secretAccessKey`, `password_plain`. */
const SECRET_WORDS = new Set(['password', 'passwd', 'passphrase', 'secret', 'credentials']);
/** Keys ending in two words that together name a secret: `apiKey`, `x-api-key`, `privateKey`. */
const SECRET_LAST_PAIRS = new Set(['api key', 'private key', 'access key', 'secret key', 'signing key', 'encryption key', 'session id']);

const keyCache = new Map<string, boolean>();
const KEY_CACHE_MAX = 10_000;

function wordsOf(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** Whether a value under this key is a secret: the key's words (camelCase, snake_case, kebab-case) decide. */
export function isSecretKey(key: string): boolean {
  const known = keyCache.get(key);
  if (known !== undefined) return known;
  const words = wordsOf(key.slice(0, 128));
  const last = words[words.length - 1] ?? '';
  const pair = words.slice(-2).join(' ');
  const secret = SECRET_LAST_WORDS.has(last) || SECRET_LAST_PAIRS.has(pair) || words.some((w) => SECRET_WORDS.has(w));
  // the keys of a hostile document must not grow the cache without bound
  if (keyCache.size < KEY_CACHE_MAX) keyCache.set(key, secret);
  return secret;
}

/*
 * The patterns are bounded (no unbounded repetition before a literal) so that scanning a long
 * string stays linear: a log line must never cost more than its length. Each rule runs only on a
 * string holding its tell-tale (a cheap `includes`): most strings, timestamps and SIP URIs among
 * them, are passed over without a regular expression.
 */
interface TextRule {
  tell: string[];
  pattern: RegExp;
  replace: (match: string, ...groups: string[]) => string;
}
const TEXT_RULES: TextRule[] = [
  // V8's JSON.parse message quotes the text around the error (`Unexpected token 'h', ..."sword":hunter2"... is not
  // valid JSON`), cut anywhere: a password in a request body, with its key's name cut off
  {
    tell: ['not valid JSON'],
    pattern: /\bUnexpected token '(?:[^'\\]|\\.){0,8}', (?:\.\.\.)?"[\s\S]{0,256}?"(?:\.\.\.)? is not valid JSON/g,
    replace: () => 'Unexpected token in JSON (the text around it is not repeated)',
  },
  // scheme://user:password@host
  { tell: ['://'], pattern: /\b([a-z][a-z0-9+.-]{0,31}:\/\/[^\s:/?#@]{0,256}):[^\s/?#@]{1,1024}@/gi, replace: (_m, head) => `${head}:${REDACTED}@` },
  // a Sitecall session or API token (service/auth/auth.ts prefixes), wherever it appears
  { tell: ['sct_', 'scs_'], pattern: /\b(sc[st]_)[A-Za-z0-9_-]{8,}/g, replace: (_m, prefix) => `${prefix}${REDACTED}` },
  // an Authorization credential
  { tell: ['Bearer', 'Basic'], pattern: /\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/-]{16,}=*/g, replace: (_m, scheme, space) => `${scheme}${space}${REDACTED}` },
  // name=value in a query string or a form body
  { tell: ['='], pattern: /(^|[?&;\s])([A-Za-z][\w.-]{0,63})=([^&\s#;"']{1,4096})/g, replace: (m, before, name) => (isSecretKey(name) ? `${before}${name}=${REDACTED}` : m) },
  // "name": "value" or "name": value, as in JSON (a request body quoted by a parser's message)
  {
    tell: ['"'],
    pattern: /"([A-Za-z][\w.-]{0,63})"(\s*:\s*)("(?:[^"\\]|\\.){0,4096}"|[^\s,}\]"]{1,4096})/g,
    replace: (m, name, colon) => (isSecretKey(name) ? `"${name}"${colon}"${REDACTED}"` : m),
  },
  // name: 'value', as util.inspect writes an object
  { tell: ["'"], pattern: /\b([A-Za-z][\w.-]{0,63})(\s*:\s*)'(?:[^'\\]|\\.){0,4096}'/g, replace: (m, name, colon) => (isSecretKey(name) ? `${name}${colon}'${REDACTED}'` : m) },
];

/** Any rule's tell-tale: one test passes over most strings. */
const ANY_TELL = /:\/\/|sc[st]_|Bearer|Basic|[="']|not valid JSON/;

/** The text with every secret in it replaced by the mark. */
export function redactText(text: string): string {
  if (!ANY_TELL.test(text)) return text;
  let out = text;
  for (const rule of TEXT_RULES) {
    if (rule.tell.some((t) => out.includes(t))) out = out.replace(rule.pattern, rule.replace as (m: string, ...g: unknown[]) => string);
  }
  return out;
}

interface WalkLimits {
  /** nesting beyond this is replaced by `deepMark` */
  maxDepth: number;
  /** values visited beyond this are replaced by `truncatedMark` */
  maxNodes: number;
  deepMark: string;
  truncatedMark: string;
  /** turns an Error into a plain object first (logs); left alone otherwise */
  error?: (err: Error) => object;
}

/** Documents (answers, the live feed, exports): deep enough for any configuration the edge accepts, never truncated. */
const DATA_LIMITS: WalkLimits = { maxDepth: 64, maxNodes: Number.POSITIVE_INFINITY, deepMark: REDACTED, truncatedMark: REDACTED };

/** Sets an own property, even one named `__proto__` (plain assignment would change the prototype). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

function isPlainContainer(value: object): boolean {
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === Object.prototype || proto === null;
}

/**
 * The redacted copy of a value. Copy-on-write: a part with nothing to redact is returned as it
 * is, so the common case (a log line, a call document without secrets) allocates nothing.
 */
function walk(value: unknown, secret: boolean, depth: number, limits: WalkLimits, budget: { nodes: number }, ancestors: object[]): unknown {
  if (--budget.nodes < 0) return limits.truncatedMark;
  switch (typeof value) {
    case 'string':
      if (secret && value.length > 0) return REDACTED;
      return redactText(value);
    case 'number':
    case 'bigint':
      return secret ? REDACTED : value;
    case 'object':
      break;
    default:
      return value;
  }
  if (value === null) return value;
  let obj = value as object;
  if (obj instanceof Error && limits.error) obj = limits.error(obj);
  else if (!isPlainContainer(obj)) {
    // Dates, Buffers and class instances with their own JSON form hold no keyed secret; others are walked as objects.
    if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') return value;
  }
  if (depth >= limits.maxDepth) return limits.deepMark;
  if (ancestors.includes(obj)) return '[Circular]';
  ancestors.push(obj);
  try {
    if (Array.isArray(obj)) {
      let copy: unknown[] | undefined;
      for (let i = 0; i < obj.length; i++) {
        if (budget.nodes <= 0) return [...(copy ?? obj).slice(0, i), limits.truncatedMark];
        const item: unknown = obj[i];
        const next = walk(item, secret, depth + 1, limits, budget, ancestors);
        if (next !== item) (copy ??= obj.slice())[i] = next;
      }
      return copy ?? obj;
    }
    const source = obj as Record<string, unknown>;
    const keys = Object.keys(source);
    let copy: Record<string, unknown> | undefined;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      if (budget.nodes <= 0) {
        const kept = Object.fromEntries(keys.slice(0, i).map((k) => [k, (copy ?? source)[k]]));
        return { ...kept, '…': limits.truncatedMark };
      }
      const item = source[key];
      const next = walk(item, secret || isSecretKey(key), depth + 1, limits, budget, ancestors);
      if (next !== item) setOwn((copy ??= { ...source }), key, next);
    }
    // an Error turned into a plain object is a new value even with nothing redacted
    return copy ?? (obj === value ? value : { ...source });
  } finally {
    ancestors.pop();
  }
}

/**
 * A document as it may leave the service: API answers, the live feed, exports, backups and
 * peers that do not need the secret. The shape stays (so a client can send it back); secret
 * strings and numbers become REDACTED, and so does anything nested deeper than any accepted
 * document (fail closed). The type is the caller's: only leaf values change.
 */
export function redactSecrets<T>(value: T): T {
  return walk(value, false, 0, DATA_LIMITS, { nodes: DATA_LIMITS.maxNodes }, []) as T;
}

/** Limits of a log line's object: a log call never walks more than this, whatever it is handed. */
export const LOG_LIMITS = { maxDepth: 10, maxNodes: 2_000 } as const;

/** The object of a log line, redacted, errors made plain by `error`; bounded by LOG_LIMITS. */
export function redactForLog<T extends object>(value: T, error: (err: Error) => object): T {
  const limits: WalkLimits = { ...LOG_LIMITS, deepMark: '[too deep]', truncatedMark: '[truncated]', error };
  return walk(value, false, 0, limits, { nodes: limits.maxNodes }, []) as T;
}

function pointer(path: readonly (string | number)[]): string {
  return path.map((p) => `/${String(p).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/**
 * Puts the stored secrets back into a document a client sends: wherever the sent value is what
 * the stored value at the same place is shown as (redactSecrets), the stored value is kept. So a
 * client that saves what it was shown changes nothing, and one that types a new secret sets it.
 * `unresolved` lists the places that still hold the mark (no stored secret matched there).
 * `atDepth`: how deep the two values sit in the document that was shown (the depth bound counts
 * from its root).
 */
export function restoreSecrets(sent: unknown, stored: unknown, atDepth = 0): { value: unknown; unresolved: string[] } {
  const unresolved: string[] = [];
  const budget = { nodes: DATA_LIMITS.maxNodes };
  const restore = (s: unknown, old: unknown, secret: boolean, depth: number, path: (string | number)[]): unknown => {
    if (typeof s === 'string') {
      if (!s.includes(REDACTED)) return s;
      if (old !== undefined && walk(old, secret, depth, DATA_LIMITS, budget, []) === s) return old;
      unresolved.push(pointer(path));
      return s;
    }
    if (typeof s !== 'object' || s === null || depth >= DATA_LIMITS.maxDepth) return s;
    if (Array.isArray(s)) {
      const oldList = Array.isArray(old) ? (old as unknown[]) : [];
      return s.map((item: unknown, i) => restore(item, oldList[i], secret, depth + 1, [...path, i]));
    }
    const oldObj = typeof old === 'object' && old !== null && !Array.isArray(old) ? (old as Record<string, unknown>) : {};
    return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, restore(v, Object.hasOwn(oldObj, k) ? oldObj[k] : undefined, secret || isSecretKey(k), depth + 1, [...path, k])]));
  };
  return { value: restore(sent, stored, false, atDepth, []), unresolved };
}
