import { EVENT_LIMITS } from '../../shared/api/events.js';
import { closePayload, frame, WS_OPCODES } from './raw-ws.js';

/** The WebSocket endpoints, the scope each needs and the largest message each takes. */
export const WS_ENDPOINTS = [
  { path: '/api/v1/events/stream', scope: 'events', maxPayload: EVENT_LIMITS.batchBytes },
  { path: '/api/v1/live', scope: 'read', maxPayload: 64 * 1024 },
] as const;

export interface WsViolation {
  what: string;
  /** the frames sent after the 101, given the endpoint's maxPayload */
  frames: (maxPayload: number) => Buffer[];
  /** the close code RFC 6455 asks the server to answer with */
  closeCode: number;
}

/** Protocol violations a client can send once the upgrade is done; the `ws` client refuses to send most. */
export const WS_VIOLATIONS: readonly WsViolation[] = [
  { what: 'a text frame that is not UTF-8', frames: () => [frame({ opcode: WS_OPCODES.text, payload: Buffer.from([0xc0, 0xae, 0xff, 0xfe]) })], closeCode: 1007 },
  { what: 'a message over maxPayload', frames: (max) => [frame({ opcode: WS_OPCODES.text, announcedLength: max + 1 })], closeCode: 1009 },
  {
    what: 'fragments that add up to more than maxPayload',
    frames: (max) => [frame({ opcode: WS_OPCODES.text, fin: false, payload: 'x'.repeat(Math.min(max, 60_000)) }), frame({ opcode: WS_OPCODES.continuation, announcedLength: max })],
    closeCode: 1009,
  },
  { what: 'an unmasked frame', frames: () => [frame({ opcode: WS_OPCODES.text, payload: '{}', mask: false })], closeCode: 1002 },
  { what: 'RSV bits without an extension', frames: () => [frame({ opcode: WS_OPCODES.text, payload: '{}', rsv: 7 })], closeCode: 1002 },
  { what: 'an unknown opcode', frames: () => [frame({ opcode: 0x3, payload: 'x' })], closeCode: 1002 },
  { what: 'a continuation without a start', frames: () => [frame({ opcode: WS_OPCODES.continuation, payload: 'x' })], closeCode: 1002 },
  { what: 'a fragmented ping', frames: () => [frame({ opcode: WS_OPCODES.ping, fin: false, payload: 'x' })], closeCode: 1002 },
  { what: 'a ping over 125 bytes', frames: () => [frame({ opcode: WS_OPCODES.ping, payload: 'x'.repeat(126) })], closeCode: 1002 },
  { what: 'a close frame with a bad code', frames: () => [frame({ opcode: WS_OPCODES.close, payload: closePayload(999) })], closeCode: 1002 },
  { what: 'a close frame with a reserved code', frames: () => [frame({ opcode: WS_OPCODES.close, payload: closePayload(1005) })], closeCode: 1002 },
  { what: 'a close frame of one byte', frames: () => [frame({ opcode: WS_OPCODES.close, payload: Buffer.from([3]) })], closeCode: 1002 },
  { what: 'a close reason that is not UTF-8', frames: () => [frame({ opcode: WS_OPCODES.close, payload: Buffer.concat([closePayload(1000), Buffer.from([0xff])]) })], closeCode: 1007 },
];

/** Request targets of an upgrade that do not parse as a URL. */
export const UNPARSEABLE_TARGETS = ['//[', '//[::1', 'http://[', '//a:99999/x'] as const;
