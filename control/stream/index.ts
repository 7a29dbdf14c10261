export { attachStreamServer, type StreamServer, type StreamServerOptions } from './stream-server.ts';
export type { AgentInfo } from './agent-session.ts';
