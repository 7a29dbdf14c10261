// RFC 9113 §5.2 / §6.9 on the receive side with manual flow control (how H2Session and
// outbound-h2.ts run the codec), at several stream windows — the pod sessions' 4 MiB among them:
// a peer that sends exactly as much as the windows it was given allow (padding included), to a
// reader that consumes in uneven pieces, is given back credit for every octet: its own count of
// its windows (from the WINDOW_UPDATE frames the connection wrote, the oracle) never exceeds what
// was announced nor 2^31-1, and is never short by more than half a window once all is consumed.
// Via harness.ts (a fake byte sink: the exact frames are the point).
import t from 'tap';
import { FrameType, MAX_WINDOW } from '../../../agent/h2/constants.ts';
import { writeData } from '../../../agent/h2/frame-encode.ts';
import { Harness } from './harness.ts';

const CONN_WINDOW = 16 << 20;

for (const window of [65_535, 1 << 20, 3 << 20, 4 << 20]) {
  t.test(`stream window ${window}: every DATA octet's credit comes back, within the windows`, async (t) => {
    const h = new Harness({ initialWindowSize: window, manualFlowControl: true }).handshake();
    h.request(1, false);
    const s = h.conn.stream(1);
    if (s === undefined) throw new Error('no stream');
    // The peer's view of its send windows.
    let streamWin = window;
    let connWin = CONN_WINDOW;
    let badIncrement = false;
    const take = (): void => {
      for (const f of h.frames()) {
        if (f.type !== FrameType.WINDOW_UPDATE) continue;
        const inc = f.payload.readUInt32BE(0) & 0x7fffffff;
        if (inc === 0) badIncrement = true;
        if (f.stream === 0) connWin += inc;
        else if (f.stream === 1) streamWin += inc;
      }
    };
    let unread = 0;
    const unreadMax = window; // the reader lags by up to a whole window
    let frames = 0;
    // Three windows' worth in each round: the peer sends whenever it has window.
    for (let round = 0; round < 3 * Math.ceil((4 << 20) / window) && frames < 2000; round++) {
      while (Math.min(streamWin, connWin) > 0 && unread < unreadMax) {
        const room = Math.min(streamWin, connWin, 16_384);
        // Every fourth frame padded (pad length octet + padding count against the window).
        const pad = frames % 4 === 3 && room > 300 ? 200 : 0;
        const len = pad > 0 ? room - pad - 1 : room;
        h.send((w) => writeData(w, 1, Buffer.alloc(len, 1), false, pad));
        frames++;
        streamWin -= room;
        connWin -= room;
        unread += len;
      }
      take();
      t.ok(streamWin <= window && streamWin <= MAX_WINDOW, 'the stream window never beyond what was announced');
      t.ok(connWin <= CONN_WINDOW, 'nor the connection window');
      // The reader consumes in uneven pieces.
      for (let step = 7_777; unread > 0; step = step * 3 % 65_521 + 1) {
        const n = Math.min(step, unread);
        h.conn.consume(s, n);
        unread -= n;
      }
      take();
      t.ok(streamWin > window >> 1 && streamWin <= window, `all consumed: the peer may send ${streamWin} of ${window} on the stream`);
      t.ok(connWin > CONN_WINDOW >> 1 && connWin <= CONN_WINDOW, `and ${connWin} on the connection`);
    }
    t.notOk(badIncrement, 'no WINDOW_UPDATE of 0');
    t.equal(h.errors.length, 0, 'no error');
  });
}
