// size-floor workload for a Node.js image (run by bench/size-floor.sh inside
// the unpacked image with chroot, under strace). Exercises what a typical
// service does; every step prints one line, a failed step prints FAIL and
// makes the exit code 1. Workload files live in /tmp/size-floor (W).
'use strict';
const W = __dirname;
const assert = require('assert');
let failures = 0;
const steps = [];
function step(name, fn) { steps.push([name, fn]); }
function show(name, v) { console.log(`ok   ${name}: ${String(v).replace(/\s+/g, ' ').slice(0, 150)}`); }

step('builtins', () => {
  const { builtinModules } = require('module');
  const failed = [];
  // Public modules first: requiring the legacy internals (_tls_wrap …) before
  // `tls` leaves tls half-initialised (a circular require).
  const order = builtinModules.filter(m => !m.startsWith('_')).concat(builtinModules.filter(m => m.startsWith('_')));
  for (const m of order) {
    try { require(m); } catch (e) { failed.push(`${m} (${e.code || e.message})`); }
  }
  if (failed.length) throw new Error(`require failed: ${failed.join(', ')}`);
  return `${builtinModules.length} modules required`;
});

step('intl', () => {
  const d = new Date(Date.UTC(2024, 2, 31, 1, 30));
  const out = [new Intl.DateTimeFormat('fr-FR', { timeZone: 'Europe/Paris' }).format(d),
    new Intl.DateTimeFormat('fr-FR', { timeZone: 'Europe/Paris', dateStyle: 'full', timeStyle: 'long' }).format(d)];
  for (const l of ['en-US', 'de-DE', 'ja-JP', 'ar-EG', 'hi-IN', 'zh-Hans-CN', 'ru-RU', 'he-IL', 'th-TH-u-ca-buddhist', 'pt-BR'])
    out.push(d.toLocaleString(l, { timeZone: 'America/Sao_Paulo' }), (1234567.891).toLocaleString(l));
  out.push(new Intl.NumberFormat('de-DE', { style: 'currency', currency: 'EUR' }).format(1234.5));
  out.push(['z', 'ä', 'a', 'Ö', 'o'].sort(new Intl.Collator('sv').compare).join(''));
  out.push(['z', 'ä', 'a', 'Ö', 'o'].sort(new Intl.Collator('de', { sensitivity: 'base' }).compare).join(''));
  out.push([...new Intl.Segmenter('ja', { granularity: 'word' }).segment('今日は良い天気です')].map(s => s.segment).join('|'));
  out.push([...new Intl.Segmenter('th', { granularity: 'word' }).segment('สวัสดีครับ')].length);
  out.push([...new Intl.Segmenter('en', { granularity: 'grapheme' }).segment('👨‍👩‍👧e\u0301')].length);
  out.push(new Intl.PluralRules('ar-EG').select(3), new Intl.RelativeTimeFormat('es', { numeric: 'auto' }).format(-1, 'day'));
  out.push(new Intl.ListFormat('it', { type: 'conjunction' }).format(['a', 'b', 'c']));
  out.push(new Intl.DisplayNames(['ko'], { type: 'region' }).of('FR'));
  out.push('istanbul'.toLocaleUpperCase('tr'), 'ﬁ'.normalize('NFKC'), 'a'.localeCompare('B', 'en'));
  out.push(Intl.supportedValuesOf('timeZone').length + ' zones');
  return out.join(' / ');
});

step('zoneinfo', () => {
  const out = [];
  for (const tz of ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Tokyo', 'Australia/Lord_Howe',
    'Asia/Kolkata', 'America/Argentina/Buenos_Aires', 'Pacific/Chatham', 'Etc/GMT+5', 'EST5EDT', ':Europe/London']) {
    process.env.TZ = tz;
    const d = new Date(2024, 6, 1, 12, 0);
    out.push(`${tz}=${d.getTimezoneOffset()} ${d.toString().replace(/.*\(/, '(')}`);
  }
  delete process.env.TZ;
  out.push(`default=${Intl.DateTimeFormat().resolvedOptions().timeZone}`);
  return out.join(' ');
});

step('crypto', () => {
  const crypto = require('crypto');
  const out = [crypto.createHash('sha256').update('x').digest('hex').slice(0, 16),
    crypto.createHash('sha512').update('x').digest('base64').slice(0, 8),
    crypto.createHash('md5').update('x').digest('hex').slice(0, 8),
    crypto.createHmac('sha1', 'k').update('x').digest('hex').slice(0, 8),
    crypto.randomBytes(16).length, crypto.randomUUID().length];
  const key = crypto.scryptSync('pw', 'salt', 32), iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([c.update('secret'), c.final()]), tag = c.getAuthTag();
  const dd = crypto.createDecipheriv('aes-256-gcm', key, iv); dd.setAuthTag(tag);
  out.push(Buffer.concat([dd.update(ct), dd.final()]).toString());
  out.push(crypto.pbkdf2Sync('pw', 'salt', 1000, 32, 'sha256').length);
  for (const [t, o] of [['ec', { namedCurve: 'P-256' }], ['rsa', { modulusLength: 2048 }], ['ed25519', {}]]) {
    const { privateKey, publicKey } = crypto.generateKeyPairSync(t, o);
    const alg = t === 'ed25519' ? null : 'sha256';
    const sig = crypto.sign(alg, Buffer.from('m'), privateKey);
    out.push(`${t}:${crypto.verify(alg, Buffer.from('m'), publicKey, sig)}`);
  }
  out.push(crypto.getCiphers().length + ' ciphers', crypto.getHashes().length + ' hashes');
  return out.join(' ');
});

