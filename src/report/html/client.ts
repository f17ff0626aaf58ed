// The HTML report's script, as the page inlines it (allowed by its hash in the page's CSP): the
// calls table's filter, and each call's timeline drawn as SVG from the page's embedded data when
// its section is open, redrawn to the width it has. Every text it shows goes in as textContent,
// never markup. Plain browser JavaScript in a string: this project's TypeScript is compiled for
// Node without the DOM types, and one small script does not warrant a second build.

export const REPORT_SCRIPT = String.raw`
'use strict';
(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const data = JSON.parse(document.getElementById('callsim-data').textContent);
  const calls = data.calls;

  // ---- the calls table's filter --------------------------------------------------------------
  const text = document.getElementById('filter-text');
  const selects = Array.from(document.querySelectorAll('select[data-filter]'));
  const rows = Array.from(document.querySelectorAll('tr.row'));
  const shown = document.getElementById('filter-count');
  function applyFilter() {
    const needle = text.value.trim().toLowerCase();
    let count = 0;
    for (const row of rows) {
      const call = calls[Number(row.dataset.index)];
      let ok = needle === '' || (call.id + ' ' + (call.callSid || '')).toLowerCase().includes(needle);
      for (const select of selects) if (select.value !== '' && call[select.dataset.filter] !== select.value) ok = false;
      row.hidden = !ok;
      const section = document.getElementById('call-' + row.dataset.index);
      if (section) section.hidden = !ok;
      if (ok) count += 1;
    }
    shown.textContent = count + ' of ' + rows.length + ' calls';
  }
  text.addEventListener('input', applyFilter);
  for (const select of selects) select.addEventListener('change', applyFilter);
  for (const row of rows) {
    row.addEventListener('click', () => {
      const section = document.getElementById('call-' + row.dataset.index);
      if (!section) return;
      section.open = true;
      section.scrollIntoView({ block: 'start' });
    });
  }
  applyFilter();

  // ---- timelines -----------------------------------------------------------------------------
  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const key of Object.keys(attrs)) node.setAttribute(key, String(attrs[key]));
    if (parent) parent.appendChild(node);
    return node;
  }
  function label(parent, x, y, content, cls, anchor) {
    const node = el('text', { x: x, y: y, 'text-anchor': anchor || 'start' }, parent);
    if (cls) node.setAttribute('class', cls);
    node.textContent = content;
    return node;
  }
  function titled(node, content) {
    const title = document.createElementNS(SVG, 'title');
    title.textContent = content;
    node.appendChild(title);
    return node;
  }
  function seconds(ms) {
    return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
  }
  // Roughly how wide a label of 11 px system-ui is: enough to keep two labels apart.
  const textWidth = (content) => content.length * 6.2 + 8;
  const STEPS = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 30000, 60000, 120000, 300000, 600000];

  // A waveform row: the loudest bin under each pixel, as a bar around the row's middle.
  function wave(svg, waveform, x, span, plotWidth, top, height, cls) {
    const columns = new Float64Array(Math.max(1, Math.ceil(plotWidth)));
    const levels = waveform.levels;
    for (let b = 0; b < levels.length; b++) {
      if (levels[b] === 0) continue;
      const from = Math.floor(((b * waveform.binMs) / span) * plotWidth);
      const to = Math.max(from, Math.floor((((b + 1) * waveform.binMs) / span) * plotWidth) - 1);
      for (let c = from; c <= to && c < columns.length; c++) columns[c] = Math.max(columns[c], levels[b]);
    }
    const middle = top + height / 2;
    let path = '';
    for (let c = 0; c < columns.length; c++) {
      if (columns[c] === 0) continue;
      const half = Math.max(0.5, Math.sqrt(columns[c] / 100) * (height / 2 - 1));
      const px = (x(0) + c + 0.5).toFixed(1);
      path += 'M' + px + ' ' + (middle - half).toFixed(1) + 'V' + (middle + half).toFixed(1);
    }
    el('line', { x1: x(0), x2: x(span), y1: middle, y2: middle, class: 'grid' }, svg);
    if (path !== '') el('path', { d: path, class: cls, 'stroke-width': 1, fill: 'none' }, svg);
  }

  function drawTimeline(container, call) {
    const t = call.timeline;
    container.textContent = '';
    const width = Math.max(280, container.clientWidth);
    const narrow = width < 600;
    const gutter = narrow ? 50 : 96;
    const plotWidth = width - gutter - 12;
    const span = t.spanMs;
    const x = (ms) => gutter + (Math.min(Math.max(ms, 0), span) / span) * plotWidth;
    const lanes = ['call', 'caller', 'agent', 'model'].filter((lane) => t.events.some((e) => e.lane === lane));
    const rows = [
      { key: 'axis', label: '', height: 18 },
      { key: 'caller', label: narrow ? 'caller' : 'caller audio', height: 40 },
      { key: 'heard', label: narrow ? 'heard' : 'agent, heard', height: 40 },
      { key: 'sent', label: narrow ? 'sent' : 'agent, sent', height: 18 },
      ...lanes.map((lane) => ({ key: 'lane-' + lane, label: narrow ? lane : lane + ' events', height: 24 })),
      { key: 'notes', label: narrow ? 'found' : 'findings', height: 26 },
    ];
    let y = 0;
    const top = {};
    for (const row of rows) {
      top[row.key] = y;
      y += row.height;
    }
    const height = y + 4;
    const svg = el('svg', { viewBox: '0 0 ' + width + ' ' + height, width: width, height: height, role: 'img' }, container);
    titled(svg, 'Timeline of ' + call.id + ': ' + seconds(span));
    for (const row of rows) if (row.label) label(svg, 4, top[row.key] + row.height / 2 + 4, row.label, 'row-label');

    // Time axis, a tick every step that leaves at least 70 px between labels.
    const step = STEPS.find((s) => (s / span) * plotWidth >= 70) || STEPS[STEPS.length - 1];
    el('line', { x1: x(0), x2: x(span), y1: 16, y2: 16, class: 'axis' }, svg);
    for (let ms = 0; ms <= span; ms += step) {
      el('line', { x1: x(ms), x2: x(ms), y1: 12, y2: height, class: 'grid', 'stroke-opacity': 0.35 }, svg);
      label(svg, x(ms) + 2, 11, seconds(ms));
    }

    wave(svg, t.caller, x, span, plotWidth, top.caller, 40, 'wave-caller');
    wave(svg, t.agentHeard, x, span, plotWidth, top.heard, 40, 'wave-heard');
    wave(svg, t.agentSent, x, span, plotWidth, top.sent, 18, 'wave-sent');

    // Milestones across every row; each event on its lane's row; a clear's cut audio on the heard row.
    const byRow = {};
    for (const event of t.events) {
      const ex = x(event.t);
      const rowKey = 'lane-' + event.lane;
      const describe = event.kind + (event.label ? ': ' + event.label : '') + ' at ' + seconds(event.t) + (event.durationMs !== null ? ' (' + Math.round(event.durationMs) + ' ms)' : '');
      if (event.lane === 'call') el('line', { x1: ex, x2: ex, y1: 16, y2: height, class: 'milestone' }, svg);
      if (event.kind === 'clear' && event.durationMs) {
        titled(el('rect', { x: ex, y: top.heard + 2, width: Math.max(1, x(event.t + event.durationMs) - ex), height: 36, class: 'cut' }, svg), 'audio the clear cut: ' + Math.round(event.durationMs) + ' ms');
      }
      const cls = 'ev ev-' + event.kind.replace(/[^a-z0-9-]/gi, '') + ' lane-' + event.lane;
      const mid = top[rowKey] + 12;
      const shape = el('path', { d: 'M' + ex + ' ' + (mid - 5) + 'L' + (ex + 4) + ' ' + mid + 'L' + ex + ' ' + (mid + 5) + 'L' + (ex - 4) + ' ' + mid + 'Z', class: cls }, svg);
      titled(shape, describe);
      (byRow[rowKey] = byRow[rowKey] || []).push({ x: ex, mid: mid, text: event.kind === 'dtmf' ? 'DTMF ' + event.label : event.kind });
    }
    // A label only where it overlaps neither the last label nor the next shape on its row: the
    // rest are in each shape's title (hover, or a long press on a phone).
    for (const key of Object.keys(byRow)) {
      const items = byRow[key];
      let lastEnd = -Infinity;
      for (let i = 0; i < items.length; i++) {
        const item = items[i];
        const text = item.text.length > 18 ? item.text.slice(0, 17) + '…' : item.text;
        const w = textWidth(text);
        const next = items[i + 1] ? items[i + 1].x : Infinity;
        const atEnd = item.x + 6 + w > width;
        const from = atEnd ? item.x - 6 - w : item.x + 6;
        if (from <= lastEnd || (!atEnd && next < from + w)) continue;
        label(svg, atEnd ? item.x - 6 : item.x + 6, item.mid + 4, text, '', atEnd ? 'end' : 'start');
        lastEnd = from + w;
      }
    }

    if (t.firstAudio) {
      const fy = top.heard + 6;
      const x1 = x(t.firstAudio.from);
      const x2 = x(t.firstAudio.to);
      el('path', { d: 'M' + x1 + ' ' + (fy - 4) + 'V' + (fy + 4) + 'M' + x1 + ' ' + fy + 'H' + x2 + 'M' + x2 + ' ' + (fy - 4) + 'V' + (fy + 4), class: 'latency' }, svg);
      const text = 'first audio ' + Math.round(t.firstAudio.ms) + ' ms';
      titled(label(svg, Math.min(x2 + 4, width - 110), fy + 4, text, 'latency-label'), text + ' (from the caller\u2019s first frame, or start, to the first audio back)');
    }

    // Findings at (nearly) one moment are one marker: its title lists them all.
    const placed = call.notes.filter((note) => note.t !== null).sort((a, b) => a.t - b.t);
    const clusters = [];
    for (const note of placed) {
      const nx = x(note.t);
      const last = clusters[clusters.length - 1];
      if (last && nx - last.x < 8) last.notes.push(note);
      else clusters.push({ x: nx, notes: [note] });
    }
    let lastNoteEnd = -Infinity;
    for (const cluster of clusters) {
      const nx = cluster.x;
      el('line', { x1: nx, x2: nx, y1: 16, y2: height, class: 'note-line' }, svg);
      const ny = top.notes + 13;
      const marker = el('path', { d: 'M' + nx + ' ' + (ny - 6) + 'L' + (nx + 6) + ' ' + ny + 'L' + nx + ' ' + (ny + 6) + 'L' + (nx - 6) + ' ' + ny + 'Z', class: 'note' }, svg);
      titled(marker, cluster.notes.map((note) => note.kind + ': ' + note.text).join('\n'));
      const text = cluster.notes.length === 1 ? cluster.notes[0].kind : cluster.notes.length + ' findings';
      const w = textWidth(text);
      const anchor = nx + 9 + w > width ? 'end' : 'start';
      const from = anchor === 'end' ? nx - 9 - w : nx + 9;
      if (from > lastNoteEnd) {
        label(svg, anchor === 'end' ? nx - 9 : nx + 9, ny + 4, text, 'note-label', anchor);
        lastNoteEnd = from + w;
      }
    }
    container.dataset.drawn = String(width);
  }

  const containers = Array.from(document.querySelectorAll('.timeline[data-index]'));
  function drawOpen() {
    for (const container of containers) {
      const call = calls[Number(container.dataset.index)];
      const section = container.closest('details');
      if (!call.timeline || (section && !section.open)) continue;
      if (container.dataset.drawn === String(Math.max(280, container.clientWidth))) continue;
      drawTimeline(container, call);
    }
  }
  for (const section of document.querySelectorAll('details.call')) section.addEventListener('toggle', drawOpen);
  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawOpen, 100);
  });
  drawOpen();
})();
`;
