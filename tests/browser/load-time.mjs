// Measures a viewer in headless Chromium: time until the page is ready (parsed, statistics decoded,
// first heatmap drawn), then the latency of a step change, a layer change and a token hover.
//
//   node tests/browser/load-time.mjs FILE.html [SCREENSHOT.png]
//
// Used with bench/dlmscope-bench-viewer (docs/viewer.md lists the numbers). Prints one JSON line.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [html, shot] = process.argv.slice(2);
if (!html) {
  console.error('usage: node load-time.mjs FILE.html [SCREENSHOT.png]');
  process.exit(2);
}
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'dlmscope-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.DLMSCOPE_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1400, height: 1000 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const t0 = Date.now();
  await page.goto(pathToFileURL(path.resolve(html)).href, { timeout: 120000 });
  const parsedMs = Date.now() - t0;
  await page.waitForSelector('body[data-ready="1"]', { timeout: 120000 });
  const readyMs = Date.now() - t0;

  // Latency of a UI change: from the event to the next heatmap draw, measured inside the page.
  const timeChange = (fn) => page.evaluate(async (src) => {
    const before = document.body.dataset.heat;
    const t = performance.now();
    (0, eval)(src)();
    while (document.body.dataset.heat === before) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => requestAnimationFrame(r));
    return performance.now() - t;
  }, fn);
  const T = await page.evaluate(() => dlmscopeViewer.meta.T);
  const stepMs = [];
  for (let k = 1; k <= 12; k++) {
    const s = Math.floor((k * 37) % T);
    stepMs.push(await timeChange(`() => { const e = document.getElementById('step'); e.value = '${s}'; e.dispatchEvent(new Event('input')); }`));
  }
  const layers = await page.evaluate(() => dlmscopeViewer.meta.capture.layers.length);
  const layerMs = [];
  for (let k = 1; k <= 6; k++) {
    const li = (k * 5) % layers;
    layerMs.push(await timeChange(`() => { const e = document.getElementById('layer'); e.value = '${li}'; e.dispatchEvent(new Event('change')); }`));
  }
  const P = await page.evaluate(() => dlmscopeViewer.meta.P);
  const t1 = Date.now();
  await page.hover(`#strip .tok[data-i="${P + 5}"]`);
  await page.waitForFunction(() => document.querySelector('#focus').textContent.includes('attends to') ||
    document.querySelector('#focus').textContent.includes('no attention map'));
  const hoverMs = Date.now() - t1;
  if (shot) await page.screenshot({ path: shot, fullPage: false });
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(JSON.stringify({
    file: html, mb: +(fs.statSync(html).size / 1e6).toFixed(2), parsed_ms: parsedMs, ready_ms: readyMs,
    step_change_ms_median: +median(stepMs).toFixed(1), step_change_ms_max: +Math.max(...stepMs).toFixed(1),
    layer_change_ms_median: +median(layerMs).toFixed(1), hover_ms: hoverMs, errors,
  }));
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