step('tls-store', () => {
  const tls = require('tls');
  const ctx = tls.createSecureContext();
  const ctx2 = new tls.SecureContext();
  return `${tls.rootCertificates.length} bundled roots; ${!!ctx.context && !!ctx2} contexts; ` +
    `SSL_CERT_FILE=${process.env.SSL_CERT_FILE}`;
});

step('zlib', () => {
  const zlib = require('zlib');
  const data = Buffer.from('hello world '.repeat(1000));
  const g = zlib.gzipSync(data), b = zlib.brotliCompressSync(data), df = zlib.deflateRawSync(data);
  assert.ok(zlib.gunzipSync(g).equals(data) && zlib.brotliDecompressSync(b).equals(data) &&
    zlib.inflateRawSync(df).equals(data));
  return `gzip ${g.length} brotli ${b.length} deflate ${df.length}`;
});

step('fs', () => {
  const fs = require('fs'), os = require('os'), path = require('path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-'));
  fs.writeFileSync(path.join(dir, 'a.json'), JSON.stringify({ a: 1 }));
  const r = JSON.parse(fs.readFileSync(path.join(dir, 'a.json'), 'utf8'));
  const n = fs.readdirSync('/usr/share/zoneinfo').length;
  fs.rmSync(dir, { recursive: true });
  return `tmpdir ${os.tmpdir()} a=${r.a}, ${n} entries in /usr/share/zoneinfo, realpath ${fs.realpathSync('/etc/localtime')}`;
});

step('assert-message', () => {
  // assert.ok() without a message reads this file back and parses the call
  // with acorn to build the message.
  try { assert.ok(typeof W === 'number'); } catch (e) { return e.message.replace(/\n/g, ' '); }
  throw new Error('assert did not throw');
});

step('os', () => {
  const os = require('os');
  const u = os.userInfo();
  return `user ${u.username} uid ${u.uid} home ${u.homedir} shell ${u.shell}; host ${os.hostname()}; ` +
    `${os.cpus().length} cpus; ${Object.keys(os.networkInterfaces()).length} interfaces; ${os.release()}`;
});

step('dns', async () => {
  const dns = require('dns');
  const a = await dns.promises.lookup('localhost', { all: true });
  const s = await dns.promises.lookupService('127.0.0.1', 443);
  const r = new dns.Resolver();
  return `localhost=${a.map(x => x.address).join(',')} service443=${s.service} servers=${r.getServers().join(',') || '-'}`;
});

step('http+fetch', async () => {
  const http = require('http');
  const srv = http.createServer((q, s) => s.end(JSON.stringify({ path: q.url }))).listen(0, '127.0.0.1');
  await require('events').once(srv, 'listening');
  const url = `http://127.0.0.1:${srv.address().port}/x`;
  const res = await fetch(url);
  const j = await res.json();
  const body = await new Promise((ok, ko) => http.get(url + 'y', r => { let b = ''; r.on('data', c => b += c); r.on('end', () => ok(b)); }).on('error', ko));
  // A multipart body parsed by Response.formData() (undici hands it to busboy).
  const fd = new FormData();
  fd.append('field', 'value');
  fd.append('file', new Blob(['file body']), 'a.txt');
  const parsed = await new Response(fd).formData();
  srv.close();
  return `fetch ${res.status} ${j.path}; http.get ${body}; formData ${[...parsed.keys()].join(',')} ` +
    `${await parsed.get('file').text()}`;
});

step('tls-loopback', async () => {
  // TLS server here; the client runs in a child node with NODE_EXTRA_CA_CERTS
  // (read at startup) pointing at the self-signed certificate.
  const tls = require('tls'), fs = require('fs');
  const srv = tls.createServer({ key: fs.readFileSync(`${W}/key.pem`), cert: fs.readFileSync(`${W}/cert.pem`) },
    s => s.end('hello over tls\n')).listen(0, '127.0.0.1');
  await require('events').once(srv, 'listening');
  const out = await run(['tls-client.js', String(srv.address().port)], { NODE_EXTRA_CA_CERTS: `${W}/cert.pem` });
  srv.close();
  return out;
});

step('worker', async () => {
  const { Worker } = require('worker_threads');
  const w = new Worker('require("worker_threads").parentPort.postMessage(require("crypto").createHash("sha1").update("w").digest("hex"))', { eval: true });
  const [m] = await require('events').once(w, 'message');
  return `worker says ${m.slice(0, 12)}`;
});

step('child-esm', () => run(['esm.mjs']));
// Webpack 4 and other MD4 users need OpenSSL's legacy provider in Node ≥ 17.
step('child-legacy-provider', () => run(['--openssl-legacy-provider', '-p',
  "require('crypto').createHash('md4').update('x').digest('hex')"]));
step('child-tz', () => run(['-p', 'new Date(0).toString()'], { TZ: 'America/Los_Angeles' }));
step('child-repl', () => run(['-i'], {}, 'await Promise.resolve(40 + 2)\n.exit\n'));

function run(args, env = {}, input) {
  const { spawn } = require('child_process');
  return new Promise((ok, ko) => {
    const c = spawn(process.execPath, args, { cwd: W, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', d => out += d);
    c.on('error', ko);
    c.on('close', code => code === 0 ? ok(`${args[0]}: ${out.trim()}`) : ko(new Error(`${args.join(' ')} exited ${code}: ${out}`)));
    c.stdin.end(input || '');
  });
}

(async () => {
  for (const [name, fn] of steps) {
    try { show(name, await fn()); } catch (e) { failures++; console.log(`FAIL ${name}: ${e.stack || e}`); }
  }
  console.log(failures ? `${failures} step(s) failed` : 'all steps passed');
  process.exitCode = failures ? 1 : 0;
})();
