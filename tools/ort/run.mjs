// run.mjs - runs an ONNX model in onnxruntime (CPU) with .npy inputs and outputs: the
// reference that dzc's tests and bench/compare_onnx.py compare `dzc run` with.
//
//   node tools/ort/run.mjs MODEL.onnx --input x.npy [--input ...] --output-dir DIR
//                          [--bench N] [--threads T] [--optimization LEVEL]
//   node tools/ort/run.mjs --check
//
// The command line mirrors `dzc run` (docs/dzc.md): one --input per graph input
// (initializers excluded), in graph order; the outputs are written to DIR/output_<i>.npy in
// graph-output order. Inputs are .npy files (versions 1.0 to 3.0, C order, little endian)
// of float32, float64, int64, int32 or bool. --bench N runs the model once as warm-up, then
// N times, and prints one JSON line {"model", "runs", "threads", "median_ms", "mean_ms",
// "min_ms"}; the outputs written are those of the last run. --threads T sets onnxruntime's
// intra-op threads (default: onnxruntime's choice); inter-op parallelism is off.
// --optimization disabled|basic|extended|all: onnxruntime's graph optimisation level
// (default all, which includes the NCHWc layout of convolutions and pooling).
// --check loads onnxruntime-node and prints its version.
//
// onnxruntime-node is looked up in $DZ_ORT_DIR/node_modules (default
// /opt/dzc/onnxruntime-node, where scripts/install-deps.sh installs it). Every error is
// one line on stderr; exit status 1 for an error in what was given or in onnxruntime, 2 for
// a usage error.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const USAGE =
  'usage: run.mjs MODEL.onnx --input x.npy [--input ...] --output-dir DIR [--bench N] [--threads T]' +
  ' [--optimization disabled|basic|extended|all]';

class UsageError extends Error {}

function fail(message, status) {
  process.stderr.write(`run.mjs: error: ${message}\n`);
  process.exit(status);
}

function parseCount(flag, text) {
  if (!/^[0-9]+$/.test(text ?? '') || Number(text) < 1)
    throw new UsageError(`${flag} takes a positive integer, got '${text ?? ''}'`);
  return Number(text);
}

function parseArgs(argv) {
  const args = { model: null, inputs: [], outputDir: null, bench: 0, threads: 0, optimization: 'all', check: false };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const [flag, inlineValue] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = () => {
      if (inlineValue !== undefined) return inlineValue;
      if (i + 1 >= argv.length) throw new UsageError(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case '--input': args.inputs.push(value()); break;
      case '--output-dir': args.outputDir = value(); break;
      case '--bench': args.bench = parseCount('--bench', value()); break;
      case '--threads': args.threads = parseCount('--threads', value()); break;
      case '--optimization':
        args.optimization = value();
        if (!['disabled', 'basic', 'extended', 'all'].includes(args.optimization))
          throw new UsageError(`--optimization takes disabled, basic, extended or all, got '${args.optimization}'`);
        break;
      case '--check': args.check = true; break;
      case '--help': case '-h': process.stdout.write(USAGE + '\n'); process.exit(0);
      default:
        if (a.startsWith('-')) throw new UsageError(`unknown option '${a}'`);
        if (args.model !== null) throw new UsageError(`more than one model: '${args.model}', '${a}'`);
        args.model = a;
    }
  }
  if (args.check) return args;
  if (args.model === null) throw new UsageError('no MODEL.onnx given');
  if (args.outputDir === null) throw new UsageError('--output-dir is required');
  return args;
}

// ---- .npy -----------------------------------------------------------------------------

// numpy descr -> [onnxruntime type, TypedArray]
const NPY_TYPES = {
  '<f4': ['float32', Float32Array],
  '<f8': ['float64', Float64Array],
  '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array],
  '|b1': ['bool', Uint8Array],
};
const NPY_DESCR = Object.fromEntries(Object.entries(NPY_TYPES).map(([d, [t]]) => [t, d]));
Object.assign(NPY_DESCR, { uint8: '|u1', int8: '|i1', int16: '<i2', uint16: '<u2', uint32: '<u4', uint64: '<u8' });

