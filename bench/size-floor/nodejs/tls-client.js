// Child of main.js: TLS client trusting NODE_EXTRA_CA_CERTS plus the default store.
'use strict';
const tls = require('tls');
const s = tls.connect({ host: '127.0.0.1', port: +process.argv[2], servername: 'localhost' }, () => {
  let b = '';
  s.on('data', d => b += d);
  s.on('end', () => console.log(`authorized=${s.authorized} ${s.getProtocol()} ${s.getCipher().name}: ${b.trim()}`));
});
s.on('error', e => { console.error(e); process.exitCode = 1; });
