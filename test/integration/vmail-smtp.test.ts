import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { cs, vm } from '../support/config-cases.js';
import { eventually } from '../support/events-client.js';
import { freePort, login, startService, type RunningTestService } from '../support/service.js';
import { makeWav, vmailClient } from '../support/vmail.js';

interface Received {
  envelope: { mailFrom: string | false; rcptTo: string[] };
  mail: ParsedMail;
}

/** A real SMTP server in the test process, with AUTH PLAIN, collecting what arrives. */
async function smtpServer(): Promise<{ port: number; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === 'vmail' && auth.password === 's3cret') callback(null, { user: 'vmail' });
      else callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      // copied now: the session's envelope is reset once the message is accepted
      const envelope = { mailFrom: session.envelope.mailFrom && session.envelope.mailFrom.address, rcptTo: session.envelope.rcptTo.map((r) => r.address) };
      simpleParser(stream).then(
        (mail) => {
          received.push({ envelope, mail });
          callback();
        },
        (err: Error) => callback(err),
      );
    },
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return { port, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('vmail e-mail notifications', () => {
  let svc: RunningTestService;
  let smtp: Awaited<ReturnType<typeof smtpServer>>;
  let token: string;
  let v: ReturnType<typeof vmailClient>;

  const configure = async (ext: Record<string, unknown>) => {
    const api = apiClient(svc.url, token);
    const { revision } = (await api.get('/api/v1/config/roles')).body;
    const r = await api.put('/api/v1/config/roles', { revision, instances: [cs(), vm({ ext })] });
    expect(r.status).toBe(200);
  };
  const smtpExt = (port: number) => ({ host: '127.0.0.1', port, secure: false, user: 'vmail', pass: 's3cret', from: 'Voicemail <voicemail@office.example>', ignore_tls: true });

  beforeAll(async () => {
    smtp = await smtpServer();
    svc = await startService();
    token = await login(svc);
    v = vmailClient(svc.url, token);
    await configure({ smtp: smtpExt(smtp.port), console_url: 'http://console.office.example:7080' });
    await v.createMailbox({ number: '1001', name: 'Alice', email: 'alice@office.example', notify: 'attach' });
    await v.createMailbox({ number: '1002', name: 'Bob', email: 'bob@office.example', notify: 'link' });
    await v.createMailbox({ number: '1003', name: 'Carol', email: 'carol@office.example', notify: 'none' });
  });
  afterAll(async () => {
    await svc.stop();
    await smtp.close();
  });

  const mailTo = (address: string) => eventually(async () => smtp.received.find((r) => r.envelope.rcptTo.includes(address)), 10_000, `a mail to ${address}`);

  it('mails the WAV as an attachment, byte-identical', async () => {
    const wav = makeWav(3);
    const m = (await v.deposit('1001', wav, { callerName: 'Ann Caller', callerNumber: '+15550100', urgent: 'true' })).body;
    const { envelope, mail } = await mailTo('alice@office.example');
    expect(envelope.mailFrom).toBe('voicemail@office.example');
    expect(mail.subject).toBe('Urgent voicemail from Ann Caller <+15550100> (3 s)');
    expect(mail.text).toMatch(/Alice, you have a new URGENT voicemail in mailbox 1001@office\.example/);
    expect(mail.headers.get('x-sitecall-message-id')).toBe(m.id);
    expect(mail.attachments).toHaveLength(1);
    expect(mail.attachments[0]?.contentType).toBe('audio/wav');
    expect(mail.attachments[0]?.filename).toMatch(/^voicemail-.*\.wav$/);
    expect(Buffer.compare(mail.attachments[0]?.content as Buffer, wav)).toBe(0);
  });

  it('mails a link to the console with notify = link, nothing with none', async () => {
    const m = (await v.deposit('1002', makeWav(1), { callerNumber: '200' })).body;
    const { mail } = await mailTo('bob@office.example');
    expect(mail.attachments).toHaveLength(0);
    expect(mail.text).toContain(`Listen: http://console.office.example:7080/voicemail/office.example/1002/${m.id}`);
    await v.deposit('1003', makeWav(1));
    await new Promise((r) => setTimeout(r, 1000));
    expect(smtp.received.some((r) => r.envelope.rcptTo.includes('carol@office.example'))).toBe(false);
  });

  it('mails the target of a forward, naming who forwarded', async () => {
    const src = (await v.deposit('1003', makeWav(1), { callerNumber: '300' })).body;
    const before = smtp.received.filter((r) => r.envelope.rcptTo.includes('alice@office.example')).length;
    await v.json('POST', `/1003/messages/${src.id}/forward`, { mailbox: '1001' });
    const mail = await eventually(async () => smtp.received.filter((r) => r.envelope.rcptTo.includes('alice@office.example'))[before], 10_000, 'the forward mail');
    expect(mail.mail.text).toMatch(/Forwarded by admin from mailbox 1003@office\.example/);
  });

  it('never fails a deposit when mail cannot be sent: logged and counted', async () => {
    const closed = await freePort();
    await configure({ smtp: smtpExt(closed) });
    const started = Date.now();
    const r = await v.deposit('1001', makeWav(1));
    expect(r.status).toBe(201);
    expect(Date.now() - started).toBeLessThan(2000);
    const failures = async () => {
      const text = await (await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
      return Number(/sitecall_vmail_notifications_total\{result="failed",app="sitecall"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    await eventually(async () => (await failures()) === 1, 15_000, 'a failed notification in the metrics');
    // the log line comes through the process's stdout pipe, maybe after the metric
    await eventually(async () => svc.logs().includes('voicemail e-mail failed'), 5_000, 'the failure in the log');
    expect(svc.logs()).not.toContain('s3cret');
    // wrong credentials are a failure too, the deposit still stored
    await configure({ smtp: { ...smtpExt(smtp.port), pass: 'wrong' } });
    expect((await v.deposit('1001', makeWav(1))).status).toBe(201);
    await eventually(async () => (await failures()) === 2, 15_000, 'the second failed notification');
  });
});
