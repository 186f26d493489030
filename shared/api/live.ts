/** Messages of the console's live feed (WebSocket /api/v1/live). */
export interface LiveChange {
  collection: string;
  op: 'put' | 'delete';
  id: string;
  /** the whole document after a put (an ActiveCall for `calls`, a Cdr for `cdrs`); null after a delete */
  doc: unknown;
}

export type LiveMessage =
  | { type: 'hello'; collections: string[] }
  | { type: 'changes'; changes: LiveChange[] }
  /** the client fell behind and changes were dropped: reload what is shown */
  | { type: 'resync'; reason: string };
