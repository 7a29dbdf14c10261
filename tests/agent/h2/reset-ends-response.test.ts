// resetEndsResponse / announcedLength (agent/h2/reset-ends-response.ts) as tables. The rows
// follow RFC 9113 (§7 error codes: only NO_ERROR is not an error; §8.1 a response is complete at
// its end) and the content-length rule of RFC 9110 §8.6; the whole path against node:http2 is in
// h2-stream-attempt.test.ts.
import t from 'tap';
import { announcedLength, resetEndsResponse } from '../../../agent/h2/reset-ends-response.ts';

const NO_ERROR = 0x0;
const PROTOCOL_ERROR = 0x1;
const INTERNAL_ERROR = 0x2;
const REFUSED_STREAM = 0x7;
const CANCEL = 0x8;

t.test('which RST_STREAM ends a response', async (t) => {
  const rows: Array<[string, number, boolean, number, number, boolean]> = [
    ['NO_ERROR after the head, no content-length', NO_ERROR, true, -1, 5000, true],
    ['NO_ERROR after the head, no body at all', NO_ERROR, true, -1, 0, true],
    ['NO_ERROR after the head, the whole content-length', NO_ERROR, true, 5000, 5000, true],
    ['NO_ERROR after the head, content-length 0 and no body', NO_ERROR, true, 0, 0, true],
    ['NO_ERROR short of the content-length: a cut body', NO_ERROR, true, 5000, 4999, false],
    ['NO_ERROR before any head: no response', NO_ERROR, false, -1, 0, false],
    ['CANCEL after the head', CANCEL, true, -1, 5000, false],
    ['INTERNAL_ERROR with the whole content-length', INTERNAL_ERROR, true, 10, 10, false],
    ['PROTOCOL_ERROR after the head', PROTOCOL_ERROR, true, -1, 1, false],
    ['REFUSED_STREAM before the head', REFUSED_STREAM, false, -1, 0, false],
  ];
  for (const [what, code, responded, cl, received, want] of rows) t.equal(resetEndsResponse(code, responded, cl, received), want, what);
});

t.test('a head\'s content-length', async (t) => {
  const rows: Array<[string | string[] | undefined, number]> = [
    [undefined, -1],
    ['0', 0],
    ['48', 48],
    ['00012', 12],
    ['50331648', 50331648],
    ['', -1],
    ['-1', -1],
    ['1.5', -1],
    ['12 ', -1],
    ['1e3', -1],
    ['0x10', -1],
    ['12, 12', -1],
    [['12'], -1],
    ['9999999999999999', -1],
  ];
  for (const [v, want] of rows) t.equal(announcedLength(v), want, JSON.stringify(v));
});
