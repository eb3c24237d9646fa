/** Close codes carried in CLOSE frames, and the TrineErrors the transport raises. */
import { TrineError } from '../crypto/index.ts';

export const CloseCode = {
  /** Orderly close by the application. */
  NO_ERROR: 0,
  /** The peer broke the protocol (malformed frame, stream limit, final size). */
  PROTOCOL_VIOLATION: 1,
  /** The peer sent beyond a window we granted. */
  FLOW_CONTROL: 2,
  /** An internal failure on the closing side. */
  INTERNAL: 3,
  /** Codes at or above this are the application's own. */
  APPLICATION_BASE: 0x100,
} as const;

export const NetErrorCode = {
  TIMEOUT: 'NET_TIMEOUT',
  REFUSED: 'NET_REFUSED',
  UNKNOWN_SERVER_KEY: 'NET_UNKNOWN_SERVER_KEY',
  SERVER_KEY_CHANGED: 'NET_SERVER_KEY_CHANGED',
  CLOSED_BY_PEER: 'NET_CLOSED_BY_PEER',
  CLOSED: 'NET_CLOSED',
  IDLE_TIMEOUT: 'NET_IDLE_TIMEOUT',
  PROTOCOL: 'NET_PROTOCOL',
} as const;

export function timeoutError(address: string): TrineError {
  return new TrineError(NetErrorCode.TIMEOUT, `no answer from ${address}: check that the server runs, that the address and port are right, and that you have its correct public key`);
}

export function refusedError(address: string): TrineError {
  return new TrineError(NetErrorCode.REFUSED, `${address} refused our key: ask an administrator to authorise this key (trine user add / trine join)`);
}

export function closedByPeerError(code: number, reason: string): TrineError {
  return new TrineError(NetErrorCode.CLOSED_BY_PEER, `the peer closed the connection (code ${code}${reason ? `: ${reason}` : ''}); reconnect if needed`);
}

export function closedError(): TrineError {
  return new TrineError(NetErrorCode.CLOSED, 'the connection is closed; open a new one');
}

export function idleTimeoutError(address: string): TrineError {
  return new TrineError(NetErrorCode.IDLE_TIMEOUT, `nothing heard from ${address} for too long; the connection was dropped, reconnect`);
}

export function protocolError(message: string): TrineError {
  return new TrineError(NetErrorCode.PROTOCOL, `${message}; the connection was closed`);
}
