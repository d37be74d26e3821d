// Browser tests of the HTML viewer: the real dlmscope binary writes runs and their viewers, and
// Debian's Chromium (driven by playwright-core; no browser is ever downloaded) opens them from
// file:// with the network unreachable.
//
//   DLMSCOPE_BIN=build/dlmscope DLMSCOPE_TINY=tests/fixtures/mmada-tiny/checkpoint \
//   DLMSCOPE_BROWSER_OUT=build/tests/browser node --test tests/browser/viewer.test.mjs
//
// Checks: no console error or failed request; the slider changes the heatmap's pixels; hovering a
// token colours what it attends to and what attends to it and lists them; decoded maps are
// probabilities (rows sum to 1 within the quantisation error); per-head maps, a statistics-only
// run and a run thinned by --max-mb load too. Screenshots go to $DLMSCOPE_BROWSER_OUT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const BIN = process.env.DLMSCOPE_BIN || path.join(root, 'build', 'dlmscope');
const TINY = process.env.DLMSCOPE_TINY || path.join(root, 'tests', 'fixtures', 'mmada-tiny', 'checkpoint');
const OUT = process.env.DLMSCOPE_BROWSER_OUT || path.join(os.tmpdir(), 'dlmscope-browser');
const CHROMIUM = process.env.DLMSCOPE_CHROMIUM || '/usr/bin/chromium';

