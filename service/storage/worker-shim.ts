/** How to start one of storage's worker threads from elsewhere (tests run them from the TypeScript sources). */
export interface WorkerShim {
  workerUrl?: URL;
  /** extra workerData for such a shim */
  workerData?: Record<string, unknown>;
}
