/**
 * How one setting's value is read from its environment string, and how it
 * is documented ({@link Setting}): the parsers the table of settings
 * (`settings.ts`) is built from. A value that cannot be taken is refused
 * ({@link refuse}) with what is expected; `config.ts` turns that into one
 * line naming the variable.
 *
 * @module
 */
/** Thrown by a setting's `parse` for a value it cannot take. */
export class Refusal {
  constructor(readonly message: string) {}
}

/**
 * Refuses the value being parsed: `message` says what is expected, and
 * `config.ts` `parseConfig` puts it after the variable's name and value.
 */
export function refuse(message: string): never {
  throw new Refusal(message);
}
/** One setting: how it is parsed and how it is documented. */
export interface Setting<Key extends string = string, Value = unknown> {
  /** The property of `Config` (`settings.ts`) it fills. */
  readonly key: Key;
  /**
   * Parses the environment string (undefined when unset or empty; never
   * with spaces around it) into the value; calls {@link refuse} with what is
   * expected when it cannot. Runs inside `config.ts` `envSchema`, the one
   * zod schema of the environment.
   */
  readonly parse: (value: string | undefined) => Value;
  /** The default as the README writes it. */
  readonly default: string;
  readonly unit: string;
  /** Allowed values, as the README and error messages write them. */
  readonly range: string;
  /** What it does, for the README table. */
  readonly description: string;
  /** For limits: what a client sees when it hits it (`/limits` lists these). */
  readonly breach?: string;
}

/** A decimal integer: digits only, no sign, point or exponent. */
const DIGITS = /^\d+$/;

/** A decimal integer within a range. */
export function integer<Key extends string>(
  key: Key,
  about: {
    min: number;
    max: number;
    default: number;
    unit: string;
    description: string;
    breach?: string;
    /** True when 0 switches the setting off. */
    zeroIsOff?: boolean;
  },
): Setting<Key, number> {
  const { min, max, default: fallback } = about;
  const range = `${min}-${max}`;
  return {
    key,
    parse(value) {
      if (value === undefined) return fallback;
      const number = Number(value);
      if (DIGITS.test(value) && number >= min && number <= max) return number;
      return refuse(`expected an integer ${range}`);
    },
    default: String(fallback),
    unit: about.unit,
    range: about.zeroIsOff ? `${range} (0 = off)` : range,
    description: about.description,
    ...(about.breach === undefined ? {} : { breach: about.breach }),
  };
}

/**
 * A file path; whether it can be read is checked when the server starts (an
 * empty value is unset, see `config.ts` `envSchema`).
 */
export function filePath<Key extends string>(
  key: Key,
  description: string,
): Setting<Key, string | undefined> {
  return {
    key,
    parse: (value) => value,
    default: "unset",
    unit: "PEM file",
    range: "a readable file",
    description,
  };
}

/** `TRUST_PROXY`: a count of proxies, with the old `true`/`false` kept as 1/0. */
export function trustedProxies(value: string | undefined): number {
  const text = value?.toLowerCase();
  if (text === undefined || text === "false") return 0;
  if (text === "true") return 1;
  if (/^\d{1,2}$/.test(text) && Number(text) <= 10) return Number(text);
  return refuse(
    "expected the number of proxies in front of the service, 0-10 (true = 1, false = 0)",
  );
}

/** `ALLOWED_ORIGINS`: `*`, or a comma-separated list of origins. */
export function origins(value: string | undefined): "*" | string[] {
  if (value === undefined || value === "*") return "*";
  const list = value.split(",").map((entry) => entry.trim()).filter(Boolean);
  for (const entry of list) {
    // A browser's Origin header never ends in "/", so a pasted URL would
    // match no page: say so rather than the generic form below.
    const bare = entry.match(/^(https?:\/\/[^/\s]+)\/\S*$/);
    if (bare) {
      return refuse(
        `expected origins without a path or trailing slash (an Origin header has none), got "${entry}": use "${
          bare[1]
        }"`,
      );
    }
    if (!/^https?:\/\/[^/\s]+$/.test(entry)) {
      return refuse(
        `expected "*" or a comma-separated list of origins like https://example.com, got "${entry}"`,
      );
    }
  }
  return list;
}

/** An IP address or host name to listen on; unset means both IPv6 and IPv4. */
export function bindAddress(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const address = value.replace(/^\[|\]$/g, "");
  if (/^[0-9A-Za-z.:%_-]+$/.test(address)) return address;
  return refuse("expected an IP address or host name such as 127.0.0.1 or ::");
}

/** A yes-or-no setting; unset is no. */
export function onOff(value: string | undefined): boolean {
  if (value === undefined || value === "false" || value === "0") return false;
  if (value === "true" || value === "1") return true;
  return refuse("expected true or false (or 1 or 0)");
}

/** `LOG_FORMAT`: text lines or JSON lines; unset is text. */
export function logFormat(value: string | undefined): "text" | "json" {
  if (value === undefined || value === "text" || value === "json") {
    return value ?? "text";
  }
  return refuse("expected text or json");
}
/** A Redis server's URL: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. */
export function redisUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (URL.canParse(value) && /^rediss?:\/\/[^/?#]/.test(value)) return value;
  return refuse(
    "expected a URL such as redis://127.0.0.1:6379 or rediss://user:password@host:6380",
  );
}