function readNpy(file, ort) {
  let bytes;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read --input '${file}': ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  const bad = (why) => new Error(`--input '${file}' is not a valid .npy file: ${why}`);
  if (bytes.length < 10 || bytes.toString('latin1', 0, 6) !== '\x93NUMPY') throw bad('no \\x93NUMPY magic');
  const major = bytes[6];
  if (major < 1 || major > 3) throw bad(`version ${major}.${bytes[7]} (1.0 to 3.0 are read)`);
  const lenSize = major === 1 ? 2 : 4;
  const headerLen = lenSize === 2 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const dataStart = 8 + lenSize + headerLen;
  if (dataStart > bytes.length) throw bad('truncated header');
  const header = bytes.toString(major === 3 ? 'utf8' : 'latin1', 8 + lenSize, dataStart);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header);
  const order = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !order || !shape) throw bad(`header without descr, fortran_order or shape: ${header.trim()}`);
  const type = NPY_TYPES[descr[1] === '<b1' ? '|b1' : descr[1]];
  if (!type) throw new Error(`--input '${file}' has the dtype '${descr[1]}'; float32, float64, int64, int32 and bool (little endian) are read`);
  if (order[1] === 'True') throw new Error(`--input '${file}' is in Fortran order; only C order is read`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw bad(`shape (${shape[1]})`);
  const [ortType, Typed] = type;
  const count = dims.reduce((a, b) => a * b, 1);
  const want = count * Typed.BYTES_PER_ELEMENT;
  if (bytes.length - dataStart !== want)
    throw bad(`${bytes.length - dataStart} data bytes, the shape (${dims.join(', ')}) of ${descr[1]} needs ${want}`);
  // A copy: the file's buffer need not be aligned for the typed array.
  const data = new Typed(count);
  new Uint8Array(data.buffer).set(bytes.subarray(dataStart, dataStart + want));
  return new ort.Tensor(ortType, data, dims);
}

function npyBytes(tensor) {
  const descr = NPY_DESCR[tensor.type];
  if (!descr) throw new Error(`an output has the type ${tensor.type}, which .npy output does not support here`);
  const dims = tensor.dims;
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const data = tensor.data;
  return Buffer.concat([pre, Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

// ---- main -----------------------------------------------------------------------------

function loadOrt() {
  const dir = process.env.DZ_ORT_DIR || '/opt/dzc/onnxruntime-node';
  const require = createRequire(path.join(path.resolve(dir), 'node_modules', '.dz-ort-resolve.js'));
  try {
    return require('onnxruntime-node');
  } catch (e) {
    const why = e.code === 'MODULE_NOT_FOUND' ? 'not found' : e.message.split('\n')[0];
    throw new Error(`cannot load onnxruntime-node from '${dir}/node_modules' (${why}); ` +
      'run scripts/install-deps.sh or set DZ_ORT_DIR');
  }
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  if (args.check) {
    const version = ort.env?.versions?.node ?? ort.env?.versions?.common ?? 'unknown version';
    process.stdout.write(`onnxruntime-node ${version}\n`);
    return;
  }
  if (!fs.existsSync(args.model)) throw new Error(`cannot read '${args.model}': no such file`);
  const options = { executionProviders: ['cpu'], graphOptimizationLevel: args.optimization, executionMode: 'sequential' };
  if (args.threads) {
    options.intraOpNumThreads = args.threads;
    options.interOpNumThreads = 1;
  }
  let session;
  try {
    session = await ort.InferenceSession.create(args.model, options);
  } catch (e) {
    throw new Error(`onnxruntime cannot load '${args.model}': ${e.message}`);
  }
  const names = session.inputNames;
  if (args.inputs.length !== names.length)
    throw new Error(`'${args.model}' takes ${names.length} input(s) (${names.join(', ')}), got ${args.inputs.length} --input`);
  const feeds = {};
  names.forEach((name, i) => { feeds[name] = readNpy(args.inputs[i], ort); });

  const run = async () => {
    try {
      return await session.run(feeds);
    } catch (e) {
      throw new Error(`onnxruntime failed on '${args.model}': ${e.message}`);
    }
  };
  let results = await run();
  if (args.bench) {
    const ms = [];
    for (let i = 0; i < args.bench; ++i) {
      const t0 = process.hrtime.bigint();
      results = await run();
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const round = (x) => Number(x.toFixed(4));
    process.stdout.write(JSON.stringify({
      model: args.model, runs: args.bench, threads: args.threads || null,
      median_ms: round(median(ms)), mean_ms: round(ms.reduce((a, b) => a + b, 0) / ms.length),
      min_ms: round(Math.min(...ms)),
    }) + '\n');
  }
  try {
    fs.mkdirSync(args.outputDir, { recursive: true });
  } catch (e) {
    throw new Error(`cannot make --output-dir '${args.outputDir}': ${e.message}`);
  }
  session.outputNames.forEach((name, i) => {
    const file = path.join(args.outputDir, `output_${i}.npy`);
    try {
      fs.writeFileSync(file, npyBytes(results[name]));
    } catch (e) {
      throw new Error(`cannot write '${file}': ${e.message}`);
    }
  });
}

try {
  await main();
} catch (e) {
  if (e instanceof UsageError) fail(`${e.message} (see --help)`, 2);
  fail(String(e.message).replace(/\s*\n\s*/g, '; '), 1);
}
