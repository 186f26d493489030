/** The CDR collection `cdr/COPM3_dialogs` in SQLite: month partitions, a writer and a worker-backed reader. */
export { CdrStore, type CdrStoreOptions } from './store.js';
export { CdrReader, type CdrReaderOptions, type CdrPage, type CdrExportOptions } from './reader.js';
export { parseCdrQuery, parseCdrFilter, parseCdrExportQuery } from './query.js';
export { CsvWriter, ZoneClock, checkTimeZone, exportChunks, exportStream, ndjsonOf, ndjsonOfDocs, CSV_COLUMNS, CONTENT_TYPES } from './export-format.js';
export { numberOf, monthOf, collectionDir } from './schema.js';
