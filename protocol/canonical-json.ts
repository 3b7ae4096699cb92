import { ok, type FedistillIssue, type Result } from './errors.js';

/**
 * Canonical JSON after RFC 8785 (JCS), so that the bytes of an audit leaf can be rebuilt by any
 * implementation from the parsed entry:
 *
 * - objects: keys sorted by their UTF-16 code units (RFC 8785 3.2.3, JavaScript's default
 *   sort), no whitespace, no duplicate keys (a parsed object has none);
 * - strings: JSON.stringify's escaping, which is RFC 8785 3.2.2.2's (\b \t \n \f \r \" \\, other
 *   controls as lower-case \u00xx, everything else literal);
 * - numbers: ECMAScript's shortest round-trip form (Number.prototype.toString), as RFC 8785
 *   3.2.2.3 requires; -0 is written 0;
 * - null, true, false, arrays.
 *
 * Refused, with the path to the value, rather than dropped or coerced the way JSON.stringify
 * does: NaN and infinities, undefined (also as an object member or array hole), functions,
 * symbols and symbol keys, bigints, objects that are not plain (Date, Map, class instances,
 * typed arrays), strings with a lone surrogate (not I-JSON, RFC 7493), cycles, and nesting
 * deeper than MAX_JSON_DEPTH. The caller encodes the result as UTF-8.
 */

/** Deeper input is refused rather than allowed to exhaust the stack (an implementation limit). */
export const MAX_JSON_DEPTH = 64;

type Path = (string | number)[];

const LONE_SURROGATE = /\p{Surrogate}/u;

export function canonicalJson(value: unknown): Result<string> {
  const out: string[] = [];
  const issue = write(value, [], new Set(), out);
  return issue === undefined ? ok(out.join('')) : { ok: false, error: issue };
}

function refuse(path: Path, what: string): FedistillIssue {
  return {
    code: 'json.unencodable',
    message: `canonical JSON cannot hold ${what}`,
    path: [...path],
  };
}

// Each writer appends to `out` and returns the first issue met, or undefined.
type Written = FedistillIssue | undefined;

function write(value: unknown, path: Path, open: Set<object>, out: string[]): Written {
  switch (typeof value) {
    case 'string':
      if (LONE_SURROGATE.test(value)) return refuse(path, 'a string with a lone surrogate');
      out.push(JSON.stringify(value));
      return undefined;
    case 'number':
      if (!Number.isFinite(value)) return refuse(path, `the number ${value}`);
      out.push(JSON.stringify(value));
      return undefined;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return undefined;
    case 'object':
      if (value === null) {
        out.push('null');
        return undefined;
      }
      return writeContainer(value, path, open, out);
    default:
      // undefined, function, symbol, bigint: JSON has none of them.
      return refuse(path, `a ${typeof value}`);
  }
}

function writeContainer(value: object, path: Path, open: Set<object>, out: string[]): Written {
  if (path.length >= MAX_JSON_DEPTH) return refuse(path, `nesting deeper than ${MAX_JSON_DEPTH}`);
  if (open.has(value)) return refuse(path, 'a cycle');
  open.add(value);
  const issue = Array.isArray(value)
    ? writeArray(value, path, open, out)
    : writeObject(value, path, open, out);
  open.delete(value);
  return issue;
}

function writeArray(
  value: readonly unknown[],
  path: Path,
  open: Set<object>,
  out: string[],
): Written {
  out.push('[');
  for (let i = 0; i < value.length; i += 1) {
    if (!(i in value)) return refuse([...path, i], 'an array hole');
    if (i > 0) out.push(',');
    const issue = write(value[i], [...path, i], open, out);
    if (issue !== undefined) return issue;
  }
  out.push(']');
  return undefined;
}

function writeObject(value: object, path: Path, open: Set<object>, out: string[]): Written {
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) {
    return refuse(path, `a ${value.constructor?.name ?? 'non-plain'} object`);
  }
  if (Object.getOwnPropertySymbols(value).length > 0) return refuse(path, 'a symbol key');
  const record = value as Record<string, unknown>;
  out.push('{');
  for (const [i, key] of Object.keys(record).sort().entries()) {
    if (LONE_SURROGATE.test(key)) return refuse([...path, key], 'a key with a lone surrogate');
    if (i > 0) out.push(',');
    out.push(JSON.stringify(key), ':');
    const issue = write(record[key], [...path, key], open, out);
    if (issue !== undefined) return issue;
  }
  out.push('}');
  return undefined;
}
