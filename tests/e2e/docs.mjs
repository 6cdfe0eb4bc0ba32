// The example docs page (www/docs.html, served as /docs.html) in headless Chromium: every embed
// mounts and runs its scenario, one is driven through its handle, styles stay on their side of
// the shadow roots, and destroy() empties an embed.
//
//   trunk build --release --offline && node tests/e2e/docs.mjs

import assert from 'node:assert/strict';
import { serve, launch, newPage, assertNoProblems } from './browser.mjs';

const HOSTS = 'queue-playground, [data-queue-playground], #prefetch-demo';
const RED = 'rgb(255, 0, 0)';

const server = await serve();
const browser = await launch();
try {
  const page = await newPage(browser);
  await page.goto(`${server.url}/docs.html`);

  // Every embed on the page mounted an app in its shadow root and loaded its scenario.
  const count = await page.$$eval(HOSTS, (hosts) => hosts.length);
  assert.equal(count, 6, 'the page has 6 embeds');
  await page.waitForFunction(
    (sel) =>
      [...document.querySelectorAll(sel)].every((h) => {
        const container = h.shadowRoot?.querySelector('.qp-embed');
        return container && container.childElementCount > 0 && h.playground?.state().length > 0;
      }),
    HOSTS,
    { timeout: 30_000 },
  );
  const states = await page.$$eval(HOSTS, (hosts) =>
    hosts.map((h) => ({ host: h.id, ...h.playground.state() })),
  );
  for (const s of states) {
    assert.equal(s.error, null, `${s.host}: ${s.error}`);
    assert.ok(s.broker, `${s.host} has no broker state`);
  }
  // Each has its own storage id.
  assert.equal(new Set(states.map((s) => s.id)).size, states.length, JSON.stringify(states.map((s) => s.id)));

  // start-step: the manual-acks embed opens after its three publishes: two delivered (prefetch
  // 2), one waiting.
  const acks = states.find((s) => s.host === 'docs-manual-acks');
  assert.equal(acks.position, 6);
  const orders = acks.broker.queues.find((q) => q.name === 'orders');
  assert.deepEqual([orders.messages_ready, orders.messages_unacknowledged], [1, 2]);

  // The scripted embed, through its handle and through the page's buttons.
  const tasks = () =>
    page.evaluate(() => {
      const { position, broker } = document.getElementById('prefetch-demo').playground.state();
      const q = broker.queues.find((q) => q.name === 'tasks');
      return [position, q ? q.messages_ready : null, q ? q.messages_unacknowledged : null];
    });
  const positionIs = (n) =>
    page.waitForFunction(
      (n) => document.getElementById('prefetch-demo').playground.state().position === n,
      n,
      { timeout: 10_000 },
    );
  await page.evaluate(() => document.getElementById('prefetch-demo').playground.seek(5));
  await positionIs(5);
  // Two published, one delivered (prefetch 1).
  assert.deepEqual(await tasks(), [5, 1, 1]);
  await page.click('#prefetch-step');
  await positionIs(6);
  // The ack let the second message through: nothing ready, one unacked.
  assert.deepEqual(await tasks(), [6, 0, 1]);
  await page.click('#prefetch-back');
  await positionIs(5);
  await page.waitForFunction(
    () => document.getElementById('prefetch-readout').textContent === 'step 5 of 7: 1 ready, 1 unacked',
    null,
    { timeout: 10_000 },
  );
  // The other embeds did not move: each has its own engine.
  const after = await page.$$eval(HOSTS, (hosts) =>
    hosts.map((h) => ({ host: h.id, position: h.playground.state().position })),
  );
  for (const s of states.filter((s) => s.host !== 'prefetch-demo')) {
    assert.equal(after.find((a) => a.host === s.host).position, s.position, s.host);
  }

  // Styles do not leak out: the page keeps the docs style sheet's values, not the app's.
  const pageStyle = await page.evaluate(() => ({
    main: getComputedStyle(document.querySelector('main')).maxWidth,
    h1: getComputedStyle(document.querySelector('h1')).color,
    body: getComputedStyle(document.body).fontFamily,
  }));
  assert.deepEqual(pageStyle, {
    main: '736px',
    h1: 'rgb(34, 34, 34)',
    body: 'Georgia, "DejaVu Serif", serif',
  });

  // Nor in: a page rule for every paragraph, span and div, and an inherited colour on body,
  // change nothing inside an embed.
  await page.addStyleTag({
    content: `body { color: ${RED} } p, div, span, li, button { color: ${RED} !important; }`,
  });
  const reds = await page.$$eval(HOSTS, (hosts, red) =>
    hosts.flatMap((h) =>
      [...h.shadowRoot.querySelectorAll('*')]
        .filter((e) => e.tagName !== 'STYLE' && getComputedStyle(e).color === red)
        .map((e) => `${h.id}: <${e.tagName.toLowerCase()}>`),
    ),
    RED,
  );
  assert.deepEqual(reds, []);
  assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('main p')).color), RED);

  // destroy() empties the embed, and its handle is spent.
  const destroyed = await page.evaluate(() => {
    const host = document.getElementById('docs-requeue');
    const handle = host.playground;
    handle.destroy();
    let error = null;
    try {
      handle.state();
    } catch (e) {
      error = e.message;
    }
    return { children: host.shadowRoot.childNodes.length, property: host.playground, error };
  });
  assert.deepEqual(destroyed, {
    children: 0,
    property: undefined,
    error: 'this playground was destroyed',
  });

  // Elements added later mount too; refused options show as text in the embed, not as an
  // exception on the page.
  const late = await page.evaluate(() => {
    const ok = document.createElement('queue-playground');
    ok.id = 'late';
    ok.setAttribute('mode', 'player');
    ok.setAttribute('preset', 'work-queue');
    const bad = document.createElement('queue-playground');
    bad.setAttribute('mode', 'huge');
    document.querySelector('main').append(ok, bad);
    return {
      id: ok.playground.id,
      error: bad.playground.state().error,
      shown: bad.shadowRoot.querySelector('[role=alert]').textContent,
    };
  });
  assert.equal(late.id, 'late');
  assert.equal(late.error, 'option `mode`: got "huge", expected `full`, `compact` or `player`');
  assert.equal(late.shown, late.error);
  await page.waitForFunction(() => document.getElementById('late').playground.state().length > 0, null, {
    timeout: 10_000,
  });
  // Removed from the page, an element's playground is destroyed.
  const removed = await page.evaluate(() => {
    const host = document.getElementById('late');
    host.remove();
    return { children: host.shadowRoot.childNodes.length, property: host.playground };
  });
  assert.deepEqual(removed, { children: 0, property: undefined });

  // A scenario fetched by URL; a URL that is not there is reported in the embed.
  const fetched = await page.evaluate(async () => {
    const { mount } = await import('./playground.js');
    const results = {};
    for (const [name, src] of [['ok', 'presets/work-queue.json'], ['missing', 'presets/none.json']]) {
      const host = document.createElement('div');
      document.querySelector('main').append(host);
      const handle = mount(host, { src, mode: 'player' });
      // Loaded or refused: polled, since the fetch takes its time.
      for (let i = 0; i < 200 && !handle.state().length && !handle.state().error; i++) {
        await new Promise((done) => setTimeout(done, 50));
      }
      results[name] = handle.state();
      handle.destroy();
    }
    return results;
  });
  const preset = JSON.parse(await (await fetch(`${server.url}/presets/work-queue.json`)).text());
  assert.equal(fetched.ok.length, preset.steps.length);
  assert.equal(fetched.ok.error, null);
  assert.match(fetched.missing.error ?? '', /none\.json/, JSON.stringify(fetched.missing));
  // The failed fetch's 404 is the one console error the page may show.
  page.problems = page.problems.filter((p) => !/404/.test(p));
  assertNoProblems(page);

  // The app page is one full playground, mounted the same way.
  const app = await newPage(browser);
  await app.goto(`${server.url}/`);
  await app.waitForFunction(() => document.getElementById('app')?.playground?.state().length > 0, null, {
    timeout: 30_000,
  });
  assert.equal(await app.evaluate(() => document.getElementById('app').playground.id), 'app');
  assertNoProblems(app);
  console.log(`docs page: ${count} embeds mounted, driven, isolated and destroyed`);
} finally {
  await browser.close();
  await server.close();
}
