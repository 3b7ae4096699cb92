import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAIL_TEXT_CHARS, readableMail } from '../../cli/demo/mail-text.js';

const email = (headers: string[], body: string): string => `${headers.join('\n')}\n\n${body}`;

describe('the readable text of an email', () => {
  it('is the subject, a blank line and the body, other headers dropped and whitespace collapsed', () => {
    const raw = email(
      [
        'From someone@example.org  Thu Aug 22 12:36:23 2002',
        'From: a@b',
        'Subject:  Lunch',
        '\tat noon',
      ],
      'Shall we\n\n   meet   at the\tusual place?\n',
    );
    assert.deepEqual(readableMail(raw), {
      text: 'Lunch at noon\n\nShall we meet at the usual place?',
      decoded: true,
    });
  });

  it('decodes quoted-printable in the declared charset, soft line breaks joined', () => {
    const raw = email(
      [
        'Subject: =?iso-8859-1?Q?Caf=E9?= =?utf-8?B?w6AgbGE=?= carte',
        'Content-Type: text/plain; charset="utf-8"',
        'Content-Transfer-Encoding: quoted-printable',
      ],
      'Cr=C3=A8me br=C3=BB=\nl=C3=A9e, 2 =3D 2\n',
    );
    assert.equal(readableMail(raw).text, 'Caféà la carte\n\nCrème brûlée, 2 = 2');
  });

  it('reads a 7-bit body in its charset: ISO-2022-JP is Japanese in ASCII bytes', () => {
    const raw = email(
      ['Subject: hi', 'Content-Type: text/plain; charset=iso-2022-jp'],
      '\x1b$B$3$s$K$A$O\x1b(B',
    );
    assert.equal(readableMail(raw).text, 'hi\n\n\u3053\u3093\u306b\u3061\u306f');
  });

  it('keeps the text/plain parts of a multipart and decodes base64 ones', () => {
    const raw = email(
      ['Subject: parts', 'Content-Type: multipart/mixed; boundary="XX"'],
      [
        'preamble',
        '--XX',
        'Content-Type: text/plain; charset=iso-8859-1',
        'Content-Transfer-Encoding: base64',
        '',
        Buffer.from('na\xefve', 'latin1').toString('base64'),
        '--XX',
        'Content-Type: text/html',
        '',
        '<p>html twin</p>',
        '--XX',
        'Content-Type: application/pdf',
        'Content-Transfer-Encoding: base64',
        '',
        'JVBERi0xLjQK',
        '--XX--',
        'epilogue',
      ].join('\n'),
    );
    assert.equal(readableMail(raw).text, 'parts\n\nnaïve');
  });

  it('falls back to text/html with tags and comments stripped and entities decoded', () => {
    const raw = email(
      ['Subject: offer', 'Content-Type: multipart/alternative; boundary=b1'],
      [
        '--b1',
        'Content-Type: text/html',
        '',
        '<html><style>p { color: red }</style><p>V<!-- x -->iagra &amp; more:</p>',
        '&lt;50%&gt;&nbsp;&quot;off&quot; &amp;lt;',
        '--b1--',
      ].join('\n'),
    );
    assert.equal(readableMail(raw).text, 'offer\n\nViagra & more: <50%> "off" &lt;');
  });

  it('keeps the raw body when no text part can be found', () => {
    const body = '--other\nContent-Type: text/plain\n\nhello\n--other--';
    const raw = email(['Subject: lost', 'Content-Type: multipart/mixed; boundary="missing"'], body);
    assert.deepEqual(readableMail(raw), {
      text: 'lost\n\n--other Content-Type: text/plain hello --other--',
      decoded: false,
    });
  });

  it(`is cut at ${MAIL_TEXT_CHARS} characters, never inside a surrogate pair`, () => {
    const long = readableMail(email(['Subject: s'], 'x'.repeat(3 * MAIL_TEXT_CHARS)));
    assert.equal(long.text.length, MAIL_TEXT_CHARS);
    // 's\n\n' then x's up to one before the cut, where an emoji's first half would fall.
    const emoji = readableMail(
      email(['Subject: s'], `${'x'.repeat(MAIL_TEXT_CHARS - 4)}\u{1f600}tail`),
    );
    assert.equal(emoji.text.length, MAIL_TEXT_CHARS - 1);
    assert.ok(emoji.text.endsWith('x'));
  });
});
