// End-to-end: the app page keeps its broker in IndexedDB, and a reload is a broker restart.
// Opens the release build, stops the work-queue preset after its first two persistent
// publishes (one delivered and unacked, one ready), reloads, and checks what the page says was
// restored and what it draws: both messages ready, the first one redelivered. A second tab on
// the same page id is read-only. Any page error or console error fails the run.
//
//   cargo xtask build && node tests/e2e/reload.mjs

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { assertNoProblems, launch, newPage, serve } from './browser.mjs';

const work = JSON.parse(
  readFileSync(new URL('../../www/presets/work-queue.json', import.meta.url), 'utf8'),
);
const queue = work.steps.find((s) => s.op === 'queue.declare').queue;
// Steps up to and including the second publish.
const publishes = work.steps
  .map((s, i) => (s.op === 'basic.publish' ? i + 1 : 0))
  .filter((n) => n > 0);
const stop = publishes[1];
assert.ok(stop, 'the work-queue preset publishes twice');

const server = await serve();
const browser = await launch();
try {
  // One context: two pages share its IndexedDB and Web Locks, as two tabs would.
  const page = await newPage(browser, { viewport: { width: 1280, height: 800 } });
  await page.goto(`${server.url}/`);
  const counter = page.locator('.qp .counter');
  const status = page.locator('.qp .qp-storage');
  await page.locator('.qp svg.topology').waitFor({ timeout: 30_000 });
  await page.locator('.qp-preset select').selectOption('work-queue');
  await page.locator('.qp').focus();
  for (let i = 0; i < stop; i++) await page.keyboard.press('ArrowRight');
  assert.match(await counter.textContent(), new RegExp(`^step ${stop} / `));
  await status.filter({ hasText: `saved in IndexedDB after step ${stop}` }).waitFor({
    timeout: 10_000,
  });

  await page.reload();
  const notice = page.locator('.qp .qp-notice.info');
  await notice.waitFor({ timeout: 30_000 });
  const said = await notice.textContent();
  assert.match(said, new RegExp(`Restored from IndexedDB after step ${stop}`));
  assert.match(said, /kept 1 durable queue and 2 persistent messages \(1 unacked, back as redelivered\)/);
  // The stored steps, then the restart, shown after the restart.
  assert.equal(await counter.textContent(), `step ${stop + 1} / ${stop + 1}`);
  const box = page.locator(`.qp svg.topology [data-target="queue:${queue}"]`);
  assert.match(await box.textContent(), /2 ready · 0 unacked/);

  // A second tab on the same page: one owner, the other says it is read-only.
  const second = await page.context().newPage();
  second.problems = [];
  second.on('pageerror', (e) => second.problems.push(`page error: ${e.message}`));
  await second.goto(`${server.url}/`);
  await second
    .locator('.qp .qp-storage')
    .filter({ hasText: 'read-only' })
    .waitFor({ timeout: 30_000 });
  assert.deepEqual(second.problems, []);
  assertNoProblems(page);
  console.log(`e2e reload: restored after step ${stop}, second tab read-only`);
} finally {
  await browser.close();
  await server.close();
}
