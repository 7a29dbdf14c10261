// The HTTP/2 flow-control windows the agent announces, in one place: the client sessions to peer
// agents (agent/proxy/hbone/dial-peer.ts) and to h2c pods (agent/http/h2c-pod-session.ts), and the
// HBONE listener (server.ts), on both engines. Windows large enough that one stream can fill a LAN
// link without waiting on WINDOW_UPDATEs; memory is only used when a reader is slower than the
// network, and then a stalled stream holds at most its stream window.
//
// The session (connection) window is what the streams of one session hold together. The agent
// returns a DATA frame's connection credit when the bytes are consumed (the app or pod took them),
// so stalled streams keep theirs, and once they hold the whole session window every other stream
// of that session waits — on a peer session, every request and tunnel between two nodes. So the
// session window is kept at 16 stream windows of the largest kind: it takes 16 stalled readers to
// stall a session, as it did with 1 MiB / 16 MiB before the download window grew to 4 MiB. The
// price is what 16 stalled downloads may hold in the receiving agent: 64 MiB per session.
// (docs/design-notes.md, issue 19, session 10: a structural fix — connection credit returned on
// receipt, with per-workload bounds on what stalled streams hold — is the better answer.)

/**
 * The stream window of the agent's client sessions: what a peer agent or an h2c pod may send
 * ahead on one stream (a download, an L7 response). 4 MiB, not 1, because the credit goes back
 * through both agents' event loops, and on a loaded 2-core node that loop, not the CPU, bounded
 * one stream (testbed bulk row 0.82–0.94 → 1.06–1.08 Gb/s in one A/B, docs/design-notes.md).
 */
export const CLIENT_STREAM_WINDOW = 4 << 20;
/** The stream window the HBONE listener announces: what a peer may send ahead on one stream (an upload). */
export const LISTENER_STREAM_WINDOW = 1 << 20;
/** Every session's connection window: 16 × CLIENT_STREAM_WINDOW (see the top). */
export const SESSION_WINDOW = 16 * CLIENT_STREAM_WINDOW;
