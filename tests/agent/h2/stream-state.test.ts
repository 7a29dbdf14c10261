// The §5.1 stream state machine (agent/h2/stream-state.ts) as a table typed from RFC 9113's
// state descriptions: for each state and received frame, the next state or the error (and its
// scope) the section mandates; then the send side.
import t from 'tap';
import { H2Code } from '../../../agent/h2/constants.ts';
import { ClosedBy, IGNORE, StreamEvent as E, StreamState as S, connErr, errCode, isConnErr, isStreamErr, onReceive, onSend, streamErr } from '../../../agent/h2/stream-state.ts';

const name = (r: number): string => (r === IGNORE ? 'ignore' : isStreamErr(r) ? `stream-error ${errCode(r)}` : isConnErr(r) ? `connection-error ${errCode(r)}` : `state ${r}`);

// [state, event, END_STREAM, closedBy, expected, the RFC's words]
const RECEIVE: [number, number, boolean, number, number, string][] = [
  [S.IDLE, E.HEADERS, false, 0, S.OPEN, 'idle: receiving HEADERS → open'],
  [S.IDLE, E.HEADERS, true, 0, S.HALF_CLOSED_REMOTE, 'idle: HEADERS with END_STREAM → half-closed (remote)'],
  [S.IDLE, E.PRIORITY, false, 0, S.IDLE, 'PRIORITY in any state, does not open'],
  [S.IDLE, E.DATA, false, 0, connErr(H2Code.PROTOCOL_ERROR), 'idle: any frame other than HEADERS or PRIORITY → connection PROTOCOL_ERROR'],
  [S.IDLE, E.RST_STREAM, false, 0, connErr(H2Code.PROTOCOL_ERROR), 'idle: RST_STREAM → connection PROTOCOL_ERROR'],
  [S.IDLE, E.WINDOW_UPDATE, false, 0, connErr(H2Code.PROTOCOL_ERROR), 'idle: WINDOW_UPDATE → connection PROTOCOL_ERROR'],
  [S.OPEN, E.DATA, false, 0, S.OPEN, 'open: frames of any type'],
  [S.OPEN, E.DATA, true, 0, S.HALF_CLOSED_REMOTE, 'open: END_STREAM received → half-closed (remote)'],
  [S.OPEN, E.HEADERS, true, 0, S.HALF_CLOSED_REMOTE, 'open: trailers with END_STREAM → half-closed (remote)'],
  [S.OPEN, E.RST_STREAM, false, 0, S.CLOSED, 'open: RST_STREAM → closed'],
  [S.OPEN, E.WINDOW_UPDATE, false, 0, S.OPEN, 'open: WINDOW_UPDATE'],
  [S.HALF_CLOSED_LOCAL, E.DATA, false, 0, S.HALF_CLOSED_LOCAL, 'half-closed (local): frames of any type'],
  [S.HALF_CLOSED_LOCAL, E.DATA, true, 0, S.CLOSED, 'half-closed (local): END_STREAM → closed'],
  [S.HALF_CLOSED_LOCAL, E.RST_STREAM, false, 0, S.CLOSED, 'half-closed (local): RST_STREAM → closed'],
  [S.HALF_CLOSED_REMOTE, E.WINDOW_UPDATE, false, 0, S.HALF_CLOSED_REMOTE, 'half-closed (remote): WINDOW_UPDATE allowed'],
  [S.HALF_CLOSED_REMOTE, E.PRIORITY, false, 0, S.HALF_CLOSED_REMOTE, 'half-closed (remote): PRIORITY allowed'],
  [S.HALF_CLOSED_REMOTE, E.RST_STREAM, false, 0, S.CLOSED, 'half-closed (remote): RST_STREAM → closed'],
  [S.HALF_CLOSED_REMOTE, E.DATA, false, 0, streamErr(H2Code.STREAM_CLOSED), 'half-closed (remote): other frames → stream STREAM_CLOSED'],
  [S.HALF_CLOSED_REMOTE, E.HEADERS, true, 0, streamErr(H2Code.STREAM_CLOSED), 'half-closed (remote): HEADERS → stream STREAM_CLOSED'],
  [S.CLOSED, E.PRIORITY, false, ClosedBy.END_STREAM, S.CLOSED, 'closed: PRIORITY allowed'],
  [S.CLOSED, E.DATA, false, ClosedBy.RESET_SENT, IGNORE, 'closed after sending RST_STREAM: frames in flight ignored'],
  [S.CLOSED, E.HEADERS, false, ClosedBy.RESET_SENT, IGNORE, 'closed after sending RST_STREAM: HEADERS ignored (still decoded by the connection)'],
  [S.CLOSED, E.DATA, false, ClosedBy.RESET_RECEIVED, streamErr(H2Code.STREAM_CLOSED), 'closed after receiving RST_STREAM: any frame but PRIORITY → stream STREAM_CLOSED'],
  [S.CLOSED, E.DATA, false, ClosedBy.END_STREAM, connErr(H2Code.STREAM_CLOSED), 'closed after END_STREAM: frames → connection STREAM_CLOSED'],
  [S.CLOSED, E.WINDOW_UPDATE, false, ClosedBy.END_STREAM, IGNORE, 'closed: WINDOW_UPDATE that crossed our END_STREAM ignored'],
  [S.CLOSED, E.RST_STREAM, false, ClosedBy.END_STREAM, IGNORE, 'closed: RST_STREAM that crossed ours ignored'],
];

