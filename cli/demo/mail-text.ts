import { TextDecoder } from 'node:util';

/**
 * The most characters of an email that are kept: the mail student's tokenizer reads 128 to 256
 * tokens, which 2,000 characters more than cover; the rest would only weigh on the bundled file.
 */
export const MAIL_TEXT_CHARS = 2_000;

/** An email, or one part of a MIME multipart: headers by lower-case name (the first of each). */
interface MimeEntity {
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

/** What a raw email reads as: `decoded` is false when no text part was found and the raw body is kept. */
export interface ReadableMail {
  readonly text: string;
  readonly decoded: boolean;
}

function parseEntity(raw: string): MimeEntity {
  // A part that opens with a blank line has no headers.
  const end = raw.startsWith('\n') ? 0 : raw.indexOf('\n\n');
  const head = end < 0 ? raw : raw.slice(0, end);
  const body = end < 0 ? '' : raw.slice(end === 0 ? 1 : end + 2);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const field = /^([!-9;-~]+):(.*)$/.exec(line);
    if (!field) continue;
    const name = field[1]!.toLowerCase();
    if (!headers.has(name)) headers.set(name, field[2]!.trim());
  }
  return { headers, body };
}

function headerParameter(value: string, name: string): string | undefined {
  const match = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(value);
  return match ? (match[1] ?? match[2]) : undefined;
}

/** Bytes in the part's declared charset; a charset the runtime does not know reads as Latin-1. */
function decodeBytes(bytes: Uint8Array, charset: string): string {
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset);
  } catch {
    decoder = new TextDecoder('latin1');
  }
  return decoder.decode(bytes);
}

/** Each run of =XX escapes is decoded as a whole, so multi-byte characters come out whole. */
function decodeQuotedPrintable(text: string, charset: string): string {
  return text
    .replace(/=\n/g, '')
    .replace(/(?:=[0-9A-Fa-f]{2})+/g, (run) =>
      decodeBytes(Buffer.from(run.replace(/=/g, ''), 'hex'), charset),
    );
}

/** RFC 2047 encoded words, as in `=?iso-8859-1?Q?Caf=E9?=`; the space between two of them goes. */
function decodeEncodedWords(value: string): string {
  return value
    .replace(/\?=\s+(?==\?)/g, '?=')
    .replace(
      /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g,
      (_, charset: string, coding: string, text: string) =>
        coding.toUpperCase() === 'B'
          ? decodeBytes(Buffer.from(text, 'base64'), charset)
          : decodeQuotedPrintable(text.replace(/_/g, ' '), charset),
    );
}

function decodeBody({ headers, body }: MimeEntity): string {
  const charset = headerParameter(headers.get('content-type') ?? '', 'charset') ?? 'us-ascii';
  switch (headers.get('content-transfer-encoding')?.toLowerCase()) {
    case 'base64':
      return decodeBytes(Buffer.from(body.replace(/\s+/g, ''), 'base64'), charset);
    case 'quoted-printable':
      return decodeQuotedPrintable(body, charset);
    default:
      // 7-bit text (its UTF-8 as long as it is) still needs its charset: ISO-2022-JP writes
      // Japanese in ASCII bytes. 8-bit text arrives already decoded, as the package stores it.
      return Buffer.byteLength(body) === body.length
        ? decodeBytes(Buffer.from(body, 'latin1'), charset)
        : body;
  }
}

/** Comments go without a trace (spam hides words with them); tags become spaces. */
function stripHtml(html: string): string {
  return html
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/gi, ' ')
    .replace(/&lt;/gi, '<')
    .replace(/&gt;/gi, '>')
    .replace(/&quot;/gi, '"')
    .replace(/&amp;/gi, '&');
}

/** The bodies of a multipart's parts: what lies between its boundary lines. */
function multipartBodies(body: string, boundary: string): string[] {
  const parts: string[] = [];
  let current: string[] | undefined;
  for (const line of body.split('\n')) {
    const trimmed = line.trimEnd();
    if (trimmed === `--${boundary}` || trimmed === `--${boundary}--`) {
      if (current) parts.push(current.join('\n'));
      if (trimmed.endsWith(`${boundary}--`)) return parts;
      current = [];
    } else {
      current?.push(line);
    }
  }
  // A multipart cut short still gives its last part.
  if (current) parts.push(current.join('\n'));
  return parts;
}

/** Collects the decoded text/plain parts and the stripped text/html parts, in order. */
function collectText(entity: MimeEntity, plain: string[], html: string[]): void {
  const contentType = entity.headers.get('content-type') ?? 'text/plain';
  const mediaType = contentType.trim().split(/[;\s]/)[0]!.toLowerCase();
  if (mediaType.startsWith('multipart/')) {
    const boundary = headerParameter(contentType, 'boundary');
    if (boundary === undefined) return;
    for (const part of multipartBodies(entity.body, boundary)) {
      collectText(parseEntity(part), plain, html);
    }
  } else if (mediaType === 'message/rfc822') {
    collectText(parseEntity(entity.body), plain, html);
  } else if (mediaType === 'text/plain') {
    plain.push(decodeBody(entity));
  } else if (mediaType === 'text/html') {
    html.push(stripHtml(decodeBody(entity)));
  }
}

/** A cut that would split a surrogate pair cuts before it. */
function cap(text: string): string {
  if (text.length <= MAIL_TEXT_CHARS) return text;
  const last = text.charCodeAt(MAIL_TEXT_CHARS - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? MAIL_TEXT_CHARS - 1 : MAIL_TEXT_CHARS);
}

const collapse = (text: string): string => text.replace(/\s+/g, ' ').trim();

/**
 * The Subject line, a blank line, then the body as a reader sees it: text/plain parts (text/html
 * with its tags stripped where there is none), decoded from quoted-printable or base64, with runs
 * of whitespace collapsed and the whole cut at MAIL_TEXT_CHARS. Other headers are dropped.
 */
export function readableMail(raw: string): ReadableMail {
  const email = parseEntity(raw.replace(/\r\n/g, '\n'));
  const plain: string[] = [];
  const html: string[] = [];
  collectText(email, plain, html);
  const decoded = plain.length > 0 || html.length > 0;
  const body = decoded ? (plain.length > 0 ? plain : html).join('\n') : email.body;
  const subject = decodeEncodedWords(email.headers.get('subject') ?? '');
  return { text: cap(`${collapse(subject)}\n\n${collapse(body)}`), decoded };
}
