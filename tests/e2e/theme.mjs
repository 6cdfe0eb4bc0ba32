// End-to-end: themes as a reader sees them. `auto` follows the system setting, `light` and
// `dark` hold against it; checked on the colours Chromium computes, not on attributes.
//
//   cargo xtask build && node tests/e2e/theme.mjs

import assert from 'node:assert/strict';
import { assertNoProblems, launch, newPage, serve } from './browser.mjs';

const server = await serve();
const browser = await launch();

/** The background of a playground mounted with `theme` on a page whose system setting is `scheme`. */
async function background(scheme, theme) {
  const page = await newPage(browser, { colorScheme: scheme });
  await page.goto(`${server.url}/docs.html`);
  // The page's own embeds rendered: its module is initialized and `mount` can be called.
  await page.locator('queue-playground .qp').first().waitFor({ timeout: 30_000 });
  const color = await page.evaluate(async (theme) => {
    const { mount } = await import('/playground.js');
    const host = document.createElement('div');
    document.body.append(host);
    mount(host, { preset: 'hello-world', mode: 'player', theme });
    for (let i = 0; i < 100; i++) {
      const app = host.shadowRoot && host.shadowRoot.querySelector('.qp');
      if (app) return getComputedStyle(app).backgroundColor;
      await new Promise((ok) => setTimeout(ok, 50));
    }
    throw new Error('the playground never rendered');
  }, theme);
  assertNoProblems(page);
  await page.context().close();
  return color;
}

try {
  const light = await background('light', 'auto');
  const dark = await background('dark', 'auto');
  assert.notEqual(light, dark, 'auto follows the system setting');
  assert.equal(await background('dark', 'light'), light, 'light holds on a dark system');
  assert.equal(await background('light', 'dark'), dark, 'dark holds on a light system');
  console.log(`e2e theme: light ${light}, dark ${dark}`);
} finally {
  await browser.close();
  await server.close();
}
