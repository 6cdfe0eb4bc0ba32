// The engine from JavaScript (`Broker`, src/js_api.rs) as Node loads it, against the native
// command line: the same scenario must give the same trace.
//
//   cargo build --lib --profile wasm-release --target wasm32-unknown-unknown
//   wasm-bindgen --target nodejs --out-dir target/node-pkg \
//     target/wasm32-unknown-unknown/wasm-release/queue_playground.wasm
//   cargo build --release --bin qp
//   node --test tests/node/
//
// QP_NODE_PKG (default target/node-pkg) and QP_BIN (default target/release/qp) override the
// paths; `cargo xtask test` sets both.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const pkg = process.env.QP_NODE_PKG || join(root, 'target', 'node-pkg');
const qp = process.env.QP_BIN || join(root, 'target', 'release', 'qp');
for (const [path, how] of [
  [join(pkg, 'queue_playground.js'), 'build it with wasm-bindgen --target nodejs (see the top of this file)'],
  [qp, 'build it with cargo build --release --bin qp'],
]) {
  if (!existsSync(path)) throw new Error(`${path} is missing: ${how}`);
}
const { Broker } = createRequire(import.meta.url)(join(pkg, 'queue_playground.js'));

/** The scenario files the native tests use, and the presets the app offers. */
function scenarioFiles() {
  const dirs = [join(root, 'tests', 'scenarios'), join(root, 'www', 'presets')];
  const files = dirs.flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.json') && !f.endsWith('.trace.json'))
      .map((f) => join(dir, f)),
  );
  assert.ok(files.length > 100, `expected the scenario corpus, found ${files.length} files`);
  return files.sort();
}

const scenario = (steps, seed = 0) =>
  JSON.stringify({ format: 'queue-playground/v1', name: 't', seed, steps });

test('loading the module needs no browser globals', () => {
  assert.equal(typeof globalThis.window, 'undefined');
  assert.equal(typeof globalThis.document, 'undefined');
  assert.equal(typeof Broker, 'function');
});

test('run gives the trace `qp run` prints, for every scenario', () => {
  for (const file of scenarioFiles()) {
    const native = JSON.parse(execFileSync(qp, ['run', file], { encoding: 'utf8' }));
    const broker = new Broker();
    assert.deepEqual(broker.run(readFileSync(file, 'utf8')), native, file);
  }
});

test('applying the steps one by one gives the same events and state as run', () => {
  for (const file of scenarioFiles()) {
    const text = readFileSync(file, 'utf8');
    const doc = JSON.parse(text);
    const whole = new Broker();
    const expected = whole.run(text);

    const stepwise = new Broker({ seed: doc.seed ?? 0 });
    const events = [];
    doc.steps.forEach((step, i) => {
      assert.equal(stepwise.steps, i);
      // Objects and text are both accepted; alternate to cover both.
      events.push(...stepwise.apply(i % 2 ? step : JSON.stringify(step)));
    });
    assert.deepEqual(events, expected, file);
    assert.deepEqual(stepwise.state(), whole.state(), file);
  }
});

test('apply continues the step indices after run', () => {
  const broker = new Broker();
  broker.run(scenario([{ op: 'queue.declare', queue: 'q' }]));
  assert.equal(broker.steps, 1);
  assert.deepEqual(broker.apply({ op: 'basic.get', queue: 'q' }), [
    { step: 1, event: 'basic.get-empty', channel: 'main' },
  ]);
});

test('state counts ready and unacked messages, consumers and channels', () => {
  const broker = new Broker();
  broker.run(
    scenario([
      { op: 'queue.declare', queue: 'jobs' },
      { op: 'basic.qos', channel: 'worker', prefetch_count: 1 },
      { op: 'basic.consume', channel: 'worker', queue: 'jobs', consumer_tag: 'w1' },
      { op: 'basic.publish', routing_key: 'jobs', body: 'a' },
      { op: 'basic.publish', routing_key: 'jobs', body: 'b' },
      { op: 'basic.publish', routing_key: 'jobs', body: 'c' },
    ]),
  );
  const jobs = () => broker.state().queues.find((q) => q.name === 'jobs');
  assert.equal(jobs().messages_ready, 2);
  assert.equal(jobs().messages_unacknowledged, 1);
  assert.deepEqual(jobs().ready.map((m) => m.body), ['b', 'c']);
  assert.deepEqual(jobs().consumers, [{ channel: 'worker', consumer_tag: 'w1', blocked: true }]);
  const worker = broker.state().channels.find((c) => c.name === 'worker');
  assert.deepEqual(worker.unacked.map((u) => [u.delivery_tag, u.message.body]), [[1, 'a']]);

  const events = broker.apply({ op: 'basic.ack', channel: 'worker', delivery_tag: 1 });
  assert.deepEqual(events.map((e) => [e.event, e.delivery_tag, e.body]), [['basic.deliver', 2, 'b']]);
  assert.equal(jobs().messages_ready, 1);
  assert.equal(jobs().messages_unacknowledged, 1);

  broker.reset();
  assert.equal(broker.steps, 0);
  assert.deepEqual(broker.state().queues, []);
});

test('a refused scenario or step throws an Error naming the step and field', () => {
  const broker = new Broker();
  assert.throws(
    () =>
      broker.run(
        scenario([
          { op: 'queue.declare', queue: 'q' },
          { op: 'basic.publish', routing_key: 7 },
        ]),
      ),
    { name: 'Error', message: 'step 1 (basic.publish), field `routing_key`: expected a string, found the number 7' },
  );
  broker.run(scenario([{ op: 'queue.declare', queue: 'q' }]));
  assert.throws(() => broker.apply({ op: 'basic.ack', delivery_tag: 'one' }), {
    message: /^step 1 \(basic\.ack\), field `delivery_tag`: expected a whole number/,
  });
  assert.throws(() => broker.apply('{"op": '), { message: /^step 1: not valid JSON/ });
  // A refused step is not applied: the next one still gets index 1.
  assert.equal(broker.steps, 1);
  assert.throws(() => broker.apply(42), { message: 'step: expected JSON text or an object, found 42' });
  assert.throws(() => new Broker({ seed: -1 }), { message: /option `seed`: got -1/ });
  assert.throws(() => new Broker({ sead: 1 }), { message: /unknown option `sead`/ });
});

test('a seed is a whole number or a BigInt below 2^64', () => {
  assert.equal(new Broker({ seed: 5n }).steps, 0);
  assert.equal(new Broker({ seed: Number.MAX_SAFE_INTEGER }).steps, 0);
  assert.throws(() => new Broker({ seed: 2n ** 64n }), { message: /option `seed`: got 18446744073709551616n/ });
  assert.throws(() => new Broker({ seed: 1.5 }), { message: /option `seed`: got 1.5/ });
  assert.throws(() => new Broker('7'), { message: /expected an object such as \{ seed: 7 \}/ });
});