t.test('receiving (§5.1)', async (t) => {
  for (const [state, ev, es, by, want, words] of RECEIVE) {
    const got = onReceive(state as 0, ev as 0, es, by as 0);
    t.equal(name(got), name(want), words);
  }
});

// [state, event, END_STREAM, expected (-1: may not be sent)]
const SEND: [number, number, boolean, number, string][] = [
  [S.IDLE, E.HEADERS, false, S.OPEN, 'idle: sending HEADERS → open'],
  [S.IDLE, E.HEADERS, true, S.HALF_CLOSED_LOCAL, 'idle: HEADERS with END_STREAM → half-closed (local)'],
  [S.IDLE, E.DATA, false, -1, 'idle: no DATA'],
  [S.IDLE, E.RST_STREAM, false, -1, 'idle: no RST_STREAM'],
  [S.OPEN, E.DATA, true, S.HALF_CLOSED_LOCAL, 'open: END_STREAM sent → half-closed (local)'],
  [S.OPEN, E.RST_STREAM, false, S.CLOSED, 'open: RST_STREAM → closed'],
  [S.HALF_CLOSED_REMOTE, E.DATA, true, S.CLOSED, 'half-closed (remote): END_STREAM sent → closed'],
  [S.HALF_CLOSED_REMOTE, E.HEADERS, false, S.HALF_CLOSED_REMOTE, 'half-closed (remote): frames of any type'],
  [S.HALF_CLOSED_LOCAL, E.DATA, false, -1, 'half-closed (local): only WINDOW_UPDATE, PRIORITY, RST_STREAM'],
  [S.HALF_CLOSED_LOCAL, E.WINDOW_UPDATE, false, S.HALF_CLOSED_LOCAL, 'half-closed (local): WINDOW_UPDATE'],
  [S.HALF_CLOSED_LOCAL, E.RST_STREAM, false, S.CLOSED, 'half-closed (local): RST_STREAM → closed'],
  [S.CLOSED, E.DATA, false, -1, 'closed: nothing but PRIORITY'],
  [S.CLOSED, E.RST_STREAM, false, -1, 'closed: no second RST_STREAM'],
  [S.CLOSED, E.PRIORITY, false, S.CLOSED, 'closed: PRIORITY'],
];

t.test('sending (§5.1)', async (t) => {
  for (const [state, ev, es, want, words] of SEND) t.equal(onSend(state as 0, ev as 0, es), want, words);
});
