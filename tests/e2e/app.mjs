// End-to-end: the real release build in headless Chromium. Serves $QP_DIST (default dist/),
// opens the app, checks the topology shows the first preset, picks a preset from the selector,
// steps forward and back with the buttons and the keyboard, and checks the counter, the drawing
// and the timeline's event text. Any page error or console error fails the run.
//
//   trunk build --release --offline && node tests/e2e/app.mjs
//   QP_SCREENSHOT=docs/screenshot.png node tests/e2e/app.mjs   # also saves a 1280×800 shot
//   (QP_SCREENSHOT_PRESET=id QP_SCREENSHOT_STEP=n: of that preset after n steps)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { assertNoProblems, launch, newPage, serve } from './browser.mjs';

// What the work-queue preset declares, read from its file so that the test follows the preset.
const work = JSON.parse(
  readFileSync(new URL('../../www/presets/work-queue.json', import.meta.url), 'utf8'),
);
const op = (name) => work.steps.find((s) => s.op === name);
const queue = op('queue.declare').queue;
const consume = op('basic.consume');
const consumer = `consumer:${consume.channel || 'main'}/${consume.consumer_tag}`;
const firstBody = op('basic.publish').body;
// Steps until the first publish is applied (and delivered at once: prefetch 1, idle worker).
const firstPublish = work.steps.findIndex((s) => s.op === 'basic.publish') + 1;

const server = await serve();
const browser = await launch();
try {
  const page = await newPage(browser, { viewport: { width: 1280, height: 800 } });
  await page.goto(`${server.url}/`);

  const counter = page.locator('.qp .counter');
  const svg = page.locator('.qp svg.topology');
  await svg.waitFor({ timeout: 30_000 });

  // The default scenario (first preset): its queue is drawn once declared.
  const presetSelect = page.locator('.qp-preset select');
  const presets = await presetSelect.locator('option').evaluateAll((os) =>
    os.map((o) => o.value).filter((v) => v),
  );
  assert.ok(presets.length >= 1, 'the preset selector offers presets');
  assert.match(await counter.textContent(), /^step 0 \/ \d+$/);

  // Pick the work-queue preset (the first one if it is gone) explicitly from the selector.
  const preset = presets.includes('work-queue') ? 'work-queue' : presets[0];
  await presetSelect.selectOption(preset);
  const len = Number((await counter.textContent()).match(/\/ (\d+)$/)[1]);
  assert.ok(len >= 3, `the preset has steps (${len})`);

  // Buttons: forward three times.
  const forward = page.locator('.qp .controls button.forward');
  const back = page.locator('.qp .controls button.back');
  for (let i = 1; i <= 3; i++) {
    await forward.click();
    assert.equal(await counter.textContent(), `step ${i} / ${len}`);
  }
  if (preset === 'work-queue') {
    assert.equal(await svg.locator(`[data-target="queue:${queue}"]`).count(), 1, `${queue} drawn`);
    assert.equal(await svg.locator(`[data-target="${consumer}"]`).count(), 1, `${consumer} drawn`);
  }
  const current = page.locator('.qp .timeline li.step.current');
  assert.match(await current.textContent(), /#3/);
  await back.click();
  assert.equal(await counter.textContent(), `step 2 / ${len}`);

  // Keyboard: the app root takes arrows, Home, End.
  await page.locator('.qp').focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  assert.equal(await counter.textContent(), `step 4 / ${len}`);
  await page.keyboard.press('ArrowLeft');
  assert.equal(await counter.textContent(), `step 3 / ${len}`);
  await page.keyboard.press('End');
  assert.equal(await counter.textContent(), `step ${len} / ${len}`);
  await page.keyboard.press('Home');
  assert.equal(await counter.textContent(), `step 0 / ${len}`);

  if (preset === 'work-queue') {
    // After the first publish: delivered at once (prefetch 1), tag 1, with the deliver event.
    for (let i = 0; i < firstPublish; i++) await page.keyboard.press('ArrowRight');
    assert.equal(await counter.textContent(), `step ${firstPublish} / ${len}`);
    const delivered = svg.locator('.msg.unacked');
    assert.equal(await delivered.count(), 1, 'one unacked message');
    assert.match(await delivered.first().textContent(), /t1/);
    assert.match(await current.textContent(), /basic\.deliver/);
    assert.match(await current.textContent(), /delivery_tag=1/);
    // Inspector: click the message.
    await delivered.first().click();
    const inspector = page.locator('.qp .inspector');
    assert.ok((await inspector.textContent()).includes(firstBody), 'the body in the inspector');
    assert.match(await inspector.textContent(), /delivery tag1/);
    // One more step: the second message waits in the queue behind the prefetch window.
    await page.locator('.qp').focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await svg.locator('.msg:not(.unacked)').count(), 1, 'one ready message');
  }

  // Keyboard alone: Tab reaches the drawing's queue, Enter opens it in the inspector.
  await page.locator('.qp').focus();
  const focusedTarget = () =>
    page.evaluate(() => {
      let el = document.activeElement;
      while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
      return el ? el.getAttribute('data-target') : null;
    });
  let reached = false;
  for (let i = 0; i < 80 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = (await focusedTarget()) === `queue:${queue}`;
  }
  assert.ok(reached, `Tab reaches queue:${queue}`);
  await page.keyboard.press('Enter');
  assert.equal(await page.locator('.qp .inspector h2').textContent(), `Queue ${queue}`);

  // A broken scenario shows an error, keeps the page, and never panics.
  const editor = page.locator('.qp .editor textarea');
  if (await editor.count()) {
    await editor.fill('{"format": "queue-playground/v1", "name": "x", "steps": [{"op": "nope"}]}');
    await page.locator('.qp [role=alert]').first().waitFor();
    assert.match(await page.locator('.qp [role=alert]').first().textContent(), /step 0/);
    assert.equal(await svg.count(), 1, 'the last good drawing stays');
    await presetSelect.selectOption(preset);
    await page.keyboard.press('Home');
  }

  if (process.env.QP_SCREENSHOT) {
    // QP_SCREENSHOT_PRESET and QP_SCREENSHOT_STEP choose what is shown (default: this preset
    // after its first publishes, with a message selected).
    const shot = process.env.QP_SCREENSHOT_PRESET || preset;
    await presetSelect.selectOption(shot);
    await page.locator('.qp').focus();
    await page.keyboard.press('Home');
    const steps = Number(process.env.QP_SCREENSHOT_STEP || firstPublish + 1);
    for (let i = 0; i < steps - 1; i++) await page.keyboard.press('ArrowRight');
    await page.waitForTimeout(800);
    await page.keyboard.press('ArrowRight');
    // Select a message for the inspector (an unacked one if any).
    const messages = page.locator('.qp svg.topology .msg');
    const unacked = page.locator('.qp svg.topology .msg.unacked');
    const pick = (await unacked.count()) ? unacked.first() : messages.first();
    if (await messages.count()) await pick.dispatchEvent('click');
    await page.evaluate(() => window.scrollTo(0, 0));
    // Mid-animation: arrivals done, ghosts of what just left still visible.
    await page.waitForTimeout(450);
    await page.screenshot({ path: process.env.QP_SCREENSHOT });
  }

  // An 800-pixel docs column: no horizontal scroll.
  await page.setViewportSize({ width: 800, height: 800 });
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  assert.ok(overflow <= 0, `no horizontal scroll at 800px (overflow ${overflow}px)`);

  assertNoProblems(page);
  console.log(`e2e app: ok (${preset}, ${len} steps)`);
} finally {
  await browser.close();
  await server.close();
}
