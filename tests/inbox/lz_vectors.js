// Makes tests/inbox/lz_vectors.json, the inputs of tests/inbox/test_lz.py, with the JavaScript
// originals: in an empty folder, `npm install lz-string@1.5.0 fflate@0.8.3`, then
// `node lz_vectors.js > lz_vectors.json`. lz-string is what posthog-js used for
// compression=lz64; fflate is what it uses for gzip-js.
const LZ = require('lz-string');
const { gzipSync, strToU8 } = require('fflate');
const crypto = require('crypto');

function lcgText(seed, n, alphabet) {
  // x = (1103515245 x + 12345) mod 2^31; next char = alphabet[(x >> 8) % len]
  let x = seed >>> 0; const out = [];
  for (let i = 0; i < n; i++) {
    x = (Math.imul(1103515245, x) + 12345) & 0x7fffffff;
    out.push(alphabet[(x >>> 8) % alphabet.length]);
  }
  return out.join('');
}
const ALPHABET = Array.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 {}[]":,é日本🎉\u0000\n');
const batch = JSON.stringify([
  {event: '$pageview', properties: {token: 'phc_test_key', distinct_id: 'user-1', $current_url: 'https://example.com/?q=1&r=2', $lib: 'web', title: 'Ünïcødé 🎉'}},
  {event: '$exception', properties: {token: 'phc_test_key', distinct_id: 'user-1', $exception_list: [{type: 'TypeError', value: 'x is undefined'}]}},
]);
const plain = ['', 'a', 'hello world hello world hello world', 'héllo wörld — 日本語 🎉 \u0000 control\n\t"quoted"', batch];
const vectors = plain.map(s => ({input: s, lz64: LZ.compressToBase64(s)}));
const big = lcgText(12345, 20000, ALPHABET);
const out = {
  provenance: 'node ' + process.version + ', lz-string@1.5.0 compressToBase64, fflate@0.8.3 gzipSync(strToU8(json), {mtime: 0})',
  vectors,
  lcg: {seed: 12345, length: 20000, alphabet: ALPHABET.join(''),
        sha256: crypto.createHash('sha256').update(Buffer.from(big, 'utf8')).digest('hex'),
        lz64: LZ.compressToBase64(big)},
  repeat_a_1mib_lz64: LZ.compressToBase64('A'.repeat(1 << 20)),
  batch,
  gzip_js_base64: Buffer.from(gzipSync(strToU8(batch), {mtime: 0})).toString('base64'),
  form_lz64_body: 'data=' + encodeURIComponent(LZ.compressToBase64(batch)),
};
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
