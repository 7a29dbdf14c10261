export { AgentState, type StateChange, type StateListener, type ServiceMatch, type Endpoint } from './agent-state.ts';
export { StreamClient, type StreamClientOptions, type StreamStatus } from './stream-client.ts';
export { checkRecord, checkRecords } from './record-check.ts';
