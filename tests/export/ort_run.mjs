// Runs an ONNX model with onnxruntime-node over raw float32 inputs, for export_test.py:
//   node ort_run.mjs MODEL.onnx INPUT.f32 N,D1,D2,... OUT.json
// INPUT.f32 holds the input tensor's floats (little-endian, row-major); OUT.json gets the first
// output as [[...], ...], one array per sample.
import fs from 'node:fs';
import * as ort from 'onnxruntime-node';

const [model, input, shapeText, out] = process.argv.slice(2);
const shape = shapeText.split(',').map(Number);
const bytes = fs.readFileSync(input);
const x = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
const session = await ort.InferenceSession.create(model, {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
});
const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, shape) });
const y = result[session.outputNames[0]];
const width = y.dims[1];
const rows = [];
for (let r = 0; r < y.dims[0]; r++) rows.push(Array.from(y.data.slice(r * width, (r + 1) * width)));
fs.writeFileSync(out, JSON.stringify(rows));