const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`);
const skip = haveChromium ? false : `${CHROMIUM} is missing (scripts/setup.sh installs it)`;

let context = null;
let profile = null;

function dlmscope(...args) {
  return execFileSync(BIN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// A small run: 64 generated tokens in 4 blocks, 32 steps (every step captured).
function makeRun(name, ...capture) {
  const dir = path.join(OUT, name);
  fs.rmSync(dir, { recursive: true, force: true });
  dlmscope('generate', 'What is the capital of France?', '--model', TINY, '--gen-length', '64', '--block-length', '16',
    '--steps', '32', '--out', dir, '-q', ...capture);
  return dir;
}

function writeViewer(dir, ...extra) {
  const html = path.join(dir, 'viewer.html');
  const out = dlmscope('view', dir, '--out', html, ...extra);
  assert.match(out, /^viewer\s+.*viewer\.html \(\d+\.\d\d MB\)$/m, out);
  return html;
}

// Opens a viewer and collects every console error, page error and non-local request.
async function open(html) {
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  page.on('request', (r) => { if (!/^(file|data|blob):/.test(r.url())) problems.push(`network request: ${r.url()}`); });
  const t0 = Date.now();
  await page.goto(pathToFileURL(html).href);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
  const loadMs = Date.now() - t0;
  return { page, problems, loadMs };
}

// A hash of the heatmap canvas's pixels and the count of non-blank pixels.
async function heatPixels(page) {
  return page.evaluate(() => {
    const src = document.getElementById('heat');
    const c = document.createElement('canvas');  // a copy, so the page's canvas is never read back
    c.width = src.width; c.height = src.height;
    const ctx = c.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(src, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let h = 2166136261, lit = 0;
    for (let i = 0; i < d.length; i += 4) {
      h = Math.imul(h ^ d[i], 16777619); h = Math.imul(h ^ d[i + 1], 16777619); h = Math.imul(h ^ d[i + 2], 16777619);
      if (d[i + 3] && (d[i] | d[i + 1] | d[i + 2])) lit++;
    }
    return { hash: h >>> 0, lit };
  });
}

// The `attn` member of a step's .npz, read here without dlmscope (stored zip + .npy, f16/f32).
function readAttn(npzPath) {
  const b = fs.readFileSync(npzPath);
  let eocd = b.length - 22;
  while (eocd >= 0 && b.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  const n = b.readUInt16LE(eocd + 10);
  let p = b.readUInt32LE(eocd + 16);
  for (let k = 0; k < n; k++) {
    const size = b.readUInt32LE(p + 20), nlen = b.readUInt16LE(p + 28), xlen = b.readUInt16LE(p + 30), clen = b.readUInt16LE(p + 32);
    const loff = b.readUInt32LE(p + 42), name = b.toString('latin1', p + 46, p + 46 + nlen);
    p += 46 + nlen + xlen + clen;
    if (name !== 'attn.npy') continue;
    const data = loff + 30 + b.readUInt16LE(loff + 26) + b.readUInt16LE(loff + 28);
    const npy = b.subarray(data, data + size);
    const hlen = npy[6] === 1 ? npy.readUInt16LE(8) : npy.readUInt32LE(8);
    const hstart = npy[6] === 1 ? 10 : 12;
    const header = npy.toString('latin1', hstart, hstart + hlen);
    const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').filter((x) => x.trim()).map(Number);
    const body = npy.subarray(hstart + hlen);
    const f16 = header.includes("'<f2'");
    const count = shape.reduce((a, x) => a * x, 1);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      if (!f16) { out[i] = body.readFloatLE(4 * i); continue; }
      const h = body.readUInt16LE(2 * i), e = (h >> 10) & 31, m = h & 1023;
      out[i] = (h & 0x8000 ? -1 : 1) * (e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15));
    }
    return { shape, data: out };
  }
  throw new Error(`${npzPath} has no attn member`);
}

async function setStepAndWait(page, step) {
  const before = await page.evaluate(() => document.body.dataset.heat);
  await page.evaluate((s) => {
    const el = document.getElementById('step');
    el.value = String(s);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, step);
  await page.waitForFunction((b) => document.body.dataset.heat !== b, before);
}

before(async () => {
  if (skip) return;
  fs.mkdirSync(OUT, { recursive: true });
  const { chromium } = await import('playwright-core');
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'dlmscope-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (context) await context.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

test('head-mean run: loads offline, slider changes the heatmap, hover shows attention', { skip }, async () => {
  const run = makeRun('mean', '--visualize-attention');
  const html = writeViewer(run);
  const { page, problems, loadMs } = await open(html);
  console.log(`# viewer of the head-mean run: ${(fs.statSync(html).size / 1e6).toFixed(2)} MB, ready in ${loadMs} ms`);

  // The decode animation and the heatmap at step 0.
  const meta = await page.evaluate(() => ({ P: dlmscopeViewer.meta.P, L: dlmscopeViewer.meta.L, T: dlmscopeViewer.meta.T }));
  assert.equal(meta.T, 32);
  const first = await heatPixels(page);
  assert.ok(first.lit > 1000, `the heatmap is blank (${first.lit} lit pixels)`);
  assert.equal(await page.locator('#strip .tok.masked').count(), meta.L - meta.P - (await page.locator('#strip .tok.new').count()));

  // Moving the slider changes the heatmap's pixels and reveals tokens.
  await setStepAndWait(page, 20);
  const later = await heatPixels(page);
  assert.notEqual(later.hash, first.hash, 'the heatmap did not change with the step');
  assert.match(await page.textContent('#step-label'), /^step 20 of 31/);
  const maskedAt20 = await page.locator('#strip .tok.masked').count();
  assert.ok(maskedAt20 < meta.L - meta.P, 'no token was committed by step 20');

  // Hovering a generated token: the strip colours what it attends to (background) and what
  // attends to it (underline), the focus panel lists both, the heatmap outlines its row/column.
  const i = meta.P + 3;
  await page.hover(`#strip .tok[data-i="${i}"]`);
  await page.waitForFunction(() => document.querySelector('#focus').textContent.includes('attends to'));
  await page.evaluate(() => window.scrollTo(0, 0));
  const colours = await page.evaluate(() => {
    const toks = [...document.querySelectorAll('#strip .tok')];
    return {
      to: toks.filter((t) => t.style.background.includes('attn-to')).length,
      by: toks.filter((t) => t.style.borderBottomColor.includes('attn-by')).length,
      rows: document.querySelectorAll('#focus table tr').length,
    };
  });
  assert.ok(colours.to > 1, `hovering coloured ${colours.to} tokens by attention`);
  assert.ok(colours.by > 1, `hovering underlined ${colours.by} tokens by attention received`);
  assert.ok(colours.rows >= 2, 'the focus panel lists no attention');
  const hovered = await heatPixels(page);
  assert.notEqual(hovered.hash, later.hash, 'hovering a token did not outline its row and column in the heatmap');
  await page.screenshot({ path: path.join(OUT, 'viewer-hover.png'), fullPage: true });

  // Hovering a heatmap cell reads out the query, key and probability.
  const box = await page.locator('#heat').boundingBox();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.6);
  assert.match(await page.textContent('#heat-readout'), /query \d+ .*\n→ key \d+ .*\np = /);

  // Decoded maps are attention probabilities: every stored row sums to 1 (±5 %, the log codes).
  const sums = await page.evaluate(async () => {
    const v = dlmscopeViewer, m = v.meta.maps;
    const out = [];
    for (const msi of [0, m.steps.length - 1]) {
      const a = await v.mapValues(msi, 0, 0);
      for (let r = 0; r < m.rows; r += 7) {
        let s = 0;
        for (let j = 0; j < m.cols; j++) s += a[r * m.cols + j];
        out.push(s);
      }
    }
    return out;
  });
  for (const s of sums) assert.ok(Math.abs(s - 1) < 0.05, `a decoded row sums to ${s}`);

  // ... and they are the stored maps: each value within half a log step (±2.3 %) of the .npz's,
  // or below 1e-5 of the map's maximum where the page shows 0.
  const check = await page.evaluate(async () => {
    const m = dlmscopeViewer.meta.maps;
    const msi = Math.floor(m.steps.length / 2);
    return { step: m.steps[msi], layer: m.layers[0], values: Array.from(await dlmscopeViewer.mapValues(msi, 0, 0)) };
  });
  const npz = path.join(run, 'generation_with_attention', `step_${String(check.step).padStart(5, '0')}.npz`);
  const attn = readAttn(npz);
  const [, , rows, cols] = attn.shape;
  const want = attn.data.subarray(check.layer * rows * cols, (check.layer + 1) * rows * cols);
  const max = want.reduce((a, x) => Math.max(a, x), 0);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    if (want[i] <= max * 1e-5) { assert.ok(check.values[i] <= max * 1.1e-5, `value ${i}: ${check.values[i]} for ${want[i]}`); continue; }
    worst = Math.max(worst, Math.abs(check.values[i] / want[i] - 1));
  }
  console.log(`# step ${check.step} layer ${check.layer}: decoded vs stored map, worst relative error ${(100 * worst).toFixed(2)} %`);
  assert.ok(worst < 0.024, `decoded maps differ from the stored ones by up to ${(100 * worst).toFixed(2)} %`);

  // Playback advances the step by itself.
  await page.click('#play');
  await page.waitForFunction(() => dlmscopeViewer.state.step > 22, null, { timeout: 10000 });
  await page.click('#play');

  // The other controls work without errors: colour scale and range, row set, zoom, decode chart.
  let shown = await heatPixels(page);
  for (const [sel, value] of [['#scale', 'linear'], ['#range', 'row'], ['#range', 'fixed'], ['#scale', 'log'], ['#range', 'map']]) {
    const before = await page.evaluate(() => document.body.dataset.heat);
    await page.selectOption(sel, value);
    await page.waitForFunction((b) => document.body.dataset.heat !== b, before);
    const now = await heatPixels(page);
    assert.notEqual(now.hash, shown.hash, `${sel} = ${value} did not change the heatmap`);
    shown = now;
  }
  await page.selectOption('#rowset', '2');
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  for (let k = 0; k < 12; k++) await page.mouse.wheel(0, -120);
  await page.waitForFunction(() => dlmscopeViewer.state.view !== null && dlmscopeViewer.state.view.w < dlmscopeViewer.meta.L / 3);
  await page.screenshot({ path: path.join(OUT, 'viewer-zoom.png') });
  await page.dblclick('#heat');
  const dbox = await page.locator('#decode').boundingBox();
  await page.locator('#decode').click({ position: { x: dbox.width * 0.7, y: dbox.height / 2 } });
  await page.waitForFunction(() => dlmscopeViewer.state.pinned !== null);

  await setStepAndWait(page, 12);
  await page.mouse.move(0, 0);
  await page.evaluate(() => window.scrollTo(0, 0));  // the sticky controls belong at the top
  await page.screenshot({ path: path.join(OUT, 'viewer.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test('per-head run: head selector shows each head, different from the mean', { skip }, async () => {
  const run = makeRun('heads', '--capture-heads', 'all');
  const { page, problems } = await open(writeViewer(run));
  const mean = await heatPixels(page);
  const before = await page.evaluate(() => document.body.dataset.heat);
  await page.selectOption('#head', '2');
  await page.waitForFunction((b) => document.body.dataset.heat !== b, before);
  const head2 = await heatPixels(page);
  assert.notEqual(head2.hash, mean.hash, 'head 2 looks like the head mean');
  assert.match(await page.textContent('#heat-title'), /head 2/);
  assert.ok(await page.locator('#heat-message').isHidden());
  assert.deepEqual(problems, []);
  await page.close();
});

test('statistics-only run: no maps, metric curves still drawn', { skip }, async () => {
  const run = makeRun('stats-only', '--capture-heads', 'none');
  const { page, problems } = await open(writeViewer(run));
  assert.match(await page.textContent('#heat-message'), /stores no attention maps/);
  assert.equal(await page.locator('#metrics .chart').count(), 9);
  const val = await page.textContent('#metrics .chart .val');
  assert.match(val, /^step 0: /);
  assert.deepEqual(problems, []);
  await page.close();
});

test('--max-mb thins the maps and the page says so', { skip }, async () => {
  const run = makeRun('thin', '--capture-heads', 'all');
  const full = fs.statSync(writeViewer(run)).size;
  const html = writeViewer(run, '--max-mb', String(Math.max(0.2, (full / 1e6) * 0.25).toFixed(2)));
  const thin = fs.statSync(html).size;
  assert.ok(thin < full * 0.3, `--max-mb did not thin the file (${thin} of ${full} bytes)`);
  const { page, problems } = await open(html);
  const notices = await page.textContent('#notices');
  assert.match(notices, /per-head maps are left out|captured steps are embedded/);
  const a = await heatPixels(page);
  await setStepAndWait(page, 31);
  const b = await heatPixels(page);
  assert.notEqual(a.hash, b.hash);
  await page.screenshot({ path: path.join(OUT, 'viewer-thin.png'), fullPage: false });
  assert.deepEqual(problems, []);
  await page.close();
});
