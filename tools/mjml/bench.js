// The Node side of scripts/bench-render.sh: the reference renderer (npm mjml) compiles each
// MJML file of a folder in-process, the same files relais compiled; prints one JSON object.
//
// node tools/mjml/bench.js DIR [RUNS]
'use strict';

const fs = require('fs');
const path = require('path');
const { performance } = require('perf_hooks');
const mjml2html = require('mjml');

const dir = process.argv[2];
const runs = Math.max(1, Number(process.argv[3] || 200));
if (!dir) {
  console.error('usage: node bench.js DIR [RUNS]');
  process.exit(2);
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// No validation, as relais does not validate at send time either (CI does, once).
const options = { validationLevel: 'skip' };

const titles = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.mjml'))
  .sort()
  .map((file) => {
    const mjml = fs.readFileSync(path.join(dir, file), 'utf8');
    const first = mjml2html(mjml, options);
    if (first.errors.length) {
      throw new Error(`${file}: ${first.errors.map((e) => e.formattedMessage).join('; ')}`);
    }
    // Warm-up lets V8 optimise before the clock starts.
    for (let i = 0; i < 30; i++) mjml2html(mjml, options);
    const samples = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      mjml2html(mjml, options);
      samples.push(performance.now() - t);
    }
    return {
      slug: path.basename(file, '.mjml'),
      median_ms: median(samples),
      html_bytes: Buffer.byteLength(first.html),
    };
  });

console.log(JSON.stringify({ mjml: require('mjml/package.json').version, node: process.version, runs, titles }));
