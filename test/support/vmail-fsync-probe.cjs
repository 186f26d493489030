'use strict';
/**
 * Loaded into a real service process with `node --require` (NODE_OPTIONS) by
 * test/integration/vmail-durability.test.ts. It records, in the order they happen, every fsync the
 * process asks of the kernel (its start with the file's size at that moment, and its return), every
 * append (nedb's writes) and rename, and every HTTP answer at the moment the service hands it to Node to send. It observes
 * and calls through; it changes nothing the service does. The log is one JSON object per line in
 * the file named by SITECALL_TEST_FSYNC_LOG, written synchronously so that its order is the order
 * of the events.
 */
const fs = require('node:fs');
const http = require('node:http');

const logFile = process.env.SITECALL_TEST_FSYNC_LOG;
if (logFile) {
  let seq = 0;
  const record = (entry) => fs.appendFileSync(logFile, `${JSON.stringify({ seq: seq++, ...entry })}\n`);
  const pathOf = (fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return `fd:${fd}`;
    }
  };
  const sizeOf = (fd) => {
    try {
      return fs.fstatSync(fd).size;
    } catch {
      return -1;
    }
  };

  // FileHandle (fs/promises) is what the service and nedb use; its class is reachable only through an instance.
  const ready = fs.promises.open(logFile, 'a').then(async (handle) => {
    const proto = Object.getPrototypeOf(handle);
    await handle.close();
    for (const name of ['sync', 'datasync']) {
      const original = proto[name];
      proto[name] = async function probed(...args) {
        const path = pathOf(this.fd);
        record({ event: 'fsync-start', call: name, path, size: sizeOf(this.fd) });
        const result = await original.apply(this, args);
        record({ event: 'fsync-done', call: name, path });
        return result;
      };
    }
    record({ event: 'probe-ready' });
  });
  void ready;

  for (const name of ['fsync', 'fdatasync']) {
    const original = fs[name];
    fs[name] = function probed(fd, callback) {
      const path = pathOf(fd);
      record({ event: 'fsync-start', call: name, path, size: sizeOf(fd) });
      return original.call(fs, fd, (err) => {
        record({ event: 'fsync-done', call: name, path });
        callback(err);
      });
    };
  }

  // nedb appends each write with fs.promises.appendFile (taken when it loads, after this file).
  const appendFile = fs.promises.appendFile;
  fs.promises.appendFile = async function probed(path, data, ...rest) {
    await appendFile(path, data, ...rest);
    let size = -1;
    try {
      size = fs.statSync(path).size;
    } catch {
      // gone already
    }
    record({ event: 'append', path: String(path), sizeAfter: size, data: String(data).slice(0, 8192) });
  };

  const rename = fs.promises.rename;
  fs.promises.rename = async function probed(from, to) {
    await rename(from, to);
    record({ event: 'rename', from: String(from), to: String(to) });
  };

  const end = http.ServerResponse.prototype.end;
  http.ServerResponse.prototype.end = function probed(chunk, ...rest) {
    const body = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8', 0, Math.min(chunk.length, 4096)) : '';
    record({ event: 'response', status: this.statusCode, method: this.req?.method, url: this.req?.url, body: body.slice(0, 4096) });
    return end.call(this, chunk, ...rest);
  };
}
