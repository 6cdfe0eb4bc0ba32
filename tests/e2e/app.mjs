// End-to-end: the real release build in headless Chromium. Serves $QP_DIST (default dist/),
// opens the app, checks the topology shows the first preset, picks a preset from the selector,
// steps forward and back with the buttons and the keyboard, and checks the counter, the drawing
// and the timeline's event text. Any page error or console error fails the run.
//
//   trunk build --release --offline && node tests/e2e/app.mjs
//   QP_SCREENSHOT=docs/screenshot.png node tests/e2e/app.mjs   # also saves a 1280×800 shot

import assert from 'node:assert/strict';
import { assertNoProblems, launch, newPage, serve } from './browser.mjs';

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
    assert.equal(await svg.locator('[data-target="queue:task_queue"]').count(), 1, 'task_queue drawn');
    assert.equal(
      await svg.locator('[data-target="consumer:worker/w1"]').count(),
      1,
      'the consumer w1 drawn',
    );
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
    // After the first publish: delivered to w1 (prefetch 1), tag 1, with the deliver event listed.
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    assert.equal(await counter.textContent(), `step 4 / ${len}`);
    const delivered = svg.locator('.msg.unacked');
    assert.equal(await delivered.count(), 1, 'one unacked message');
    assert.match(await delivered.first().textContent(), /t1/);
    assert.match(await current.textContent(), /basic\.deliver/);
    assert.match(await current.textContent(), /delivery_tag=1/);
    // Inspector: click the message.
    await delivered.first().click();
    const inspector = page.locator('.qp .inspector');
    assert.match(await inspector.textContent(), /order #1/);
    assert.match(await inspector.textContent(), /delivery tag1/);
    // One more step: the second message waits in the queue behind the prefetch window.
    await page.locator('.qp').focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await svg.locator('.msg:not(.unacked)').count(), 1, 'one ready message');
  }

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
    await page.locator('.qp').focus();
    const steps = preset === 'work-queue' ? 5 : Math.min(5, len);
    for (let i = 0; i < steps; i++) await page.keyboard.press('ArrowRight');
    await page.locator(`.qp svg.topology .msg`).first().click().catch(() => {});
    await page.waitForTimeout(2_000);
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
