// The door to HBONE: the listener, the connector and the default TCP delivery.
export { createHboneServer, HBONE_PORT, UPGRADE_TUNNEL_HEADER, WEFT_ERROR_HEADER, type HboneServer, type HboneServerOptions, type HboneRequest, type H2Engine } from './server.ts';
export { deliverToTcp, type ConnectTcp, type AuthorizeTunnel } from './deliver-tcp.ts';
export { HboneConnector, TunnelError, type HboneConnectorOptions, type TunnelOpenRequest } from './client.ts';
export { parseConnectTarget, formatConnectTarget, type TunnelTarget } from './connect-target.ts';
export { sniForIdentity, identityForSni } from './sni.ts';
export { spiffeIdFromSan, peerSpiffeId, expectServerIdentity } from './peer-identity.ts';
