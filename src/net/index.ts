/**
 * The transport's public surface. Higher layers use the driver API (`listen`, `connect`,
 * `trustServer`); simulators use the pure `Endpoint` with `SimNetwork`.
 */
export { listen, connect, fetchServerKey, formatAddress, Listener, TrineConnection, TrineStream } from './udp.ts';
export type { ListenOptions, ConnectOptions } from './udp.ts';
export { trustServer, connectTrusted } from './trust.ts';
export type { TrustOptions } from './trust.ts';
export { Endpoint } from './endpoint.ts';
export type { Authorize, EndpointOptions, EndpointEvent, Transmit } from './endpoint.ts';
export { Connection } from './connection.ts';
export type { ConnectionEvent, ConnectionState } from './connection.ts';
export { CloseCode, NetErrorCode } from './errors.ts';
export { SimNetwork, Prng } from './sim-network.ts';
export type { LinkConfig } from './sim-network.ts';
export * as limits from './limits.ts';
