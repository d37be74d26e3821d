// dlmscope viewer: the page's code (vanilla JS, no dependencies, no network).
//
// [SECTION] data: metadata, base64 + inflate, f16 statistics, attention maps (lazy, cached),
//           the decoding schedule (steps' records, blocks, cache ages of the keys)
// [SECTION] state and controls: step slider (with each step's forward) and playback, selectors
// [SECTION] heatmap: canvas drawing, boundaries, rows not recomputed, cache ages, zoom/pan, readout
// [SECTION] token strip: the decode animation, hover attention (attends to / attended by)
// [SECTION] metric curves and decode order
// [SECTION] cache drift (--cache-audit)
// [SECTION] run information, start-up
//
// The embedded data (see docs/viewer.md): #dlm-meta holds JSON; script elements of class dlm-blob
// hold base64 blobs back to back. Blob 0 is the statistics, f16 [steps, layers, heads, 3 row sets, 9];
// then one blob per (map step, map layer, map head): zlib(rows × (1 filter byte + L codes)), where
// code q > 0 means p = exp(log_max − log_range + (q − 1)·log_range/254) and q = 0 means p ≈ 0;
// filter byte 3 marks a row the step did not recompute (no attention; its codes are 0). A run
// with a cache audit has one more blob after the maps: f16 cache_drift [audited steps, layers, heads, 3].
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);

  // ==========================================================================================
  // [SECTION] data
  // ==========================================================================================
  const meta = JSON.parse($('dlm-meta').textContent);
  // Blob b lives in chunk blobChunk[b] at character blobOffset[b]; a chunk's text is read once.
  const chunkEls = Array.from(document.querySelectorAll('script.dlm-blob'));
  const chunkText = new Array(chunkEls.length).fill(null);
  const blobChunk = [], blobOffset = [];
  {
    let b = 0;
    meta.blobs.chunks.forEach((count, c) => {
      let off = 0;
      for (let k = 0; k < count; k++, b++) { blobChunk.push(c); blobOffset.push(off); off += meta.blobs.lengths[b]; }
    });
  }
  function blobString(b) {
    const c = blobChunk[b];
    if (chunkText[c] === null) { chunkText[c] = chunkEls[c].textContent; chunkEls[c].textContent = ''; }
    return chunkText[c].substring(blobOffset[b], blobOffset[b] + meta.blobs.lengths[b]);
  }

  const P = meta.P, L = meta.L;
  const cap = meta.capture;
  const layers = cap.layers;                // model layer of each captured layer index
  const H = cap.n_heads;
  const statNames = cap.stat_names;
  const rowSetNames = cap.row_sets;
  const capSteps = cap.steps;               // captured step numbers (stats rows)
  const rowBegin = cap.rows[0], rowEnd = cap.rows[1];
  const maps = meta.maps;
  const R = maps.rows;
  // Steps on the slider: every sampler step; an incomplete run ends at its last captured step.
  const lastCaptured = capSteps.length ? capSteps[capSteps.length - 1] + 1 : 0;
  const T = Math.max(meta.complete ? Math.max(meta.T || 0, lastCaptured) : Math.min(meta.T || lastCaptured, lastCaptured), 1);
  const blockLen = meta.block_length || 0;
  const spb = meta.steps_per_block || 0;     // null (0 here) when the steps per block vary
  const tokens = meta.tokens.map((t, i) => (t === null ? null : String(t)));
  const commitStep = meta.commit_step;
  const confidence = meta.confidence;

  // The decoding schedule: every step's record (its forward's kind and the canvas rows it
  // recomputed), blocks with the steps each took, and which step computed each key's K/V.
  const sched = meta.schedule && meta.schedule.step ? meta.schedule : { step: [], block: [], step_in_block: [], kind: [], rows: [] };
  const recIndex = new Map(sched.step.map((s, k) => [s, k]));
  function stepRecord(s) {
    const k = recIndex.get(s);
    return k === undefined ? null : { step: s, kind: sched.kind[k], rows: sched.rows[k], block: sched.block[k], inBlock: sched.step_in_block[k] };
  }
  const cacheMode = (meta.cache && meta.cache.mode) || 'none';
  const hasCache = cacheMode !== 'none' || sched.kind.some((k) => k !== 'full');
  // Blocks in step order: {block, start, steps}; from the records, else block_steps, else steps_per_block.
  const blocks = (() => {
    const out = [];
    if (sched.step.length) {
      sched.step.forEach((s, k) => {
        if (!out.length || out[out.length - 1].block !== sched.block[k]) out.push({ block: sched.block[k], start: s, steps: 0 });
        out[out.length - 1].steps++;
      });
    } else if (Array.isArray(meta.block_steps)) {
      let s = 0;
      meta.block_steps.forEach((n, b) => { out.push({ block: b, start: s, steps: n }); s += n; });
    } else if (spb > 0) {
      for (let b = 0, s = 0; s < T; b++, s += spb) out.push({ block: b, start: s, steps: Math.min(spb, T - s) });
    }
    return out;
  })();
  // The manifest's steps of each block (a complete run); an incomplete run's last block is counted so far.
  const blockSteps = (b) => (Array.isArray(meta.block_steps) && meta.block_steps[b] !== undefined ? meta.block_steps[b] : (blocks.find((x) => x.block === b) || {}).steps);
  function blockOfStep(s) {
    let best = null;
    for (const b of blocks) if (b.start <= s) best = b;
    return best;
  }
  const kindColour = (kind) => (kind === 'full' ? '#4b5563' : kind === 'prefix' ? '#e9a23b' : '#f07a3a');
  const kindName = (kind) => (kind === 'full' ? 'full' : `${kind} (cached)`);

  // key_step of a step: Int32Array [L], the step whose forward computed key j's K/V (age = step −
  // key_step[j]; key_step[j] < step: read from the cache). Captured steps carry theirs (change points);
  // for the others it follows from the records: the last step at or before s that recomputed row j.
  const keyStepCache = new Map();
  function keyStepsAt(s) {
    if (keyStepCache.has(s)) return keyStepCache.get(s);
    let out = null;
    const ci = capSteps.indexOf(s);
    const runs = ci >= 0 && cap.key_step ? cap.key_step[ci] : null;
    if (runs) {
      out = new Int32Array(L);
      runs.forEach(([j, ks], k) => out.fill(ks, j, k + 1 < runs.length ? runs[k + 1][0] : L));
      out.derived = false;
    } else {
      out = keyStepsFromRecords(s);
    }
    keyStepCache.set(s, out);
    return out;
  }
  function keyStepsFromRecords(s) {
    if (!recIndex.has(s)) return null;
    const out = new Int32Array(L).fill(-1);
    for (let k = 0; k < sched.step.length && sched.step[k] <= s; k++) out.fill(sched.step[k], sched.rows[k][0], sched.rows[k][1]);
    out.derived = true;
    return out;
  }
  // The oldest cache entry any step reads (the colour scale of cache ages), from the records.
  const maxAge = (() => {
    if (!hasCache) return 0;
    const last = new Int32Array(L).fill(-1);
    let mx = 0;
    for (let k = 0; k < sched.step.length; k++) {
      const s = sched.step[k];
      last.fill(s, sched.rows[k][0], sched.rows[k][1]);
      for (let j = 0; j < L; j++) if (last[j] >= 0) mx = Math.max(mx, s - last[j]);
    }
    for (let ci = 0; ci < capSteps.length; ci++) {
      const ks = keyStepsAt(capSteps[ci]);
      if (ks) for (let j = 0; j < L; j++) mx = Math.max(mx, capSteps[ci] - ks[j]);
    }
    return Math.max(1, mx);
  })();
  // Colour of a cache age (1 … maxAge: light to dark orange-red); age 0 = computed at this step.
  function ageColour(a) {
    const t = maxAge > 1 ? Math.min(1, (a - 1) / (maxAge - 1)) : 1;
    const c0 = [253, 212, 158], c1 = [179, 0, 0];
    return `rgb(${c0.map((v, k) => Math.round(v + (c1[k] - v) * t)).join(',')})`;
  }
  // "dual forward · rows 34–49 recomputed · 66/82 keys cached, age 1–5" for step s ('' without records).
  function forwardSummary(s) {
    const rec = stepRecord(s);
    if (!rec) return '';
    const [a, b] = rec.rows;
    let text = `${rec.kind} forward · ${a === 0 && b === L ? 'all rows' : `rows ${a}–${b - 1}`} recomputed`;
    const ks = keyStepsAt(s);
    if (ks) {
      let n = 0, lo = Infinity, hi = 0;
      for (let j = 0; j < L; j++) if (ks[j] < s) { n++; lo = Math.min(lo, s - ks[j]); hi = Math.max(hi, s - ks[j]); }
      text += n ? ` · ${n}/${L} keys cached, age ${lo === hi ? lo : `${lo}–${hi}`}` : ' · no key cached';
    }
    return text;
  }

  function showNotice(text, cls) {
    const d = document.createElement('div');
    if (cls) d.className = cls;
    d.textContent = text;
    $('notices').appendChild(d);
  }

  function blobBytes(b) {
    const s = blobString(b);
    if (typeof Uint8Array.fromBase64 === 'function') return Uint8Array.fromBase64(s);
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  async function inflate(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  // f16 → f32 through a 65536-entry table.
  const F16 = (() => {
    const t = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
      t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
    }
    return t;
  })();

  // Statistics: Float32Array [S, nl, H, 3, 9], decoded once at start-up.
  let stats = null;
  const [nS, nL, nH, nR, nK] = meta.stats.shape;
  async function loadStats() {
    if (!meta.blobs.lengths.length) return;
    const raw = await inflate(blobBytes(meta.stats.blob));
    const u16 = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength >> 1);
    stats = new Float32Array(u16.length);
    for (let i = 0; i < u16.length; i++) stats[i] = F16[u16[i]];
  }
  const statAt = (si, li, h, rs, k) => stats[(((si * nL + li) * nH + h) * nR + rs) * nK + k];

  // Attention maps: index, lazy decode, LRU cache of decoded codes.
  const mapStepIdx = new Map(maps.steps.map((s, i) => [s, i]));
  const mapLayerIdx = new Map(maps.layers.map((l, i) => [l, i]));
  // Head entries of each embedded layer (blob order), and where each layer starts within a step.
  const layerHeads = maps.layer_heads.map((hs) => new Map(hs.map((h, i) => [h, i])));
  const layerStart = [];
  let perStep = 0;
  for (const hs of maps.layer_heads) { layerStart.push(perStep); perStep += hs.length; }
  const hasMap = (li, head) => { const mli = mapLayerIdx.get(li); return mli !== undefined && layerHeads[mli].has(head); };
  const cache = new Map();  // key -> Promise<{q, logMax, lut}>
  const CACHE_MAPS = Math.max(64, Math.floor((256 << 20) / Math.max(1, R * L)));

  // Values of the 256 codes of one map.
  function valueTable(logMax) {
    const lut = new Float32Array(256);
    if (logMax === null) return lut;
    const lr = maps.log_range;
    for (let q = 1; q < 256; q++) lut[q] = Math.exp(logMax - lr + (q - 1) * lr / 254);
    return lut;
  }

  // Codes [R × L] and the rows marked absent (filter byte 3: not recomputed at this step; codes 0).
  function unfilter(raw) {
    const out = new Uint8Array(R * L);
    const absent = new Uint8Array(R);
    const W = L + 1;
    for (let r = 0; r < R; r++) {
      const f = raw[r * W], src = r * W + 1, dst = r * L;
      if (f === 3) {
        absent[r] = 1;
      } else if (f === 0) {
        out.set(raw.subarray(src, src + L), dst);
      } else if (f === 1) {
        let prev = 0;
        for (let j = 0; j < L; j++) { prev = (raw[src + j] + prev) & 255; out[dst + j] = prev; }
      } else {
        for (let j = 0; j < L; j++) out[dst + j] = (raw[src + j] + out[dst - L + j]) & 255;
      }
    }
    return { q: out, absent };
  }

  // The decoded map of (map step index, map layer index, map head index).
  function getMap(msi, mli, mhi) {
    const idx = msi * perStep + layerStart[mli] + mhi;
    let p = cache.get(idx);
    if (p) { cache.delete(idx); cache.set(idx, p); return p; }  // refresh LRU order
    p = (async () => {
      const raw = await inflate(blobBytes(maps.first_blob + idx));
      if (raw.length !== R * (L + 1)) throw new Error(`map ${idx}: ${raw.length} bytes, expected ${R * (L + 1)}`);
      const logMax = maps.log_max[idx];
      const { q, absent } = unfilter(raw);
      return { q, absent, nAbsent: absent.reduce((a, x) => a + x, 0), logMax, lut: valueTable(logMax) };
    })();
    cache.set(idx, p);
    while (cache.size > CACHE_MAPS) cache.delete(cache.keys().next().value);
    return p;
  }

  // ==========================================================================================
  // [SECTION] state and controls
  // ==========================================================================================
  const state = {
    step: 0, li: 0, head: -1, scale: 'log', range: 'map', rowset: 0,
    hover: null,      // query row under the mouse (heatmap or strip)
    pinned: null,     // pinned token
    playing: false,
    view: null,       // heatmap zoom: {x, y, w, h} in cells
  };
  const focusToken = () => (state.hover !== null ? state.hover : state.pinned);

  // Which embedded map the current step shows: the nearest embedded step at or before it.
  function mapStepFor(step) {
    if (!maps.steps.length) return -1;
    let best = 0;
    for (let i = 0; i < maps.steps.length; i++) if (maps.steps[i] <= step) best = i;
    return best;
  }
  // Which captured step the statistics show for a step (nearest at or before it).
  function capIndexFor(step) {
    let best = -1;
    for (let i = 0; i < capSteps.length; i++) if (capSteps[i] <= step) best = i;
    return best;
  }
  // The map of the current selection: {msi, mli, mhi} or a reason it is missing.
  function currentMapRef() {
    if (!maps.available) return { why: 'This run stores no attention maps (captured with --capture-heads none): the metrics below still cover every head.' };
    if (!maps.steps.length) return { why: 'No attention map is embedded (see the note at the top): the token strip and metric curves still work.' };
    const mli = mapLayerIdx.get(state.li);
    if (mli === undefined) return { why: `The maps of layer ${layers[state.li]} are not embedded (see the note at the top). Layers with maps are marked ● in the layer list.` };
    const mhi = layerHeads[mli].get(state.head);
    if (mhi === undefined) {
      const what = state.head < 0 ? 'the head mean' : `head ${state.head}`;
      const why = cap.map_heads === 'mean' ? 'the run stores the head mean only' :
        cap.map_heads === 'all' ? 'see the note at the top; layers whose heads are embedded say “all heads” in the layer list' :
        `the run stores heads ${cap.map_heads}`;
      return { why: `No map of ${what} in layer ${layers[state.li]} is embedded (${why}). Its metric curves are below.` };
    }
    return { msi: mapStepFor(state.step), mli, mhi };
  }

  const stepEl = $('step'), playEl = $('play'), layerEl = $('layer'), headEl = $('head');

  // Marks under the slider: each step's forward (full or cached), block boundaries.
  function drawStepMarks() {
    const c = $('step-marks');
    if (!sched.step.length || (!hasCache && blocks.length < 2)) { c.hidden = true; return; }
    c.hidden = false;
    const cssW = c.parentElement.clientWidth || 300, cssH = 8;
    const ctx = canvasSize(c, cssW, cssH);
    ctx.clearRect(0, 0, cssW, cssH);
    // The range input's thumb travels inside an inset of about half its width on either side.
    const inset = 8, w = cssW - 2 * inset;
    const xs = (s) => inset + (T > 1 ? (s / (T - 1)) * w : w / 2);
    const half = T > 1 ? w / (T - 1) / 2 : w / 2;
    sched.step.forEach((s, k) => {
      ctx.fillStyle = hasCache ? kindColour(sched.kind[k]) : '#c3c8d0';
      ctx.fillRect(xs(s) - half, 1, Math.max(1, 2 * half - (half > 2 ? 1 : 0)), cssH - 2);
    });
    ctx.fillStyle = '#111827';
    for (const b of blocks) if (b.start > 0) ctx.fillRect(Math.round(xs(b.start) - half) - 1, 0, 2, cssH);
    const counts = {};
    for (const k of sched.kind) counts[k] = (counts[k] || 0) + 1;
    const what = Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(' · ');
    c.setAttribute('aria-label', `Step forwards: ${what} · ${blocks.length} blocks`);
    c.title = `forwards: ${what} (${Object.keys(counts).map((k) => `${k}: ${k === 'full' ? 'dark' : 'orange'}`).join(', ')}); black ticks: block boundaries`;
  }

  function setupControls() {
    stepEl.max = String(T - 1);
    stepEl.value = '0';
    stepEl.addEventListener('input', () => setStep(+stepEl.value));
    layers.forEach((l, i) => {
      const o = document.createElement('option');
      o.value = String(i);
      const mli = mapLayerIdx.get(i);
      const all = mli !== undefined && maps.layer_heads[mli].length > 1 && maps.layer_heads.some((hs) => hs.length !== maps.layer_heads[mli].length);
      o.textContent = `${l}${mli !== undefined ? ' ●' : ''}${all ? ' all heads' : ''}`;
      layerEl.appendChild(o);
    });
    layerEl.addEventListener('change', () => { state.li = +layerEl.value; markHeads(); redrawAll(); });
    const addHead = (value, text) => {
      const o = document.createElement('option');
      o.value = String(value);
      o.dataset.text = text;
      o.textContent = text;
      headEl.appendChild(o);
    };
    addHead(-1, 'mean');
    for (let h = 0; h < H; h++) addHead(h, String(h));
    headEl.title = '● = attention map embedded (for the selected layer); the others have metric curves only';
    layerEl.title = '● = attention maps embedded; the others have metric curves only';
    headEl.addEventListener('change', () => { state.head = +headEl.value; redrawAll(); });
    $('scale').addEventListener('change', (e) => { state.scale = e.target.value; redrawHeat(); redrawStrip(); });
    $('range').addEventListener('change', (e) => { state.range = e.target.value; redrawHeat(); });
    const rs = $('rowset');
    rowSetNames.forEach((n, i) => {
      const o = document.createElement('option');
      o.value = String(i);
      o.textContent = { all: 'all rows', generated: 'generated rows', masked: 'masked rows' }[n] || n;
      rs.appendChild(o);
    });
    rs.addEventListener('change', () => { state.rowset = +rs.value; metricsSeries = null; redrawMetrics(); });
    playEl.addEventListener('click', () => (state.playing ? stop() : play()));
    document.addEventListener('keydown', (e) => {
      const tag = e.target.tagName;
      if (tag === 'SELECT' || tag === 'TEXTAREA' || (tag === 'INPUT' && e.target !== stepEl) || tag === 'BUTTON') return;
      if (e.key === ' ') { e.preventDefault(); state.playing ? stop() : play(); }
      else if (e.target !== stepEl && e.key === 'ArrowRight') setStep(state.step + 1);
      else if (e.target !== stepEl && e.key === 'ArrowLeft') setStep(state.step - 1);
    });
  }

  // Marks the heads whose map is embedded for the selected layer.
  function markHeads() {
    for (const o of headEl.options) o.textContent = o.dataset.text + (hasMap(state.li, +o.value) ? ' ●' : '');
  }

  function setStep(s) {
    s = Math.max(0, Math.min(T - 1, s | 0));
    state.step = s;
    if (+stepEl.value !== s) stepEl.value = String(s);
    redrawStep();
  }

  let playTimer = 0;
  function play() {
    if (state.step >= T - 1) setStep(0);
    state.playing = true;
    playEl.innerHTML = '&#10074;&#10074;';
    const tick = () => {
      if (!state.playing) return;
      if (state.step >= T - 1) { stop(); return; }
      setStep(state.step + 1);
      // Decode ahead so that playback does not wait on the next maps.
      const ref = currentMapRef();
      if (ref.msi !== undefined && ref.msi + 1 < maps.steps.length) getMap(ref.msi + 1, ref.mli, ref.mhi).catch(() => {});
      playTimer = setTimeout(tick, 1000 / +$('speed').value);
    };
    playTimer = setTimeout(tick, 1000 / +$('speed').value);
  }
  function stop() {
    state.playing = false;
    clearTimeout(playTimer);
    playEl.innerHTML = '&#9654;';
  }

  function stepLabel() {
    const s = state.step;
    const b = blockOfStep(s);
    const committed = commitStep.filter((c) => c === s).length;
    const rec = stepRecord(s);
    let text = `step ${s} of ${T - 1}` + (b ? ` · block ${b.block} (step ${s - b.start} of ${blockSteps(b.block)})` : '') +
      (hasCache && rec ? ` · ${rec.kind} forward` : '') + ` · ${committed} token${committed === 1 ? '' : 's'} committed`;
    const ref = currentMapRef();
    if (ref.msi !== undefined && maps.steps[ref.msi] !== s) text += ` · heatmap: step ${maps.steps[ref.msi]} (nearest embedded)`;
    $('step-label').textContent = text;
    $('strip-step').textContent = String(s);
  }

  // ==========================================================================================
  // [SECTION] heatmap
  // ==========================================================================================
  // viridis (polynomial fit), as 256 packed RGBA words.
  const VIRIDIS = (() => {
    const c = [[0.2777273272234177, 0.005407344544966578, 0.3340998053353061], [0.1050930431085774, 1.404613529898575, 1.384590162594685],
      [-0.3308618287255563, 0.214847559468213, 0.09509516302823659], [-4.634230498983486, -5.799100973351585, -19.33244095627987],
      [6.228269936347081, 14.17993336680509, 56.69055260068105], [4.776384997670288, -13.74514537774601, -65.35303263337234],
      [-5.435455855934631, 4.645852612178535, 26.3124352495832]];
    const out = new Uint32Array(256), css = [];
    const little = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
    for (let i = 0; i < 256; i++) {
      const t = i / 255;
      const rgb = [0, 1, 2].map((k) => {
        let v = c[6][k];
        for (let j = 5; j >= 0; j--) v = c[j][k] + t * v;
        return Math.round(255 * Math.min(1, Math.max(0, v)));
      });
      out[i] = little ? (255 << 24) | (rgb[2] << 16) | (rgb[1] << 8) | rgb[0] : (rgb[0] << 24) | (rgb[1] << 16) | (rgb[2] << 8) | 255;
      css.push(`rgb(${rgb[0]},${rgb[1]},${rgb[2]})`);
    }
    out.css = css;
    return out;
  })();
  // Rows not recomputed at a step: grey under the hatching drawn over them (never a viridis colour).
  const ABSENT_PIXEL = new Uint32Array(new Uint8Array([213, 217, 223, 255]).buffer)[0];
  const hatch = (() => {
    const c = document.createElement('canvas');
    c.width = c.height = 8;
    const x = c.getContext('2d');
    x.fillStyle = '#d5d9df'; x.fillRect(0, 0, 8, 8);
    x.strokeStyle = '#9aa1ad'; x.lineWidth = 1.2;
    x.beginPath(); x.moveTo(-2, 10); x.lineTo(10, -2); x.moveTo(-2, 2); x.lineTo(2, -2); x.moveTo(6, 10); x.lineTo(10, 6); x.stroke();
    return c;
  })();

  const heat = $('heat');
  const heatCtx = heat.getContext('2d');
  const off = document.createElement('canvas');
  off.width = L; off.height = Math.max(1, R);  // R = 0 when the run stores no maps
  const offCtx = off.getContext('2d');
  const offImage = offCtx.createImageData(L, Math.max(1, R));
  const offPixels = new Uint32Array(offImage.data.buffer);
  let heatMap = null;       // the decoded map drawn now
  let heatKey = '';         // what `off` holds (map + colour settings)
  let heatLayout = null;    // plot geometry of the last draw
  let heatSeq = 0;
  let heatCount = 0;

  // Colour index (0..255) of each code of `m` under the current scale and range, for row `r`
  // (only the per-row range depends on the row).
  function colourTable(m, rowMaxCode) {
    const lr = maps.log_range;
    const t = new Uint8Array(256);
    const lut = m.lut;
    if (state.range === 'fixed') {
      for (let q = 1; q < 256; q++) {
        const v = lut[q];
        t[q] = state.scale === 'log' ? Math.max(0, Math.min(255, Math.round(255 * (Math.log(v) + lr) / lr))) : Math.min(255, Math.round(255 * v));
      }
      return t;
    }
    const top = state.range === 'row' ? rowMaxCode : 255;
    if (top === 0) return t;
    for (let q = 1; q < 256; q++) {
      if (state.scale === 'log') t[q] = Math.max(0, Math.min(255, Math.round((q - 1 + 255 - top) * 255 / 254)));
      else t[q] = Math.min(255, Math.round(255 * lut[q] / lut[top]));
    }
    return t;
  }

  function paintOffscreen(m) {
    const q = m.q;
    if (state.range === 'row') {
      for (let r = 0; r < R; r++) {
        if (m.absent[r]) continue;
        let mx = 0;
        for (let j = 0; j < L; j++) if (q[r * L + j] > mx) mx = q[r * L + j];
        const t = colourTable(m, mx);
        for (let j = 0; j < L; j++) offPixels[r * L + j] = VIRIDIS[t[q[r * L + j]]];
      }
    } else {
      const t = colourTable(m, 255);
      const pal = new Uint32Array(256);
      for (let k = 0; k < 256; k++) pal[k] = VIRIDIS[t[k]];
      for (let i = 0; i < q.length; i++) offPixels[i] = pal[q[i]];
    }
    for (let r = 0; r < R; r++) if (m.absent[r]) offPixels.fill(ABSENT_PIXEL, r * L, (r + 1) * L);
    offCtx.putImageData(offImage, 0, 0);
  }

  // CSS widths of the canvases, measured once per resize: reading clientWidth at every draw would
  // force a layout right after the token strip changed, which costs more than the drawing.
  let measured = null;
  function widths() {
    if (!measured) {
      const chart = document.querySelector('#metrics .chart canvas');
      measured = { heat: heat.parentElement.clientWidth || 600, chart: (chart && chart.clientWidth) || 250, decode: $('decode').clientWidth || 600 };
    }
    return measured;
  }

  function canvasSize(canvas, cssW, cssH) {
    const dpr = window.devicePixelRatio || 1;
    canvas.style.height = `${cssH}px`;
    const w = Math.round(cssW * dpr), h = Math.round(cssH * dpr);
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return ctx;
  }

  const fullView = () => ({ x: 0, y: 0, w: L, h: R });

  // Geometry: labels when a cell is at least 11 px, tick numbers otherwise.
  function layout(cssW) {
    const v = state.view || fullView();
    const strip = 6;
    const age = hasCache ? 7 : 0;  // the cache-age strip above the key strip (6 px and a gap)
    const maxH = Math.max(260, window.innerHeight * 0.72);
    for (const labels of [true, false]) {
      const left = labels ? 84 : 40, top = labels ? 62 : 22, right = 10, bottom = 6;
      let pw = cssW - left - right - strip;
      let cell = pw / v.w;
      let ph = cell * v.h;
      if (ph > maxH - top - bottom - strip - age) { ph = maxH - top - bottom - strip - age; cell = ph / v.h; pw = cell * v.w; }
      if (labels && cell < 11) continue;
      return { v, labels, cell, x0: left + strip, y0: top + age + strip, pw, ph, cssH: top + age + strip + ph + bottom, strip, age, left, top };
    }
  }

  function keyClass(j, step) {  // 0 prompt, 1 committed generated, 2 masked (for the forward at `step`)
    if (j < P) return 0;
    const c = commitStep[j];
    return c >= 0 && c < step ? 1 : 2;
  }

  function tokenLabel(i, max = 10) {
    const t = tokens[i];
    if (t === null) return keyClass(i, state.step + 1) === 2 ? '▒' : '?';
    let s = t.replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/ /g, '␣');
    if (s === '') s = '∅';
    return s.length > max ? s.slice(0, max - 1) + '…' : s;
  }

  function niceStep(span, target) {
    const raw = span / target;
    const p = 10 ** Math.floor(Math.log10(raw));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }

  function drawHeatFrame(ref) {
    const cssW = widths().heat;
    const g = layout(cssW);
    heatLayout = g;
    const ctx = canvasSize(heat, cssW, g.cssH);
    ctx.clearRect(0, 0, cssW, g.cssH);
    const { v, x0, y0, pw, ph, cell } = g;
    const sx = (j) => x0 + (j - v.x) * cell;       // key column j → x
    const sy = (r) => y0 + (r - v.y) * cell;       // stored row r → y
    if (heatMap && ref && ref.msi !== undefined) {
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(off, v.x, v.y, v.w, v.h, x0, y0, pw, ph);
    } else {
      ctx.fillStyle = '#eef0f3';
      ctx.fillRect(x0, y0, pw, ph);
    }
    ctx.save();
    ctx.beginPath(); ctx.rect(x0 - g.strip, y0 - g.strip - g.age, pw + g.strip, ph + g.strip + g.age); ctx.clip();
    const mapStep = ref && ref.msi !== undefined ? maps.steps[ref.msi] : state.step;
    const j0 = Math.max(0, Math.floor(v.x)), j1 = Math.min(L, Math.ceil(v.x + v.w));
    const r0 = Math.max(0, Math.floor(v.y)), r1 = Math.min(R, Math.ceil(v.y + v.h));
    // Query rows this step's forward did not recompute: hatched, never drawn as attention.
    if (heatMap && heatMap.nAbsent && ref && ref.msi !== undefined) {
      for (let r = r0; r < r1;) {
        if (!heatMap.absent[r]) { r++; continue; }
        let e = r;
        while (e < r1 && heatMap.absent[e]) e++;
        const ya = Math.max(y0, sy(r)), yb = Math.min(y0 + ph, sy(e));
        ctx.fillStyle = ctx.createPattern(hatch, 'repeat');
        ctx.fillRect(x0, ya, pw, yb - ya);
        if (yb - ya >= 16) {
          ctx.font = '11px system-ui, sans-serif'; ctx.textAlign = 'center'; ctx.textBaseline = 'middle';
          const text = `rows ${r + rowBegin}–${e - 1 + rowBegin}: not recomputed at step ${mapStep}`;
          const tw = ctx.measureText(text).width + 10, cx = x0 + pw / 2, cy = (ya + yb) / 2;
          ctx.fillStyle = 'rgba(255,255,255,0.85)'; ctx.fillRect(cx - tw / 2, cy - 8, tw, 16);
          ctx.fillStyle = '#374151'; ctx.fillText(text, cx, cy);
        }
        r = e;
      }
    }
    // Key and query class strips (prompt / generated / masked in the canvas of the map's step).
    const cls = ['#8a93a3', '#1f9e89', '#e4e7ec'];
    for (let j = j0; j < j1; j++) { ctx.fillStyle = cls[keyClass(j, mapStep)]; ctx.fillRect(sx(j), y0 - g.strip, Math.max(cell, 1), g.strip - 1); }
    // Cache ages of the keys above it: keys read from the cache, coloured by age (none: computed now).
    const ks = g.age ? keyStepsAt(mapStep) : null;
    if (ks) for (let j = j0; j < j1; j++) {
      const a = mapStep - ks[j];
      if (a > 0) { ctx.fillStyle = ageColour(a); ctx.fillRect(sx(j), y0 - g.strip - g.age, Math.max(cell, 1), g.age - 1); }
    }
    for (let r = r0; r < r1; r++) { ctx.fillStyle = cls[keyClass(r + rowBegin, mapStep)]; ctx.fillRect(x0 - g.strip, sy(r), g.strip - 1, Math.max(cell, 1)); }
    // Block boundaries (dashed) and the prompt/generation boundary (solid).
    ctx.lineWidth = 1;
    const vline = (j, style, dash) => { const x = Math.round(sx(j)) + 0.5; if (x < x0 || x > x0 + pw) return; ctx.strokeStyle = style; ctx.setLineDash(dash); ctx.beginPath(); ctx.moveTo(x, y0 - g.strip); ctx.lineTo(x, y0 + ph); ctx.stroke(); };
    const hline = (r, style, dash) => { const y = Math.round(sy(r)) + 0.5; if (y < y0 || y > y0 + ph) return; ctx.strokeStyle = style; ctx.setLineDash(dash); ctx.beginPath(); ctx.moveTo(x0 - g.strip, y); ctx.lineTo(x0 + pw, y); ctx.stroke(); };
    if (blockLen > 0) for (let b = P + blockLen; b < L; b += blockLen) { vline(b, 'rgba(255,255,255,0.55)', [4, 3]); hline(b - rowBegin, 'rgba(255,255,255,0.55)', [4, 3]); }
    vline(P, 'rgba(255,255,255,0.95)', []);
    if (P > rowBegin && P < rowEnd) hline(P - rowBegin, 'rgba(255,255,255,0.95)', []);
    ctx.setLineDash([]);
    // The focused token's row and column.
    const f = focusToken();
    if (f !== null) {
      ctx.strokeStyle = state.pinned !== null && f === state.pinned ? '#ff4d4d' : '#ffffff';
      ctx.lineWidth = 1.5;
      if (f >= rowBegin && f < rowEnd) ctx.strokeRect(x0 - g.strip, sy(f - rowBegin), pw + g.strip, Math.max(cell, 1.5));
      ctx.strokeRect(sx(f), y0 - g.strip, Math.max(cell, 1.5), ph + g.strip);
    }
    if (hoverCell) {
      ctx.strokeStyle = '#ff4d4d'; ctx.lineWidth = 1.5;
      ctx.strokeRect(sx(hoverCell.j), sy(hoverCell.r), Math.max(cell, 2), Math.max(cell, 2));
    }
    ctx.restore();
    // Axes: token labels when cells are large enough, else position ticks.
    ctx.fillStyle = '#374151';
    ctx.font = '11px ui-monospace, "DejaVu Sans Mono", monospace';
    if (g.labels) {
      const fs = Math.min(12, Math.max(8, cell - 2));
      ctx.font = `${fs}px ui-monospace, "DejaVu Sans Mono", monospace`;
      ctx.textBaseline = 'middle';
      for (let j = j0; j < j1; j++) {
        const x = sx(j) + cell / 2;
        ctx.save(); ctx.translate(x, y0 - g.strip - g.age - 3); ctx.rotate(-Math.PI / 3);
        ctx.textAlign = 'left'; ctx.fillStyle = j < P ? '#6b7280' : '#111827';
        ctx.fillText(tokenLabel(j, 9), 0, 0); ctx.restore();
      }
      ctx.textAlign = 'right';
      for (let r = r0; r < r1; r++) {
        const i = r + rowBegin;
        ctx.fillStyle = i < P ? '#6b7280' : '#111827';
        ctx.fillText(tokenLabel(i, 10), x0 - g.strip - 3, sy(r) + cell / 2);
      }
    } else {
      ctx.textBaseline = 'alphabetic'; ctx.textAlign = 'center';
      const kstep = niceStep(v.w, Math.max(2, pw / 60));
      for (let j = Math.ceil(v.x / kstep) * kstep; j < v.x + v.w; j += kstep) ctx.fillText(String(j), sx(j + 0.5), y0 - g.strip - g.age - 4);
      ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
      const rstep = niceStep(v.h, Math.max(2, ph / 28));
      for (let r = Math.ceil(v.y / rstep) * rstep; r < v.y + v.h; r += rstep) ctx.fillText(String(r + rowBegin), x0 - g.strip - 3, sy(r + 0.5));
    }
  }

  async function redrawHeat() {
    const seq = ++heatSeq;
    const ref = currentMapRef();
    const msg = $('heat-message');
    let title = `layer ${layers[state.li]} · ${state.head < 0 ? 'head mean' : 'head ' + state.head}`;
    if (ref.msi !== undefined) {
      title += ` · step ${maps.steps[ref.msi]}`;
      try {
        const m = await getMap(ref.msi, ref.mli, ref.mhi);
        if (seq !== heatSeq) return;
        const key = `${ref.msi}/${ref.mli}/${ref.mhi}/${state.scale}/${state.range}`;
        if (key !== heatKey) { paintOffscreen(m); heatKey = key; }
        heatMap = m;
        msg.hidden = true;
      } catch (err) {
        if (seq !== heatSeq) return;
        heatMap = null; heatKey = '';
        msg.hidden = false; msg.textContent = `Could not decode this map: ${err.message}`;
        console.error(err);
      }
    } else {
      heatMap = null; heatKey = '';
      msg.hidden = false; msg.textContent = ref.why;
    }
    $('heat-title').textContent = title;
    const hs = $('heat-step');
    const ms = ref.msi !== undefined ? maps.steps[ref.msi] : state.step;
    hs.hidden = !hasCache;
    if (hasCache) hs.textContent = `step ${ms}: ${forwardSummary(ms) || 'no record of this step'}` +
      (heatMap && heatMap.nAbsent ? ` · ${heatMap.nAbsent} of ${R} shown rows hatched (not recomputed)` : '');
    drawHeatFrame(ref);
    drawColorbar();
    heatCount++;
    document.body.dataset.heat = `${heatCount}:${heatKey}`;
    redrawStrip();
    updateReadout();
  }

  function fmtP(v) {
    if (v === 0) return '0';
    if (v >= 0.01) return v.toFixed(3);
    return v.toExponential(1);
  }

  function drawColorbar() {
    const cb = $('colorbar');
    const ctx = canvasSize(cb, 240, 34);
    ctx.clearRect(0, 0, 240, 34);
    for (let x = 0; x < 220; x++) { ctx.fillStyle = VIRIDIS.css[Math.round(x * 255 / 219)]; ctx.fillRect(10 + x, 2, 1, 12); }
    ctx.fillStyle = '#374151'; ctx.font = '10px system-ui, sans-serif'; ctx.textBaseline = 'top';
    let lo, hi;
    const lr = maps.log_range;
    if (state.range === 'fixed') { hi = 1; lo = state.scale === 'log' ? Math.exp(-lr) : 0; }
    else if (heatMap && heatMap.logMax !== null) {
      hi = Math.exp(heatMap.logMax); lo = state.scale === 'log' ? hi * Math.exp(-lr) : 0;
    }
    const what = state.range === 'row' ? ' (× each row’s max)' : '';
    if (hi === undefined) return;
    ctx.textAlign = 'left'; ctx.fillText(state.range === 'row' ? (state.scale === 'log' ? '1e-5' : '0') : fmtP(lo), 10, 17);
    ctx.textAlign = 'right'; ctx.fillText((state.range === 'row' ? '1' : fmtP(hi)) + what, 230, 17);
    ctx.textAlign = 'center'; ctx.fillText(state.scale, 120, 17);
  }

  // Mouse on the heatmap: readout and focus on hover, wheel zoom, drag pan, click to pin.
  let hoverCell = null, hoverKey = null, drag = null;
  function cellAt(ev) {
    const g = heatLayout;
    if (!g) return null;
    const rect = heat.getBoundingClientRect();
    const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    const j = Math.floor(g.v.x + (x - g.x0) / g.cell), r = Math.floor(g.v.y + (y - g.y0) / g.cell);
    if (x < g.x0 || y < g.y0 || j < 0 || j >= L || r < 0 || r >= R || x > g.x0 + g.pw || y > g.y0 + g.ph) return null;
    return { j, r, x, y };
  }
  // Key column under the pointer in the strips above the map (cache age, key class), or null.
  function keyStripAt(ev) {
    const g = heatLayout;
    if (!g) return null;
    const rect = heat.getBoundingClientRect();
    const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    const j = Math.floor(g.v.x + (x - g.x0) / g.cell);
    if (x < g.x0 || x > g.x0 + g.pw || y < g.y0 - g.strip - g.age || y >= g.y0 || j < 0 || j >= L) return null;
    return j;
  }
  // Where key j's K/V came from in the forward of step s.
  function keyProvenance(j, s) {
    const ks = keyStepsAt(s);
    if (!ks) return '';
    const from = ks.derived ? ' (from the steps’ records)' : '';
    return ks[j] < s ? `from the cache, computed at step ${ks[j]} (age ${s - ks[j]})${from}` : `computed in this forward (step ${s})`;
  }
  function tokenDesc(i) {
    const kind = i < P ? 'prompt' : commitStep[i] >= 0 ? `gen, step ${commitStep[i]}` : 'gen';
    return `${i} “${tokens[i] === null ? '?' : tokenLabel(i, 16)}” (${kind})`;
  }
  function updateReadout() {
    const el = $('heat-readout');
    const ms = maps.steps.length ? maps.steps[mapStepFor(state.step)] : state.step;
    if (hoverKey !== null) {
      const text = `key ${hoverKey} “${tokenLabel(hoverKey, 16)}”: ${keyProvenance(hoverKey, ms) || 'no cache information'}`;
      el.textContent = text;
      heat.title = text;
      return;
    }
    if (heat.title) heat.title = '';
    if (!hoverCell || !heatMap) { el.textContent = '\u00a0'; return; }
    const { j, r } = hoverCell;
    const i = r + rowBegin;
    const cached = hasCache ? `\n   key ${j}: ${keyProvenance(j, ms)}` : '';
    if (heatMap.absent[r]) {
      const ks = keyStepsAt(ms);
      el.textContent = `query ${tokenDesc(i)}\nnot recomputed at step ${ms}: no attention row in this forward` +
        (ks && ks[i] < ms ? ` (its K/V come from the cache, step ${ks[i]})` : '');
      return;
    }
    const v = heatMap.lut[heatMap.q[r * L + j]];
    el.textContent = `query ${tokenDesc(i)}\n→ key ${tokenDesc(j)}\np = ${fmtP(v)}${keyClass(j, ms) === 2 ? '   (key still masked at this step)' : ''}${cached}`;
  }
  function setupHeatMouse() {
    heat.addEventListener('mousemove', (ev) => {
      if (drag) {
        const g = heatLayout;
        const v = state.view || fullView();
        const dx = (ev.clientX - drag.x) / g.cell, dy = (ev.clientY - drag.y) / g.cell;
        if (Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y) > 3) drag.moved = true;
        state.view = clampView({ x: drag.v.x - dx, y: drag.v.y - dy, w: v.w, h: v.h });
        drawHeatFrame(currentMapRef());
        return;
      }
      const c = cellAt(ev);
      hoverCell = c;
      hoverKey = c ? null : keyStripAt(ev);
      const i = c ? c.r + rowBegin : null;
      if (i !== state.hover) { state.hover = i; redrawStrip(); }
      drawHeatFrame(currentMapRef());
      updateReadout();
    });
    heat.addEventListener('mouseleave', () => {
      hoverCell = null; hoverKey = null; drag = null; heat.classList.remove('dragging');
      state.hover = null; drawHeatFrame(currentMapRef()); redrawStrip(); updateReadout();
    });
    heat.addEventListener('mousedown', (ev) => {
      drag = { x: ev.clientX, y: ev.clientY, v: { ...(state.view || fullView()) }, moved: false };
      heat.classList.add('dragging');
    });
    window.addEventListener('mouseup', (ev) => {
      if (!drag) return;
      const moved = drag.moved;
      drag = null; heat.classList.remove('dragging');
      if (!moved && ev.target === heat) {
        const c = cellAt(ev);
        if (c) { const i = c.r + rowBegin; state.pinned = state.pinned === i ? null : i; drawHeatFrame(currentMapRef()); redrawStrip(); }
      }
    });
    heat.addEventListener('wheel', (ev) => {
      const g = heatLayout;
      if (!g) return;
      ev.preventDefault();
      const rect = heat.getBoundingClientRect();
      const v = state.view || fullView();
      const cx = v.x + (ev.clientX - rect.left - g.x0) / g.cell, cy = v.y + (ev.clientY - rect.top - g.y0) / g.cell;
      const f = Math.exp(Math.sign(ev.deltaY) * 0.18);
      const w = Math.min(L, Math.max(4, v.w * f)), h = Math.min(R, Math.max(4 * R / L, v.h * (w / v.w)));
      state.view = clampView({ x: cx - (cx - v.x) * (w / v.w), y: cy - (cy - v.y) * (h / v.h), w, h });
      if (state.view.w >= L && state.view.h >= R) state.view = null;
      drawHeatFrame(currentMapRef());
    }, { passive: false });
    heat.addEventListener('dblclick', () => { state.view = null; drawHeatFrame(currentMapRef()); });
  }
  function clampView(v) {
    v.w = Math.min(v.w, L); v.h = Math.min(v.h, R);
    v.x = Math.max(0, Math.min(L - v.w, v.x));
    v.y = Math.max(0, Math.min(R - v.h, v.y));
    return v;
  }

  // ==========================================================================================
  // [SECTION] token strip
  // ==========================================================================================
  const strip = $('strip');
  const tokEls = [];
  const isSpecial = (t) => t !== null && /^<\|.*\|>$|^<id:\d+>$|^<[a-z_]+>$|^\[[A-Z]+\]$/.test(t);

  function buildStrip() {
    const frag = document.createDocumentFragment();
    for (let i = 0; i < L; i++) {
      if (i === P) { const m = document.createElement('span'); m.className = 'promptmark'; m.title = 'end of the prompt'; frag.appendChild(m); }
      else if (blockLen > 0 && i > P && (i - P) % blockLen === 0) { const m = document.createElement('span'); m.className = 'blockmark'; m.title = `block ${(i - P) / blockLen}`; frag.appendChild(m); }
      const s = document.createElement('span');
      s.className = 'tok';
      s.dataset.i = String(i);
      s.title = `${tokenDesc(i)}${confidence[i] !== null && confidence[i] !== undefined ? ` · confidence ${confidence[i]}` : ''}`;
      tokEls.push(s);
      frag.appendChild(s);
    }
    strip.appendChild(frag);
    strip.addEventListener('mouseover', (ev) => {
      const t = ev.target.closest('.tok');
      if (!t) return;
      const i = +t.dataset.i;
      if (state.hover !== i) { state.hover = i; redrawStrip(); drawHeatFrame(currentMapRef()); }
    });
    strip.addEventListener('mouseleave', () => { state.hover = null; redrawStrip(); drawHeatFrame(currentMapRef()); });
    strip.addEventListener('click', (ev) => {
      const t = ev.target.closest('.tok');
      if (!t) return;
      const i = +t.dataset.i;
      state.pinned = state.pinned === i ? null : i;
      redrawStrip(); drawHeatFrame(currentMapRef());
    });
    $('legend').innerHTML =
      'Background: <b>confidence</b> of each generated token when it was committed (red low, green high); ' +
      'outlined: committed at this step; grey: still masked. While a token is hovered: ' +
      '<span class="sw sw-to"></span>what it attends to (its row) <span class="sw sw-by"></span>what attends to it (its column, underline).';
  }

  function confColour(c) {
    if (c === null || c === undefined || !isFinite(c)) return '#e8f3ee';
    const h = Math.max(0, Math.min(1, c)) * 120;
    return `hsl(${h.toFixed(0)}, 70%, 86%)`;
  }

  // Intensity 0..1 of a probability relative to a max, following the colour scale.
  function intensity(v, max) {
    if (!(v > 0) || !(max > 0)) return 0;
    const x = v / max;
    return state.scale === 'log' ? Math.max(0, 1 + Math.log10(x) / 3) : x;
  }

  let stripKey = '';
  function redrawStrip() {
    const s = state.step;
    const f = focusToken();
    const m = heatMap;
    const key = `${s}/${f}/${state.pinned}/${heatKey}/${state.scale}`;
    if (key === stripKey) return;
    stripKey = key;
    let row = null, col = null, rowMax = 0, colMax = 0;
    if (f !== null && m) {
      if (f >= rowBegin && f < rowEnd && !m.absent[f - rowBegin]) {
        row = new Float32Array(L);
        const base = (f - rowBegin) * L;
        for (let j = 0; j < L; j++) { row[j] = m.lut[m.q[base + j]]; if (row[j] > rowMax) rowMax = row[j]; }
      }
      col = new Float32Array(L);  // rows not recomputed have no attention: they stay 0 and are not listed
      for (let r = 0; r < R; r++) { if (m.absent[r]) continue; const v = m.lut[m.q[r * L + f]]; col[r + rowBegin] = v; if (v > colMax) colMax = v; }
    }
    const rec = hasCache ? stepRecord(s) : null;
    for (let i = 0; i < L; i++) {
      const el = tokEls[i];
      const masked = i >= P && !(commitStep[i] >= 0 && commitStep[i] <= s);
      const text = masked ? '▒' : tokenLabel(i, 24);
      if (el.textContent !== text) el.textContent = text;
      let cls = 'tok';
      if (i < P) cls += ' prompt';
      if (masked) cls += ' masked';
      else if (isSpecial(tokens[i])) cls += ' special';
      if (i >= P && commitStep[i] === s) cls += ' new';
      if (i === f) cls += ' focus';
      if (i === state.pinned) cls += ' pinned';
      if (rec && (i < rec.rows[0] || i >= rec.rows[1])) cls += ' stale';
      if (el.className !== cls) el.className = cls;
      let bg = '', bb = '';
      if (row || col) {
        const a = row ? intensity(row[i], rowMax) : 0;
        const b = col ? intensity(col[i], colMax) : 0;
        bg = a > 0.02 ? `rgba(var(--attn-to), ${(0.08 + 0.8 * a).toFixed(3)})` : (masked ? '' : '#ffffff');
        bb = b > 0.02 ? `rgba(var(--attn-by), ${(0.15 + 0.85 * b).toFixed(3)})` : '';
      } else if (!masked && i >= P) {
        bg = confColour(confidence[i]);
      }
      if (el.style.background !== bg) el.style.background = bg;
      if (el.style.borderBottomColor !== bb) el.style.borderBottomColor = bb;
    }
    renderFocus(f, row, col);
  }

  function renderFocus(f, row, col) {
    const el = $('focus');
    if (f === null) {
      el.innerHTML = 'Hover a token (here or a row of the heatmap) to see what it attends to and what attends to it; click to pin it.';
      return;
    }
    const esc = (s) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
    const top = (vals, n) => {
      if (!vals) return [];
      const idx = Array.from(vals.keys()).filter((j) => vals[j] > 0);
      idx.sort((a, b) => vals[b] - vals[a]);
      return idx.slice(0, n);
    };
    const table = (vals, colour, empty) => {
      const t = top(vals, 8);
      if (!t.length) return `<div>${empty}</div>`;
      const mx = vals[t[0]];
      return '<table>' + t.map((j) =>
        `<tr><td>${j}</td><td class="t" data-j="${j}" title="${esc(tokenDesc(j))}">${esc(tokenLabel(j, 14))}</td>` +
        `<td class="bar"><div class="b" style="width:${(100 * vals[j] / mx).toFixed(1)}%;background:rgba(${colour},0.8)"></div></td>` +
        `<td>${fmtP(vals[j])}</td></tr>`).join('') + '</table>';
    };
    const noMap = heatMap ? '' : ' (no attention map for this selection)';
    const conf = confidence[f];
    let html = `<div class="title"><b>${esc(tokenDesc(f))}</b>${conf !== null && conf !== undefined ? ` · confidence ${conf}` : ''}` +
      `${state.pinned === f ? ' · pinned (click again to release)' : ''}${noMap}</div>`;
    if (heatMap) {
      const ms = maps.steps[mapStepFor(state.step)];
      const noRow = f >= rowBegin && f < rowEnd ? `row ${f} was not recomputed at step ${ms}: the forward computed no attention for it (a cached step)` :
        `row ${f} is not stored (rows ${rowBegin}–${rowEnd - 1} are)`;
      html += '<div class="cols"><div><b>attends to</b> (its row)' +
        table(row, 'var(--attn-to)', noRow) +
        '</div><div><b>attended by</b> (its column)' + table(col, 'var(--attn-by)', 'nothing') + '</div></div>';
    }
    el.innerHTML = html;
    el.querySelectorAll('td.t').forEach((td) => td.addEventListener('click', () => {
      state.pinned = +td.dataset.j; redrawStrip(); drawHeatFrame(currentMapRef());
      tokEls[state.pinned].scrollIntoView({ block: 'nearest' });
    }));
  }

  // ==========================================================================================
  // [SECTION] metric curves and decode order
  // ==========================================================================================
  const STAT_INFO = {
    entropy: ['entropy', 'nats', null], max: ['max', 'largest p in a row', [0, 0]], self: ['self', 'p(i→i)', [0, 0]],
    inv_participation: ['inverse participation', 'effective number of keys', null], local: ['local', 'mass within ±2', [0, 0]],
    mass_prompt: ['mass on prompt keys', '', [0, 1]], mass_generated: ['mass on generated keys', 'committed', [0, 1]],
    mass_masked: ['mass on masked keys', '', [0, 1]], mass_sink: ['mass on key 0', 'sink', [0, 1]],
  };
  let metricsSeries = null;  // [stat][layer] Float32Array over captured steps, for the current head and row set
  let metricsHead = null;
  const charts = [];

  function computeSeries() {
    const out = [];
    for (let k = 0; k < nK; k++) {
      const perLayer = [];
      for (let li = 0; li < nL; li++) {
        const a = new Float32Array(nS);
        for (let si = 0; si < nS; si++) {
          if (state.head >= 0) { a[si] = statAt(si, li, state.head, state.rowset, k); continue; }
          let sum = 0, n = 0;
          for (let h = 0; h < nH; h++) { const v = statAt(si, li, h, state.rowset, k); if (isFinite(v)) { sum += v; n++; } }
          a[si] = n ? sum / n : NaN;
        }
        perLayer.push(a);
      }
      out.push(perLayer);
    }
    return out;
  }

  function buildCharts() {
    const box = $('metrics');
    if (!stats) { box.textContent = 'No statistics in this run.'; return; }
    statNames.forEach((name, k) => {
      const d = document.createElement('div');
      d.className = 'chart';
      const info = STAT_INFO[name] || [name, '', null];
      d.innerHTML = `<span class="val"></span><div class="name">${info[0]} <span class="dim">${info[1]}</span></div><canvas></canvas>`;
      box.appendChild(d);
      const canvas = d.querySelector('canvas');
      const chart = { k, canvas, val: d.querySelector('.val'), range: info[2], hover: null };
      canvas.addEventListener('mousemove', (ev) => { chart.hover = chartStepAt(chart, ev); drawChart(chart); });
      canvas.addEventListener('mouseleave', () => { chart.hover = null; drawChart(chart); });
      canvas.addEventListener('click', (ev) => { const s = chartStepAt(chart, ev); if (s !== null) setStep(s); });
      charts.push(chart);
    });
  }

  const CH = { left: 36, right: 8, top: 6, bottom: 16 };
  function chartStepAt(chart, ev) {
    const rect = chart.canvas.getBoundingClientRect();
    const w = rect.width - CH.left - CH.right;
    const x = ev.clientX - rect.left - CH.left;
    return Math.max(0, Math.min(T - 1, Math.round((x / w) * Math.max(1, T - 1))));
  }

  // A chart is drawn in two layers: the axes and curves (cached per layer, head, row set and size)
  // and, on top, the current-step marker and the hover line, redrawn at every step.
  function drawChart(chart) {
    if (!metricsSeries) return;
    const cssW = widths().chart, cssH = 120;
    const dpr = window.devicePixelRatio || 1;
    const series = metricsSeries[chart.k];
    const w = cssW - CH.left - CH.right, h = cssH - CH.top - CH.bottom;
    const xs = (s) => CH.left + (T > 1 ? (s / (T - 1)) * w : w / 2);
    const baseKey = `${state.li}/${metricsHead}/${cssW}/${dpr}`;
    if (chart.baseKey !== baseKey) {
      let lo = Infinity, hi = -Infinity;
      for (const a of series) for (const v of a) if (isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      // Masses keep the full [0, 1] axis; max, self and local start at 0 (range [0, 0] = from 0 to the data).
      if (chart.range) { lo = Math.min(lo, chart.range[0]); hi = Math.max(hi, chart.range[1]); }
      if (!isFinite(lo)) { lo = 0; hi = 1; }
      if (hi - lo < 1e-9) { hi = lo + 1; }
      chart.ys = (v) => CH.top + h - ((v - lo) / (hi - lo)) * h;
      const base = chart.base || (chart.base = document.createElement('canvas'));
      const ctx = canvasSize(base, cssW, cssH);
      ctx.clearRect(0, 0, cssW, cssH);
      ctx.strokeStyle = '#e5e7eb'; ctx.lineWidth = 1;
      ctx.strokeRect(CH.left + 0.5, CH.top + 0.5, w, h);
      if (blocks.length > 1) {
        ctx.setLineDash([3, 3]);
        for (const b of blocks) if (b.start > 0) { const x = Math.round(xs(b.start - 0.5)) + 0.5; ctx.beginPath(); ctx.moveTo(x, CH.top); ctx.lineTo(x, CH.top + h); ctx.stroke(); }
        ctx.setLineDash([]);
      }
      ctx.fillStyle = '#6b7280'; ctx.font = '10px system-ui, sans-serif';
      ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
      ctx.fillText(fmtStat(hi), CH.left - 3, CH.top + 4); ctx.fillText(fmtStat(lo), CH.left - 3, CH.top + h - 3);
      ctx.textAlign = 'center'; ctx.textBaseline = 'top';
      ctx.fillText('0', xs(0), CH.top + h + 3); ctx.fillText(String(T - 1), xs(T - 1), CH.top + h + 3);
      ctx.fillText('step', CH.left + w / 2, CH.top + h + 3);
      const line = (a, style, width) => {
        ctx.strokeStyle = style; ctx.lineWidth = width; ctx.beginPath();
        let pen = false;
        for (let si = 0; si < nS; si++) {
          const v = a[si];
          if (!isFinite(v)) { pen = false; continue; }
          const x = xs(capSteps[si]), y = chart.ys(v);
          if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
          pen = true;
        }
        ctx.stroke();
      };
      series.forEach((a, li) => { if (li !== state.li) line(a, 'rgba(120,128,140,0.28)', 1); });
      line(series[state.li], '#2563eb', 2);
      chart.baseKey = baseKey;
    }
    const ctx = canvasSize(chart.canvas, cssW, cssH);
    ctx.clearRect(0, 0, cssW, cssH);
    ctx.drawImage(chart.base, 0, 0, cssW, cssH);
    const ci = capIndexFor(state.step);
    const x = Math.round(xs(state.step)) + 0.5;
    ctx.strokeStyle = '#dc2626'; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(x, CH.top); ctx.lineTo(x, CH.top + h); ctx.stroke();
    let valText = '';
    if (ci >= 0) {
      const v = series[state.li][ci];
      if (isFinite(v)) { ctx.fillStyle = '#dc2626'; ctx.beginPath(); ctx.arc(xs(capSteps[ci]), chart.ys(v), 3, 0, 2 * Math.PI); ctx.fill(); valText = `step ${capSteps[ci]}: ${fmtStat(v)}`; }
      else valText = `step ${capSteps[ci]}: n/a`;
    }
    if (chart.hover !== null) {
      const hi2 = capIndexFor(chart.hover);
      const hx = Math.round(xs(chart.hover)) + 0.5;
      ctx.strokeStyle = 'rgba(17,24,39,0.35)'; ctx.beginPath(); ctx.moveTo(hx, CH.top); ctx.lineTo(hx, CH.top + h); ctx.stroke();
      if (hi2 >= 0) { const v = series[state.li][hi2]; valText = `step ${capSteps[hi2]}: ${isFinite(v) ? fmtStat(v) : 'n/a'}`; }
    }
    if (chart.val.textContent !== valText) chart.val.textContent = valText;
  }
  function fmtStat(v) { return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2); }

  function redrawMetrics() {
    if (!stats) return;
    const headKey = `${state.head}/${state.rowset}`;
    if (!metricsSeries || metricsHead !== headKey) { metricsSeries = computeSeries(); metricsHead = headKey; }
    $('metrics-title').textContent = `layer ${layers[state.li]} · ${state.head < 0 ? 'mean over heads' : 'head ' + state.head}`;
    for (const c of charts) drawChart(c);
  }

  const decodeCanvas = $('decode');
  let decodeHover = null;
  function drawDecode() {
    const cssW = widths().decode, cssH = 200;
    const ctx = canvasSize(decodeCanvas, cssW, cssH);
    ctx.clearRect(0, 0, cssW, cssH);
    const left = 48, right = blocks.length ? 96 : 10, top = 8, bottom = 22;
    const w = cssW - left - right, h = cssH - top - bottom;
    const G = L - P;
    if (G <= 0) return;
    const cw = w / G, rh = h / Math.max(1, T);
    const xs = (i) => left + (i - P) * cw;
    const ys = (s) => top + s * rh;
    ctx.strokeStyle = '#e5e7eb'; ctx.strokeRect(left + 0.5, top + 0.5, w, h);
    if (blockLen > 0) {
      ctx.setLineDash([3, 3]);
      for (let b = P + blockLen; b < L; b += blockLen) { const x = Math.round(xs(b)) + 0.5; ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke(); }
      ctx.setLineDash([]);
    }
    // Each step's forward (a band left of the chart: full or cached) and the blocks' steps (right).
    if (hasCache) sched.step.forEach((s, k) => { ctx.fillStyle = kindColour(sched.kind[k]); ctx.fillRect(left - 7, ys(s), 5, Math.max(rh - (rh > 3 ? 0.5 : 0), 1)); });
    ctx.font = '10px system-ui, sans-serif'; ctx.textAlign = 'left'; ctx.textBaseline = 'middle';
    blocks.forEach((b) => {
      const y = Math.round(ys(b.start)) + 0.5;
      if (b.start > 0) { ctx.strokeStyle = '#9ca3af'; ctx.beginPath(); ctx.moveTo(left - 8, y); ctx.lineTo(left + w + 4, y); ctx.stroke(); }
      const n = blockSteps(b.block);
      if (ys(b.steps) >= 11) { ctx.fillStyle = '#374151'; ctx.fillText(`block ${b.block}: ${n} step${n === 1 ? '' : 's'}`, left + w + 6, (ys(b.start) + ys(b.start + b.steps)) / 2); }
    });
    for (let i = P; i < L; i++) {
      const c = commitStep[i];
      if (!(c >= 0)) continue;
      ctx.globalAlpha = c <= state.step ? 1 : 0.22;
      const conf = confidence[i];
      ctx.fillStyle = conf === null || conf === undefined ? '#9ca3af' : `hsl(${(Math.max(0, Math.min(1, conf)) * 120).toFixed(0)}, 75%, 42%)`;
      ctx.fillRect(xs(i), ys(c), Math.max(cw - (cw > 3 ? 1 : 0), 1), Math.max(rh, 2));
    }
    ctx.globalAlpha = 1;
    const y = Math.round(ys(state.step + 1)) + 0.5;
    ctx.strokeStyle = '#dc2626'; ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + w, y); ctx.stroke();
    if (decodeHover !== null) { ctx.strokeStyle = '#111827'; ctx.strokeRect(xs(decodeHover) - 0.5, top, Math.max(cw, 1) + 1, h); }
    ctx.fillStyle = '#6b7280'; ctx.font = '10px system-ui, sans-serif';
    ctx.textAlign = 'right'; ctx.textBaseline = 'top';
    ctx.fillText('step 0', left - 9, top); ctx.textBaseline = 'bottom'; ctx.fillText(String(T - 1), left - 9, top + h);
    ctx.textAlign = 'left'; ctx.textBaseline = 'top'; ctx.fillText(`position ${P}`, left, top + h + 4);
    ctx.textAlign = 'right'; ctx.fillText(String(L - 1), left + w, top + h + 4);
    decodeCanvas._geom = { left, w, top, h, cw, rh };
  }
  function setupDecode() {
    const posAt = (ev) => {
      const g = decodeCanvas._geom;
      if (!g) return null;
      const rect = decodeCanvas.getBoundingClientRect();
      const i = P + Math.floor((ev.clientX - rect.left - g.left) / g.cw);
      return i >= P && i < L ? i : null;
    };
    const stepAt = (ev) => {
      const g = decodeCanvas._geom;
      if (!g) return null;
      const s = Math.floor((ev.clientY - decodeCanvas.getBoundingClientRect().top - g.top) / g.rh);
      return s >= 0 && s < T ? s : null;
    };
    decodeCanvas.addEventListener('mousemove', (ev) => {
      const i = posAt(ev), s = stepAt(ev);
      decodeHover = i;
      const b = s !== null ? blockOfStep(s) : null;
      const stepText = s === null ? '' : `step ${s}${b ? ` (block ${b.block}, step ${s - b.start} of ${blockSteps(b.block)})` : ''}` +
        (hasCache && stepRecord(s) ? `: ${forwardSummary(s)}` : '');
      $('decode-readout').textContent = i === null ? (stepText || '\u00a0') :
        `${tokenDesc(i)}${confidence[i] !== null && confidence[i] !== undefined ? ` · confidence ${confidence[i]}` : ''}` + (stepText ? `\n${stepText}` : '');
      drawDecode();
    });
    decodeCanvas.addEventListener('mouseleave', () => { decodeHover = null; $('decode-readout').textContent = '\u00a0'; drawDecode(); });
    decodeCanvas.addEventListener('click', (ev) => {
      const i = posAt(ev);
      if (i !== null && commitStep[i] >= 0) { state.pinned = i; setStep(commitStep[i]); }
    });
  }

  // ==========================================================================================
  // [SECTION] cache drift (--cache-audit): cached vs exact forward at the audited steps
  // ==========================================================================================
  const drift = meta.drift || null;
  let driftData = null;  // Float32Array [audited steps, model layers, heads, stats]
  const driftCharts = [];
  async function loadDrift() {
    if (!drift) return;
    const raw = await inflate(blobBytes(drift.blob));
    const u16 = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength >> 1);
    driftData = new Float32Array(u16.length);
    for (let i = 0; i < u16.length; i++) driftData[i] = F16[u16[i]];
    if (driftData.length !== drift.shape.reduce((a, x) => a * x, 1)) throw new Error(`cache drift: ${driftData.length} values for shape ${drift.shape}`);
  }
  // Stat `name` of audited step k in model layer `layer`: the selected head, or the mean over heads.
  function driftAt(k, layer, name) {
    const [, nl, nh, ns] = drift.shape;
    const st = drift.stat_names.indexOf(name);
    if (st < 0) return NaN;
    const base = (k * nl + layer) * nh;
    if (state.head >= 0) return driftData[(base + state.head) * ns + st];
    let sum = 0, c = 0;
    for (let h = 0; h < nh; h++) { const v = driftData[(base + h) * ns + st]; if (isFinite(v)) { sum += v; c++; } }
    return c ? sum / c : NaN;
  }
  const agreement = (k) => (drift.argmax_rows[k] > 0 && drift.argmax_agree[k] !== null ? drift.argmax_agree[k] / drift.argmax_rows[k] : NaN);
  const DRIFT_CHARTS = [
    { name: 'JS divergence', unit: 'mean over the recomputed rows', stat: 'js_mean' },
    { name: 'L1 distance', unit: 'mean over the recomputed rows; dashed: their max', stat: 'l1_mean', also: 'l1_max' },
    { name: 'argmax agreement', unit: 'share of the logit rows whose argmax token agrees', step: agreement, range: [0, 1] },
    { name: 'logits max |Δ|', unit: 'largest logit difference, cached vs exact', step: (k) => (drift.logits_max_abs[k] === null ? NaN : drift.logits_max_abs[k]), range: [0, 0] },
  ];

  function buildDrift() {
    const panel = $('drift-panel');
    if (!drift || !driftData) { panel.hidden = true; return; }
    panel.hidden = false;
    const box = $('drift');
    for (const info of DRIFT_CHARTS) {
      const d = document.createElement('div');
      d.className = 'chart';
      d.innerHTML = `<span class="val"></span><div class="name">${info.name}</div><canvas></canvas>`;
      d.title = `${info.name}: ${info.unit}`;
      box.appendChild(d);
      const chart = { info, canvas: d.querySelector('canvas'), val: d.querySelector('.val') };
      chart.canvas.addEventListener('click', (ev) => { const s = chartStepAt(chart, ev); if (s !== null) setStep(s); });
      driftCharts.push(chart);
    }
  }

  const fmtSmall = (v) => (isFinite(v) ? (Math.abs(v) < 0.01 && v !== 0 ? v.toExponential(1) : v.toFixed(3)) : 'n/a');

  function redrawDrift() {
    if (!driftCharts.length) return;
    const layer = layers[state.li];
    const nl = drift.shape[1];
    const cssW = widths().chart, cssH = 120;
    const w = cssW - CH.left - CH.right, h = cssH - CH.top - CH.bottom;
    const xs = (s) => CH.left + (T > 1 ? (s / (T - 1)) * w : w / 2);
    const ka = drift.steps.indexOf(state.step);
    for (const chart of driftCharts) {
      const info = chart.info;
      // Series: per layer for the attention stats (this layer bold), one series for the logits.
      const series = [];
      if (info.stat) {
        for (let l = 0; l < nl; l++) if (l !== layer) series.push({ v: drift.steps.map((_, k) => driftAt(k, l, info.stat)), style: 'rgba(120,128,140,0.28)', width: 1 });
        if (info.also) series.push({ v: drift.steps.map((_, k) => driftAt(k, layer, info.also)), style: '#2563eb', width: 1, dash: [3, 2] });
        series.push({ v: drift.steps.map((_, k) => driftAt(k, layer, info.stat)), style: '#2563eb', width: 2 });
      } else {
        series.push({ v: drift.steps.map((_, k) => info.step(k)), style: '#2563eb', width: 2 });
      }
      let lo = Infinity, hi = -Infinity;
      for (const a of series) for (const v of a.v) if (isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      if (info.range) { lo = Math.min(lo, info.range[0]); hi = Math.max(hi, info.range[1]); }
      lo = Math.min(lo, 0);
      if (!isFinite(hi)) { lo = 0; hi = 1; }
      if (hi - lo < 1e-9) hi = lo + 1;
      const ys = (v) => CH.top + h - ((v - lo) / (hi - lo)) * h;
      const ctx = canvasSize(chart.canvas, cssW, cssH);
      ctx.clearRect(0, 0, cssW, cssH);
      ctx.strokeStyle = '#e5e7eb'; ctx.lineWidth = 1; ctx.strokeRect(CH.left + 0.5, CH.top + 0.5, w, h);
      ctx.fillStyle = '#6b7280'; ctx.font = '10px system-ui, sans-serif';
      ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
      ctx.fillText(hi < 0.1 ? hi.toPrecision(1) : fmtStat(hi), CH.left - 3, CH.top + 4); ctx.fillText(fmtStat(lo), CH.left - 3, CH.top + h - 3);
      ctx.textAlign = 'center'; ctx.textBaseline = 'top';
      ctx.fillText('0', xs(0), CH.top + h + 3); ctx.fillText(String(T - 1), xs(T - 1), CH.top + h + 3); ctx.fillText('step', CH.left + w / 2, CH.top + h + 3);
      ctx.save();
      ctx.beginPath(); ctx.rect(CH.left - 2, CH.top - 2, w + 4, h + 4); ctx.clip();
      for (const a of series) {
        ctx.strokeStyle = a.style; ctx.fillStyle = a.style; ctx.lineWidth = a.width; ctx.setLineDash(a.dash || []); ctx.beginPath();
        let pen = false, prev = -2;
        drift.steps.forEach((s, k) => {
          const v = a.v[k];
          if (!isFinite(v)) { pen = false; return; }
          // A gap in the audited steps (a full forward) breaks the line.
          if (pen && s === prev + 1) ctx.lineTo(xs(s), ys(v)); else ctx.moveTo(xs(s), ys(v));
          if (!pen || s !== prev + 1) ctx.fillRect(xs(s) - a.width / 2, ys(v) - a.width / 2, a.width, a.width);  // lone points show
          pen = true; prev = s;
        });
        ctx.stroke();
      }
      ctx.restore();
      ctx.setLineDash([]);
      const x = Math.round(xs(state.step)) + 0.5;
      ctx.strokeStyle = '#dc2626'; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(x, CH.top); ctx.lineTo(x, CH.top + h); ctx.stroke();
      const cur = ka >= 0 ? series[series.length - 1].v[ka] : NaN;
      if (isFinite(cur)) { ctx.fillStyle = '#dc2626'; ctx.beginPath(); ctx.arc(xs(state.step), ys(cur), 3, 0, 2 * Math.PI); ctx.fill(); }
      chart.val.textContent = ka >= 0 ? `step ${state.step}: ${fmtSmall(cur)}` : '';
    }
    const who = `layer ${layer}, ${state.head < 0 ? 'mean over heads' : 'head ' + state.head}`;
    $('drift-title').textContent = who;
    const fmt = fmtSmall;
    let text;
    if (ka >= 0) {
      text = `step ${state.step} (${who}): JS ${fmt(driftAt(ka, layer, 'js_mean'))} · L1 ${fmt(driftAt(ka, layer, 'l1_mean'))} (max ${fmt(driftAt(ka, layer, 'l1_max'))})` +
        ` · argmax ${drift.argmax_agree[ka] ?? '?'}/${drift.argmax_rows[ka] ?? '?'} rows agree · logits max |Δ| ${fmt(drift.logits_max_abs[ka] ?? NaN)}`;
    } else {
      const rec = stepRecord(state.step);
      text = `step ${state.step} was not audited` + (rec && rec.kind === 'full' ? ' (a full forward: nothing came from the cache)' : '');
    }
    $('drift-readout').textContent = text;
  }

  // ==========================================================================================
  // [SECTION] run information, start-up
  // ==========================================================================================
  function renderRunInfo() {
    const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
    const val = (v) => (typeof v === 'number' && !Number.isInteger(v) ? +v.toPrecision(4) : typeof v === 'object' && v !== null ? JSON.stringify(v) : v);
    const rows = (obj) => Object.entries(obj || {}).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(val(v))}</td></tr>`).join('');
    const m = meta.model || {};
    const cfg = m.config || {};
    const e = meta.embed;
    const mapsLine = maps.available ?
      `${e.maps_embedded} of ${e.maps_available} maps (${maps.steps.length} steps × ${maps.layers.length} layers, ${perStep} per step), ${R}×${L} each` : 'none (statistics only)';
    const capture = {
      selection: cap.selection, 'captured layers': cap.layers.join(', '), 'captured steps': `${capSteps.length} (${capSteps.slice(0, 8).join(', ')}${capSteps.length > 8 ? ', …' : ''})`,
      'stored heads': cap.map_heads, 'stored query rows': `${rowBegin}–${rowEnd - 1}`, dtype: cap.dtype, 'maps in this page': mapsLine,
      'size cap': `--max-mb ${e.max_mb}`,
    };
    if (hasCache) {
      const c = meta.cache || {};
      capture.cache = `${cacheMode}${c.parallel_threshold !== null && c.parallel_threshold !== undefined ? ` · parallel threshold ${c.parallel_threshold}` : ''}` +
        `${c.refresh ? ` · refresh every ${c.refresh}` : ''}${c.audit ? ' · audited' : ''}`;
      capture['stored rows per step'] = 'the rows each step recomputed (the others are hatched in the heatmap)';
    }
    $('run-info').innerHTML =
      `<div><h3>Prompt</h3><pre>${esc(meta.prompt)}</pre>` +
      (meta.prompt_text && meta.prompt_text !== meta.prompt ? `<details><summary class="hint">as the model saw it (chat template)</summary><pre>${esc(meta.prompt_text)}</pre></details>` : '') +
      `<h3>Generated text</h3><pre>${esc(meta.text || (meta.complete ? '(not in the manifest)' : '(not written: the run is incomplete)'))}</pre>` +
      (meta.text_with_special && meta.text_with_special !== meta.text ? `<details><summary class="hint">with special tokens</summary><pre>${esc(meta.text_with_special)}</pre></details>` : '') +
      `<h3>Capture</h3><table>${rows(capture)}</table></div>` +
      `<div><h3>Parameters</h3><table>${rows(meta.params)}</table>` +
      `<h3>Model</h3><table>${rows({ path: m.path, ...cfg })}</table>` +
      `<h3>Timings</h3><table>${rows(meta.timings)}</table></div>`;
    const p = meta.params || {};
    $('subtitle').textContent = [cfg.model_type, cfg.n_layers !== undefined ? `${cfg.n_layers} layers × ${cfg.n_heads} heads` : '',
      `prompt ${P} + generated ${L - P} tokens`, `${meta.T} steps`, p.block_length ? `blocks of ${p.block_length}` : '',
      hasCache ? `${cacheMode} cache` : '', p.parallel_threshold !== null && p.parallel_threshold !== undefined ? `threshold ${p.parallel_threshold}` : '',
      p.remasking, p.seed !== undefined ? `seed ${p.seed}` : '', meta.created].filter(Boolean).join(' · ');
    $('foot').textContent = `${meta.generator || 'dlmscope'} · ${meta.manifest}`;
  }

  // The cache's legends and summaries (a run with cached or threshold decoding).
  function renderCacheInfo() {
    const esc = (x) => String(x).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
    const counts = {};
    for (const k of sched.kind) counts[k] = (counts[k] || 0) + 1;
    const sw = (colour) => `<span class="sw" style="background:${colour}"></span>`;
    // Steps per block: may differ from block to block (threshold decoding).
    if (blocks.length) {
      const varies = new Set(blocks.map((b) => blockSteps(b.block))).size > 1;
      $('decode-blocks').innerHTML = `Steps per block${varies ? ' (they vary: the schedule depends on the confidences)' : ''}: ` +
        blocks.map((b) => `<span class="blk">block ${b.block}: ${blockSteps(b.block)} steps</span>`).join(' · ') +
        (hasCache ? `. Band on the left: each step’s forward, ${Object.entries(counts).map(([k, n]) => `${sw(kindColour(k))}${n} ${esc(kindName(k))}`).join(' ')}.` : '.');
    }
    drawStepMarks();
    if (!hasCache) return;
    $('step-legend').hidden = false;
    $('step-legend').innerHTML = Object.keys(counts).map((k) => `${sw(kindColour(k))}${esc(kindName(k))} forward`).join(' ') +
      ' <span class="sw" style="background:#111827;width:3px"></span>block boundary';
    const ramp = `linear-gradient(to right, ${ageColour(1)}, ${ageColour(maxAge)})`;
    const th = meta.cache && meta.cache.parallel_threshold !== null && meta.cache.parallel_threshold !== undefined ? `, threshold ${meta.cache.parallel_threshold}` : '';
    $('cache-legend').hidden = false;
    $('cache-legend').innerHTML = `<b>${esc(cacheMode)} cache${esc(th)}</b>: <span class="sw sw-absent"></span>query row not recomputed at this step ` +
      '(the forward computed no attention for it; its K/V come from the cache) · strip above the keys: ' +
      `<span class="sw sw-ramp" style="background:${ramp}"></span>key read from the cache, age 1 … ${maxAge} step${maxAge === 1 ? '' : 's'} ` +
      '(since the forward that computed it; hover for its step), no mark: computed in this forward.';
    $('legend').insertAdjacentHTML('beforeend', ' <span class="sw sw-stale"></span>dotted line above: not recomputed in this step’s forward (cached).');
  }

  function redrawStep() { redrawAll(); }
  function redrawAll() {
    stepLabel();
    redrawHeat();
    redrawMetrics();
    redrawDrift();
    drawDecode();
  }

  async function start() {
    $('title').textContent = meta.title;
    if (typeof DecompressionStream !== 'function') {
      showNotice('This browser lacks DecompressionStream, which the page needs to read its data (Chrome/Edge 80+, Firefox 113+, Safari 16.4+).', 'error');
      return;
    }
    if (!meta.complete) showNotice(`This run is incomplete: ${meta.error || 'no reason given'}. The page shows the steps it captured.`);
    for (const w of meta.warnings || []) if (meta.complete) showNotice(w);
    if (meta.embed.notes.length) {
      const d = document.createElement('div');
      d.innerHTML = '<b>Not everything fits in this file:</b><ul></ul>';
      for (const n of meta.embed.notes) { const li = document.createElement('li'); li.textContent = n; d.querySelector('ul').appendChild(li); }
      $('notices').appendChild(d);
    }
    renderRunInfo();
    setupControls();
    buildStrip();
    setupHeatMouse();
    setupDecode();
    await loadStats();
    buildCharts();
    try {
      await loadDrift();
    } catch (err) {
      driftData = null;
      showNotice(`The cache drift could not be read: ${err.message}`);
    }
    buildDrift();
    renderCacheInfo();
    // Start at the middle layer (one with maps, when only some layers have them).
    state.li = Math.min(layers.length - 1, Math.floor(layers.length / 2));
    layerEl.value = String(state.li);
    if (maps.steps.length && !mapLayerIdx.has(state.li)) { state.li = maps.layers[Math.floor(maps.layers.length / 2)]; layerEl.value = String(state.li); }
    // Start on the head mean, or on the first stored head when the run stores a list of heads.
    if (maps.steps.length && !hasMap(state.li, state.head)) { state.head = maps.layer_heads[mapLayerIdx.get(state.li)][0]; headEl.value = String(state.head); }
    markHeads();
    redrawAll();
    let resizeTimer = 0;
    new ResizeObserver(() => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => { measured = null; drawHeatFrame(currentMapRef()); redrawMetrics(); redrawDrift(); drawDecode(); drawStepMarks(); }, 60); })
      .observe(document.body);
    await new Promise((r) => requestAnimationFrame(r));
    document.body.dataset.ready = '1';
  }

  // A small API for tests and the console.
  window.dlmscopeViewer = {
    meta, state, setStep,
    // Decoded probabilities [R × L] of (embedded step index, map layer index, map head index).
    async mapValues(msi, mli, mhi) {
      const m = await getMap(msi, mli, mhi);
      const out = new Float32Array(R * L);
      for (let i = 0; i < out.length; i++) out[i] = m.absent[Math.floor(i / L)] ? NaN : m.lut[m.q[i]];
      return out;
    },
    // Rows (stored row index) of that map that are absent: not recomputed at its step.
    async absentRows(msi, mli, mhi) {
      const m = await getMap(msi, mli, mhi);
      return Array.from(m.absent.keys()).filter((r) => m.absent[r]);
    },
    keyStepsAt(s) { const ks = keyStepsAt(s); return ks ? Array.from(ks) : null; },
    keyStepsFromRecords(s) { const ks = keyStepsFromRecords(s); return ks ? Array.from(ks) : null; },
    // The decoded cache audit, f16 → f32 [audited steps, layers, heads, stats] (null without one).
    get driftValues() { return driftData ? Array.from(driftData) : null; },
    forwardSummary,
    blocks,
    get heatDraws() { return heatCount; },
    // The heatmap's geometry in CSS pixels of #heat: plot origin, cell size, view, strip heights.
    get heatGeometry() { const g = heatLayout; return g && { x0: g.x0, y0: g.y0, pw: g.pw, ph: g.ph, cell: g.cell, view: g.v, strip: g.strip, age: g.age }; },
  };

  start().catch((err) => {
    console.error(err);
    showNotice(`The viewer failed to start: ${err.message}`, 'error');
  });
})();
