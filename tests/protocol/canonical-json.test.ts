import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_JSON_DEPTH, canonicalJson, unwrap } from '../../protocol/index.js';

const canonical = (value: unknown) => unwrap(canonicalJson(value));

/** The expected output of each case, written as escapes so the test file stays ASCII. */
const CASES: [label: string, input: string, output: string][] = [
  // RFC 8785 3.2.2 and the JCS reference suite (cyberphone/json-canonicalization testdata).
  [
    'values',
    String.raw`{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}`,
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
      '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
  ],
  [
    'key order by UTF-16 code units',
    String.raw`{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\u000a": "Newline", "1": "One",
      "\u0080": "Control\u007f", "\ud83d\ude02": "Smiley", "\u00f6": "Latin Small Letter O With Diaeresis",
      "\ufb33": "Hebrew Letter Dalet With Dagesh", "</script>": "Browser Challenge"}`,
    '{"\\n":"Newline","\\r":"Carriage Return","1":"One","</script>":"Browser Challenge",' +
      '"\u0080":"Control\u007f","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",' +
      '"\ud83d\ude02":"Smiley","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  ],
  [
    'nested structures',
    '{"1": {"f": {"f": "hi","F": 5} ,"\\n": 56.0}, "10": { }, "": "empty", "a": { },' +
      ' "111": [ {"e": "yes","E": "no" } ], "A": { }}',
    '{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{"E":"no","e":"yes"}],"A":{},"a":{}}',
  ],
  ['arrays', '[56, {"d": true, "10": null, "1": [ ]}]', '[56,{"1":[],"10":null,"d":true}]'],
  [
    'locale is ignored',
    '{"peach": "1", "p\\u00e9ch\\u00e9": "2", "p\\u00eache": "3", "sin": "4"}',
    '{"peach":"1","p\u00e9ch\u00e9":"2","p\u00eache":"3","sin":"4"}',
  ],
  ['no Unicode normalisation', '{"u": "A\\u030a"}', '{"u":"A\u030a"}'],
  ['U+2028 and DEL stay literal', '["\\u2028\\u007f\\u001f"]', '["\u2028\u007f\\u001f"]'],
];

// RFC 8785 appendix B: IEEE 754 bit patterns and their ECMAScript serialisation.
const NUMBERS: [bits: string, text: string][] = [
  ['0000000000000000', '0'],
  ['8000000000000000', '0'],
  ['0000000000000001', '5e-324'],
  ['8000000000000001', '-5e-324'],
  ['7fefffffffffffff', '1.7976931348623157e+308'],
  ['ffefffffffffffff', '-1.7976931348623157e+308'],
  ['4340000000000000', '9007199254740992'],
  ['c340000000000000', '-9007199254740992'],
  ['4430000000000000', '295147905179352830000'],
  ['44b52d02c7e14af5', '9.999999999999997e+22'],
  ['44b52d02c7e14af6', '1e+23'],
  ['44b52d02c7e14af7', '1.0000000000000001e+23'],
  ['444b1ae4d6e2ef4e', '999999999999999700000'],
  ['444b1ae4d6e2ef4f', '999999999999999900000'],
  ['444b1ae4d6e2ef50', '1e+21'],
  ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
  ['3eb0c6f7a0b5ed8d', '0.000001'],
  ['41b3de4355555553', '333333333.3333332'],
  ['41b3de4355555554', '333333333.33333325'],
  ['41b3de4355555555', '333333333.3333333'],
  ['41b3de4355555556', '333333333.3333334'],
  ['41b3de4355555557', '333333333.33333343'],
  ['becbf647612f3696', '-0.0000033333333333333333'],
  ['43143ff3c1cb0959', '1424953923781206.2'],
];

describe('canonical JSON (RFC 8785)', () => {
  for (const [label, input, output] of CASES) {
    it(`writes the reference form: ${label}`, () => {
      assert.equal(canonical(JSON.parse(input)), output);
    });
  }

  it('writes numbers in their shortest round-trip form', () => {
    for (const [bits, text] of NUMBERS) {
      assert.equal(canonical(Buffer.from(bits, 'hex').readDoubleBE(0)), text, bits);
    }
    assert.equal(
      canonical([-0, 0.1, 1e21, 1e-7, 100, 0.30000000000000004]),
      '[0,0.1,1e+21,1e-7,100,0.30000000000000004]',
    );
  });

  it('gives the same bytes whatever order the keys were written in', () => {
    const a = {
      seq: 1,
      event: { kind: 'ROUND_START', round: 3, actor: { id: 'ab', kind: 'site' } },
    };
    const b = {
      event: { actor: { kind: 'site', id: 'ab' }, round: 3, kind: 'ROUND_START' },
      seq: 1,
    };
    assert.equal(canonical(a), canonical(b));
    assert.equal(
      canonical(a),
      '{"event":{"actor":{"id":"ab","kind":"site"},"kind":"ROUND_START","round":3},"seq":1}',
    );
  });

  it('refuses what JSON cannot hold, naming where it is, without throwing', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = { back: cyclic };
    let deep: unknown = 1;
    for (let i = 0; i <= MAX_JSON_DEPTH; i += 1) deep = [deep];
    const refused: [string, unknown, (string | number)[]][] = [
      ['NaN', { x: [1, Number.NaN] }, ['x', 1]],
      ['Infinity', { x: Number.POSITIVE_INFINITY }, ['x']],
      ['-Infinity', -Infinity, []],
      ['undefined member', { a: 1, b: undefined }, ['b']],
      ['undefined element', [undefined], [0]],
      // eslint-disable-next-line no-sparse-arrays
      ['array hole', [1, , 3], [1]],
      ['function', { f: () => 1 }, ['f']],
      ['toJSON is not honoured', { t: { toJSON: () => 'x' } }, ['t', 'toJSON']],
      ['symbol', Symbol('s'), []],
      ['symbol key', { [Symbol('s')]: 1 }, []],
      ['bigint', { n: 1n }, ['n']],
      ['Date', { when: new Date(0) }, ['when']],
      ['Map', new Map(), []],
      ['typed array', { b: new Uint8Array(2) }, ['b']],
      ['lone surrogate', { s: 'a\ud800' }, ['s']],
      ['lone surrogate key', { '\udc00': 1 }, ['\udc00']],
      ['cycle', cyclic, ['self', 'back']],
    ];
    for (const [label, value, path] of refused) {
      const result = canonicalJson(value);
      assert.equal(result.ok, false, label);
      if (!result.ok) {
        assert.equal(result.error.code, 'json.unencodable', label);
        assert.deepEqual(result.error.path, path, label);
      }
    }
    const tooDeep = canonicalJson(deep);
    assert.equal(tooDeep.ok ? '' : tooDeep.error.code, 'json.unencodable');
    // A shared, acyclic reference is fine; only a value inside itself is a cycle.
    const shared = { k: 1 };
    assert.equal(canonical({ a: shared, b: shared }), '{"a":{"k":1},"b":{"k":1}}');
  });

  it('accepts a prototype-less object and a __proto__ key from JSON.parse', () => {
    const bare = Object.assign(Object.create(null) as object, { b: 1, a: 2 });
    assert.equal(canonical(bare), '{"a":2,"b":1}');
    assert.equal(canonical(JSON.parse('{"__proto__": {"x": 1}}')), '{"__proto__":{"x":1}}');
  });
});
