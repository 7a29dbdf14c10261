// The HTTP/2 flow-control windows the agent announces, in one place: the client sessions to peer
// agents (agent/proxy/hbone/dial-peer.ts) and to h2c pods (agent/http/h2c-pod-session.ts), and the
// HBONE listener (server.ts), on both engines. Windows large enough that one stream can fill a LAN
// link without waiting on WINDOW_UPDATEs; memory is only used when a reader is slower than the
// network, and then a stalled stream holds at most its stream window.
//
// The session (connection) window no longer bounds what stalled streams hold: both engines return
// a DATA frame's connection credit on receipt (the codec in agent/h2/connection.ts #admitData;
// node:http2 because nghttp2 is told the connection's octets are consumed as each chunk arrives),
// and only a stream's own window waits for its reader. So a stalled reader holds at most its
// stream window and never the credit the session's other streams share, and what stalled streams
// hold together is bounded by their count: per session, SETTINGS_MAX_CONCURRENT_STREAMS × the
// stream window; per source pod, its streams are its connections and requests through the agent
// (WEFT_MAX_CONNECTIONS_PER_WORKLOAD, agent/proxy/workload-limits.ts), and all of a source
// workload's together by its held-bytes budget (WEFT_MAX_HELD_BYTES_PER_WORKLOAD): past it its
// codec sessions announce a 64 KiB stream window instead of these (agent/h2/held-bytes-budget.ts).
// Figures in docs/design-notes.md (2026-12-07, "Connection credit on receipt", "Held bytes per
// workload").
//
// The session window is then only what may be in flight between two agents at once, in the
// sockets and TLS: it must be a few stream windows, so that one stream (whose credit goes back in
// halves) and a few bulk streams at once never wait on connection credit, which goes back when
// half of it has arrived. 4 client stream windows, 16 MiB — what it was before the stream window
// grew to 4 MiB, when its size was also a bound on stalled readers.

/**
 * The stream window of the agent's client sessions: what a peer agent or an h2c pod may send
 * ahead on one stream (a download, an L7 response). 4 MiB, not 1, because the credit goes back
 * through both agents' event loops, and on a loaded 2-core node that loop, not the CPU, bounded
 * one stream (testbed bulk row 0.82–0.94 → 1.06–1.08 Gb/s in one A/B, docs/design-notes.md).
 */
export const CLIENT_STREAM_WINDOW = 4 << 20;
/** The stream window the HBONE listener announces: what a peer may send ahead on one stream (an upload). */
export const LISTENER_STREAM_WINDOW = 1 << 20;
/** Every session's connection window: 4 × CLIENT_STREAM_WINDOW, bytes in flight only (see the top). */
export const SESSION_WINDOW = 4 * CLIENT_STREAM_WINDOW;
