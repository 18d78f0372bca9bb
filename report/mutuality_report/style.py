"""The report's stylesheet, inlined into the page: readable on screen, one column on A4."""

CSS = """
:root { --ink:#1d2330; --muted:#5b6475; --line:#dfe3ea; --soft:#f5f7fa; --accent:#0b5cab; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans",
  Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 28px 28px 40px; }
h1 { font-size: 28px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 21px; margin: 36px 0 10px; padding-bottom: 6px;
  border-bottom: 2px solid var(--ink); }
h3 { font-size: 16px; margin: 22px 0 8px; }
h3 .count { color: var(--muted); font-weight: normal; }
p { margin: 6px 0 10px; max-width: 76ch; }
a { color: var(--accent); }
.facts { color: var(--muted); margin: 0 0 16px; max-width: none; }
.facts span { display: inline-block; margin-right: 18px; }
.facts strong { color: var(--ink); font-weight: 600; }
.cards { display: grid; grid-template-columns: repeat(5, 1fr); gap: 10px; margin: 0; }
.card { background: var(--soft); border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 14px; }
.card dt { color: var(--muted); font-size: 13px; }
.card dd { margin: 0; }
.card .big { display: block; font-size: 26px; font-weight: 650; line-height: 1.2; }
.card dd span + span { color: var(--muted); font-size: 13px; }
nav ol { list-style: none; display: flex; flex-wrap: wrap; gap: 6px 18px; padding: 10px 0 0;
  margin: 18px 0 0; border-top: 1px solid var(--line); }
nav a { text-decoration: none; font-weight: 600; }
figure { margin: 10px 0 14px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg.chart { display: block; width: 100%; height: auto; max-width: 760px; }
svg text { font-family: inherit; fill: var(--ink); }
svg .lbl { font-size: 14px; }
svg .val { font-size: 13px; fill: var(--muted); }
svg .tick { font-size: 12px; fill: var(--muted); }
svg .axis { font-size: 13px; fill: var(--ink); }
svg .quad { font-size: 13px; font-weight: 600; fill: #39404d; paint-order: stroke;
  stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
svg .mid { stroke: #8a93a3; stroke-dasharray: 4 4; }
svg .dots use, svg .cells use { stroke: #fff; stroke-width: 0.6; }
.map-box { display: flex; gap: 24px; align-items: flex-start; }
.map-box svg.chart { flex: 1 1 auto; min-width: 0; }
.legend { list-style: none; padding: 12px 16px; margin: 8px 0 0; flex: 0 0 210px;
  border: 1px solid var(--line); border-radius: 8px; background: var(--soft); }
.legend li { display: flex; align-items: center; gap: 8px; padding: 3px 0; }
.legend .n { margin-left: auto; color: var(--muted); font-variant-numeric: tabular-nums; }
.legend li, .band { white-space: nowrap; }
.marker { vertical-align: -2px; }
.table-wrap { overflow-x: auto; margin: 8px 0 12px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
caption { text-align: left; font-weight: 600; padding: 4px 0 6px; color: var(--muted); }
th, td { text-align: left; vertical-align: top; padding: 6px 10px;
  border-bottom: 1px solid var(--line); }
thead th { background: var(--soft); border-bottom: 1px solid #c9cfd9; font-size: 13px; }
tbody th { font-weight: 600; }
tbody tr:nth-child(even) { background: #fbfcfd; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.id { color: var(--muted); font-weight: normal; font-size: 12px; }
.delta { color: var(--muted); font-size: 12px; }
.reasons { margin: 0; padding-left: 16px; color: #323a48; font-size: 13px; }
.reasons li { margin: 0 0 2px; }
.top-list td:last-child, .change-list td:last-child { min-width: 300px; }
.empty, .more { color: var(--muted); font-style: italic; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  white-space: nowrap; }
footer { margin-top: 40px; padding-top: 10px; border-top: 1px solid var(--line);
  color: var(--muted); font-size: 13px; }
code { font-size: 0.92em; background: var(--soft); padding: 0 3px; border-radius: 3px; }
@media (max-width: 760px) {
  .cards { grid-template-columns: repeat(2, 1fr); }
  .map-box { display: block; }
}
@page { size: A4; margin: 14mm 12mm; }
@media print {
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  h2 { break-after: avoid; margin-top: 20px; }
  h3 { break-after: avoid; }
  figure, tr, .card { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  table { font-size: 9pt; }
  th, td { padding: 3px 5px; }
  .band { white-space: normal; }
  .top-list td:last-child, .change-list td:last-child { min-width: 0; }
  svg.chart { max-width: 100%; }
  .map-box { display: block; }
  .legend { display: flex; flex-wrap: wrap; gap: 4px 18px; }
  .legend .n { margin-left: 0; }
  .cards { grid-template-columns: repeat(5, 1fr); }
  a { color: inherit; text-decoration: none; }
}
"""
