process.env.EGL_PLATFORM ??= "surfaceless";
const tf = await import("@tensorflow/tfjs");
const { selectBackend } = await import("./dist/worker/backend.js");
const info = await selectBackend(tf, process.argv[2]);
const m = tf.sequential();
m.add(tf.layers.dense({ inputShape: [784], units: 256, activation: "relu" }));
m.add(tf.layers.dense({ units: 256, activation: "relu" }));
m.add(tf.layers.dense({ units: 10 }));
const B = Number(process.argv[3] ?? 64);
const x = tf.randomUniform([B, 784]); const y = tf.oneHot(tf.tensor1d(Array.from({length:B},(_, i)=>i%10),"int32"),10);
async function step() { const { grads, value } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, m.apply(x))); for (const g of Object.values(grads)) await g.data(); tf.dispose(grads); value.dispose(); }
for (let i = 0; i < 5; i++) await step();
const t = performance.now(); let n = 0;
while (performance.now() - t < 3000) { await step(); n++; }
console.log(info.device, "B", B, (n / ((performance.now() - t) / 1000)).toFixed(1), "grads/s");
