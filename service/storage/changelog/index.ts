export { bodyTextOf, ChangeLog, LogGapError, type Appended, type AppliedChange, type AttachResult, type ChangeLogOptions, type GroupWriteOptions, type GroupWriter, type GroupWritten, type LogDurability, type LogSnapshot, type NewChange, type WriteAheadView } from './log.js';
export { advance, ChangeLogReader, LogCompactedError, type HeldRange, type LogEntry, type SinceVector } from './reader.js';
export { LogTail, type TailSource } from './tail.js';
export { ClockDriftError, DEFAULT_MAX_DRIFT_MS, decodeHlc, encodeHlc, type Hlc } from './core/hlc.js';
export { applyVersion, mergeVersions, type MergePolicy, type PolicyOf, type VersionedDoc } from './core/merge.js';
export { changeLogFile } from './files.js';
export { conflictRuleOf, policyOf, DOCUMENT_KINDS, LOG_ONLY_KINDS, LOGGED_COLLECTIONS, RECORD_KINDS } from './kinds.js';
export { DISMISSAL_KIND, type ConflictQuery, type ConflictRow, type ConflictRule, type DismissalBody } from './conflicts.js';
