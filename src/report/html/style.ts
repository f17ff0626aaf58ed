// The HTML report's stylesheet: system fonts, light and dark, one column on a phone (wide tables
// scroll inside their own box, never the page), the timeline's colours by class so dark mode
// changes them too. Inlined in the page and allowed by its hash in the page's CSP.

export const REPORT_CSS = `
:root { --bg: #ffffff; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --card: #f6f8fa;
  --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; --caller: #0969da; --agent: #1a7f37; --sent: #8c959f; --model: #8250df; --cut: #cf222e; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #3d444d; --card: #151b23;
    --pass: #3fb950; --fail: #f85149; --warn: #d29922; --caller: #4493f8; --agent: #3fb950; --sent: #656c76; --model: #ab7df8; --cut: #f85149; }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 16px; }
h1 { font-size: 20px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 16px; margin: 24px 0 8px; }
h3 { font-size: 14px; margin: 12px 0 4px; }
p, li { overflow-wrap: anywhere; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
pre { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 8px; margin: 4px 0; overflow: auto; max-height: 28em; white-space: pre; }
.muted { color: var(--muted); }
.pass { color: var(--pass); } .fail { color: var(--fail); } .warn, .not-run { color: var(--warn); }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-weight: 600; font-size: 12px; border: 1px solid currentColor; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 8px; margin: 12px 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.card b { display: block; font-size: 20px; }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { background: var(--card); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { white-space: normal; overflow-wrap: anywhere; }
tbody tr:last-child td { border-bottom: 0; }
tr.row { cursor: pointer; }
tr.row:hover { background: var(--card); }
.filters { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; align-items: center; }
.filters input, .filters select { font: inherit; color: inherit; background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 4px 8px; }
.filters input { flex: 1 1 200px; min-width: 0; }
ul.findings { padding-left: 20px; }
ul.findings li { margin: 6px 0; }
details.call { border: 1px solid var(--line); border-radius: 6px; margin: 10px 0; }
details.call > summary { cursor: pointer; padding: 8px 12px; background: var(--card); border-radius: 6px; overflow-wrap: anywhere; }
details.call[open] > summary { border-bottom: 1px solid var(--line); border-radius: 6px 6px 0 0; }
.call-body { padding: 8px 12px; }
.timeline { width: 100%; min-height: 48px; margin: 8px 0; }
.timeline svg { display: block; width: 100%; height: auto; overflow: visible; }
.timeline .axis, .timeline .grid { stroke: var(--line); stroke-width: 1; }
.timeline text { fill: var(--muted); font-size: 11px; font-family: system-ui, sans-serif; }
.timeline text.row-label { fill: var(--fg); }
.timeline .wave-caller { stroke: var(--caller); }
.timeline .wave-heard { stroke: var(--agent); }
.timeline .wave-sent { stroke: var(--sent); }
.timeline .cut { fill: var(--cut); opacity: 0.18; }
.timeline .ev { stroke: var(--muted); fill: var(--muted); }
.timeline .ev-clear { stroke: var(--cut); fill: var(--cut); }
.timeline .ev-mark-received { fill: var(--agent); stroke: var(--agent); }
.timeline .ev-mark-echoed { fill: var(--caller); stroke: var(--caller); }
.timeline .ev-wire-error { stroke: var(--fail); fill: var(--fail); }
.timeline .lane-model { stroke: var(--model); fill: var(--model); }
.timeline .milestone { stroke: var(--muted); stroke-dasharray: 2 3; }
.timeline .latency { stroke: var(--warn); fill: none; stroke-width: 1.5; }
.timeline text.latency-label { fill: var(--warn); }
.timeline .note { fill: var(--fail); stroke: var(--fail); }
.timeline .note-line { stroke: var(--fail); stroke-width: 1; opacity: 0.5; }
.timeline text.note-label { fill: var(--fail); }
.legend { font-size: 12px; }
.legend span { white-space: nowrap; margin-right: 12px; }
.sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; vertical-align: -1px; margin-right: 4px; }
.sw-caller { background: var(--caller); } .sw-heard { background: var(--agent); } .sw-sent { background: var(--sent); } .sw-note { background: var(--fail); } .sw-latency { background: var(--warn); }
audio { width: 100%; max-width: 480px; }
@media (max-width: 640px) {
  main { padding: 8px; }
  .wide { display: none; }
  th, td { padding: 4px 6px; }
}
`;
