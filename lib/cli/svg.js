'use strict'
// Inline SVG charts for the self-contained HTML reports: no library, no network, nothing but
// markup. Every label and tooltip goes through `escapeHtml`, because fixture names, model names
// and error messages come from outside and may contain markup.

const { min: minOf, max: maxOf } = require('./summary.js')

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c])
}

const W = 900
const H = 340
const PAD = { left: 56, right: 16, top: 20, bottom: 84 }

function fmt(n, digits = 1) {
  if (!Number.isFinite(n)) return '0'
  if (Math.abs(n) >= 100 || Number.isInteger(n)) return String(Math.round(n))
  return String(Number(n.toFixed(Math.abs(n) < 1 ? 2 : digits)))
}

/** A "nice" upper bound and tick step for an axis from 0 to max. */
function niceScale(max, ticks = 5) {
  if (!(max > 0)) return { top: 1, step: 0.2 }
  const raw = max / ticks
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)
  return { top: Math.ceil(max / step) * step, step }
}

function frame(title, inner, { yLabel, xLabel, top, step, id }) {
  const plotH = H - PAD.top - PAD.bottom
  const out = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="${escapeHtml(id)}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(title)}">`)
  out.push(`<title>${escapeHtml(title)}</title>`)
  for (let v = 0; v <= top + step / 2; v += step) {
    const y = PAD.top + plotH - (v / top) * plotH
    out.push(`<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}"/>`)
    out.push(`<text class="tick" x="${PAD.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${escapeHtml(fmt(v))}</text>`)
  }
  out.push(`<line class="axis" x1="${PAD.left}" x2="${PAD.left}" y1="${PAD.top}" y2="${PAD.top + plotH}"/>`)
  out.push(`<line class="axis" x1="${PAD.left}" x2="${W - PAD.right}" y1="${PAD.top + plotH}" y2="${PAD.top + plotH}"/>`)
  if (yLabel) out.push(`<text class="label" transform="translate(14 ${PAD.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(yLabel)}</text>`)
  if (xLabel) out.push(`<text class="label" x="${PAD.left + (W - PAD.left - PAD.right) / 2}" y="${H - 6}" text-anchor="middle">${escapeHtml(xLabel)}</text>`)
  out.push(inner)
  out.push('</svg>')
  return out.join('')
}

function shorten(label, max = 18) {
  const s = String(label)
  return s.length > max ? `${s.slice(0, max - 1)}…` : s
}

/**
 * Bars in groups: `groups` = [{label, values: [number per series]}], `series` = [{name, cls}].
 * One <rect class="bar ..."> per value, each with a tooltip and data-value.
 */
function groupedBarChart({ id, title, groups, series, yLabel, xLabel, max, unit = '' }) {
  const plotW = W - PAD.left - PAD.right
  const plotH = H - PAD.top - PAD.bottom
  const peak = max ?? Math.max(0, maxOf(groups.flatMap((g) => g.values)))
  const { top, step } = niceScale(peak)
  const slot = groups.length ? plotW / groups.length : plotW
  const barW = Math.max(1, Math.min(48, (slot * 0.8) / series.length))
  const parts = []
  groups.forEach((g, gi) => {
    const x0 = PAD.left + gi * slot + (slot - barW * series.length) / 2
    g.values.forEach((v, si) => {
      const h = top > 0 ? (Math.max(0, v) / top) * plotH : 0
      const x = x0 + si * barW
      const y = PAD.top + plotH - h
      const tip = `${g.label}${series.length > 1 ? ` — ${series[si].name}` : ''}: ${fmt(v, 2)}${unit}`
      if (groups.length * series.length <= 24) {
        parts.push(`<text class="value" x="${(x + barW / 2).toFixed(1)}" y="${(y - 3).toFixed(1)}" text-anchor="middle">${escapeHtml(fmt(v))}</text>`)
      }
      parts.push(
        `<rect class="bar ${escapeHtml(series[si].cls)}" data-value="${escapeHtml(v)}" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}"><title>${escapeHtml(tip)}</title></rect>`,
      )
    })
    const lx = PAD.left + gi * slot + slot / 2
    const ly = PAD.top + plotH + 14
    const rotate = groups.length > 8 ? ` transform="rotate(35 ${lx.toFixed(1)} ${ly})"` : ''
    const anchor = groups.length > 8 ? 'start' : 'middle'
    parts.push(`<text class="tick" x="${lx.toFixed(1)}" y="${ly}" text-anchor="${anchor}"${rotate}>${escapeHtml(shorten(g.label))}</text>`)
  })
  if (series.length > 1) {
    series.forEach((s, i) => {
      const x = W - PAD.right - 120 * (series.length - i)
      parts.push(
        `<rect class="legend ${escapeHtml(s.cls)}" x="${x}" y="2" width="10" height="10"/><text class="tick" x="${x + 14}" y="11">${escapeHtml(s.name)}</text>`,
      )
    })
  }
  return frame(title, parts.join(''), { yLabel, xLabel, top, step, id })
}

function barChart({ id, title, items, yLabel, xLabel, max, unit, cls = 'primary' }) {
  return groupedBarChart({
    id,
    title,
    groups: items.map((it) => ({ label: it.label, values: [it.value] })),
    series: [{ name: title, cls }],
    yLabel,
    xLabel,
    max,
    unit,
  })
}

/** Histogram of values in `bins` equal-width bins; bars carry the count of each bin. */
function histogram({ id, title, values, bins = 12, unit = 'ms', xLabel }) {
  if (values.length === 0) return barChart({ id, title, items: [], yLabel: 'count', xLabel })
  const lo = minOf(values)
  const hi = maxOf(values)
  const n = hi === lo ? 1 : Math.min(bins, Math.max(1, values.length))
  const width = hi === lo ? 1 : (hi - lo) / n
  const counts = new Array(n).fill(0)
  for (const v of values) counts[Math.min(n - 1, Math.floor((v - lo) / width))]++
  const items = counts.map((c, i) => ({ label: `${fmt(lo + i * width)}–${fmt(hi === lo ? hi : lo + (i + 1) * width)}${unit}`, value: c }))
  return barChart({ id, title, items, yLabel: 'requests', xLabel, cls: 'primary' })
}

/**
 * A scatter of points (x, y, ok) with an optional line; points are <circle class="point ok|fail">.
 */
function scatterChart({ id, title, points, line, xLabel, yLabel, xUnit = '', yUnit = '' }) {
  const plotW = W - PAD.left - PAD.right
  const plotH = H - PAD.top - PAD.bottom
  const { top, step } = niceScale(Math.max(0, maxOf(points.map((p) => p.y))))
  // The axis spans the data (a 50 ms test is not squeezed into the left of a 1 s axis).
  const span = maxOf(points.map((p) => p.x))
  const xMax = span > 0 ? span : 1
  const sx = (x) => PAD.left + (x / xMax) * plotW
  const sy = (y) => PAD.top + plotH - (Math.max(0, y) / top) * plotH
  const parts = []
  for (const p of points) {
    parts.push(
      `<circle class="point ${p.ok ? 'ok' : 'fail'}" data-value="${escapeHtml(p.y)}" cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3"><title>${escapeHtml(`${fmt(p.x)}${xUnit}: ${fmt(p.y)}${yUnit}${p.ok ? '' : ` — failed${p.note ? `: ${p.note}` : ''}`}`)}</title></circle>`,
    )
  }
  if (line && line.length > 1) {
    parts.push(`<polyline class="trend" points="${line.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`)
  }
  for (let i = 0; i <= 4; i++) {
    const x = (xMax * i) / 4
    parts.push(`<text class="tick" x="${sx(x).toFixed(1)}" y="${PAD.top + plotH + 16}" text-anchor="middle">${escapeHtml(fmt(x))}${escapeHtml(xUnit)}</text>`)
  }
  return frame(title, parts.join(''), { yLabel, xLabel, top, step, id })
}

/**
 * Differences with their confidence intervals, on a fixed -100..100 axis (percentage points):
 * `items` = [{label, value, lower, upper, significant}]. Each item is a <line class="ci"> and a
 * <circle class="point diff ..."> carrying data-value.
 */
function intervalChart({ id, title, items, yLabel, xLabel }) {
  const plotW = W - PAD.left - PAD.right
  const plotH = H - PAD.top - PAD.bottom
  const sy = (v) => PAD.top + plotH / 2 - (Math.max(-100, Math.min(100, v)) / 100) * (plotH / 2)
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="${escapeHtml(id)}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(title)}">`,
    `<title>${escapeHtml(title)}</title>`,
  ]
  for (const v of [-100, -50, 0, 50, 100]) {
    parts.push(`<line class="${v === 0 ? 'axis' : 'grid'}" x1="${PAD.left}" x2="${W - PAD.right}" y1="${sy(v).toFixed(1)}" y2="${sy(v).toFixed(1)}"/>`)
    parts.push(`<text class="tick" x="${PAD.left - 6}" y="${(sy(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`)
  }
  if (yLabel) parts.push(`<text class="label" transform="translate(14 ${PAD.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(yLabel)}</text>`)
  if (xLabel) parts.push(`<text class="label" x="${PAD.left + plotW / 2}" y="${H - 6}" text-anchor="middle">${escapeHtml(xLabel)}</text>`)
  const slot = items.length ? plotW / items.length : plotW
  items.forEach((it, i) => {
    const x = PAD.left + slot * i + slot / 2
    const tip = `${it.label}: ${fmt(it.value)} points, 95% CI ${fmt(it.lower)} to ${fmt(it.upper)}${it.significant ? ' (significant)' : ''}`
    parts.push(`<line class="ci" x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${sy(it.lower).toFixed(1)}" y2="${sy(it.upper).toFixed(1)}"/>`)
    parts.push(
      `<circle class="point diff${it.significant ? ' significant' : ''}" data-value="${escapeHtml(it.value)}" cx="${x.toFixed(1)}" cy="${sy(it.value).toFixed(1)}" r="5"><title>${escapeHtml(tip)}</title></circle>`,
    )
    parts.push(`<text class="tick" x="${x.toFixed(1)}" y="${PAD.top + plotH + 16}" text-anchor="middle">${escapeHtml(shorten(it.label, 28))}</text>`)
  })
  parts.push('</svg>')
  return parts.join('')
}

/**
 * Lines over a shared x axis of runs: `series` = [{name, points: [{x, y, note}]}], `xLabels`
 * the tick label of each x (0..n-1). Each point is a <circle class="point s<i>"> with data-value.
 */
function lineChart({ id, title, series, xLabels, yLabel, xLabel, unit = '', max }) {
  const plotW = W - PAD.left - PAD.right
  const plotH = H - PAD.top - PAD.bottom
  const all = series.flatMap((s) => s.points.map((p) => p.y))
  const { top, step } = niceScale(max ?? Math.max(0, maxOf(all)))
  const n = Math.max(1, xLabels.length - 1)
  const sx = (x) => PAD.left + (xLabels.length === 1 ? plotW / 2 : (x / n) * plotW)
  const sy = (y) => PAD.top + plotH - (Math.max(0, y) / top) * plotH
  const parts = []
  series.forEach((s, si) => {
    const cls = `s${si % 6}`
    if (s.points.length > 1)
      parts.push(`<polyline class="line ${cls}" points="${s.points.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`)
    for (const p of s.points) {
      parts.push(
        `<circle class="point ${cls}" data-value="${escapeHtml(p.y)}" cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3.5"><title>${escapeHtml(`${s.name} — ${xLabels[p.x] ?? p.x}: ${fmt(p.y, 2)}${unit}${p.note ? ` (${p.note})` : ''}`)}</title></circle>`,
      )
    }
    const lx = PAD.left + 8 + (si % 4) * 200
    const ly = 4 + Math.floor(si / 4) * 12
    parts.push(
      `<rect class="legend ${cls}" x="${lx}" y="${ly}" width="10" height="10"/><text class="tick" x="${lx + 14}" y="${ly + 9}">${escapeHtml(shorten(s.name, 28))}</text>`,
    )
  })
  const every = Math.max(1, Math.ceil(xLabels.length / 12))
  xLabels.forEach((label, i) => {
    if (i % every !== 0) return
    parts.push(`<text class="tick" x="${sx(i).toFixed(1)}" y="${PAD.top + plotH + 16}" text-anchor="middle">${escapeHtml(shorten(label, 14))}</text>`)
  })
  return frame(title, parts.join(''), { yLabel, xLabel, top, step, id })
}

const STYLE = `
:root{--fg:#1d2330;--muted:#5b6577;--ok:#1f9d55;--fail:#d64545;--primary:#3867d6;--after:#20bf6b;--before:#fa8231;--grid:#e3e7ee}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:0;background:#f7f8fb}
header{background:#1d2330;color:#fff;padding:20px 32px}header h1{margin:0 0 4px;font-size:22px}header p{margin:0;color:#c5cbd6}
main{padding:24px 32px;max-width:1100px}section{background:#fff;border:1px solid #e3e7ee;border-radius:8px;padding:16px 20px;margin:0 0 20px}
h2{font-size:17px;margin:0 0 12px}.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:20px}
.card{background:#fff;border:1px solid #e3e7ee;border-radius:8px;padding:12px 16px;min-width:150px}.card b{display:block;font-size:22px}.card span{color:var(--muted)}
svg.chart{width:100%;height:auto;max-width:${W}px;display:block}svg .grid{stroke:var(--grid)}svg .axis{stroke:#8a94a6}
svg text{font-size:11px;fill:var(--muted)}svg .value{fill:var(--fg);font-size:10px}svg .label{font-size:12px;fill:var(--fg)}
svg .bar.primary,svg .legend.primary{fill:var(--primary)}svg .bar.before,svg .legend.before{fill:var(--before)}svg .bar.after,svg .legend.after{fill:var(--after)}
svg .point.ok{fill:var(--primary);fill-opacity:.65}svg .point.fail{fill:var(--fail)}svg .trend{fill:none;stroke:var(--fg);stroke-width:1.5}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eef0f4;vertical-align:top}
th{background:#f3f5f9}td.num{text-align:right;font-variant-numeric:tabular-nums}.pass{color:var(--ok);font-weight:600}.fail{color:var(--fail);font-weight:600}
.msg{color:var(--muted);max-width:360px;word-break:break-word}footer{color:var(--muted);padding:0 32px 24px}
svg .bar.both,svg .legend.both{fill:var(--ok)}svg .bar.onlyA,svg .legend.onlyA{fill:var(--primary)}svg .bar.onlyB,svg .legend.onlyB{fill:var(--before)}svg .bar.neither,svg .legend.neither{fill:#a5b1c2}
svg .ci{stroke:var(--fg);stroke-width:2}svg .point.diff{fill:#a5b1c2}svg .point.diff.significant{fill:var(--fail)}svg .line{fill:none;stroke-width:2}
svg .s0{stroke:#3867d6;fill:#3867d6}svg .s1{stroke:#fa8231;fill:#fa8231}svg .s2{stroke:#20bf6b;fill:#20bf6b}svg .s3{stroke:#8854d0;fill:#8854d0}svg .s4{stroke:#eb3b5a;fill:#eb3b5a}svg .s5{stroke:#0fb9b1;fill:#0fb9b1}svg polyline.line{fill:none}
.worse{color:var(--fail);font-weight:600}.better{color:var(--ok);font-weight:600}
`

/**
 * A complete HTML document. The CSP forbids every network fetch and every script, so the report
 * works offline and stays inert even if a name were ever rendered unescaped.
 */
function page({ title, subtitle, body }) {
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>`,
    `<header><h1>${escapeHtml(title)}</h1><p>${escapeHtml(subtitle)}</p></header>`,
    `<main>${body}</main>`,
    '<footer>Generated by promethean-bench (@promethean/benchmark)</footer>',
    '</body></html>',
    '',
  ].join('\n')
}

/** An HTML table from headers and rows of cells; a cell is a string/number or {text, cls}. */
function table(headers, rows, { id } = {}) {
  const cell = (c, tag) => {
    if (c && typeof c === 'object') return `<${tag}${c.cls ? ` class="${escapeHtml(c.cls)}"` : ''}>${escapeHtml(c.text)}</${tag}>`
    return `<${tag}${typeof c === 'number' ? ' class="num"' : ''}>${escapeHtml(c)}</${tag}>`
  }
  return [
    `<table${id ? ` id="${escapeHtml(id)}"` : ''}><thead><tr>${headers.map((h) => cell(h, 'th')).join('')}</tr></thead><tbody>`,
    ...rows.map((r) => `<tr>${r.map((c) => cell(c, 'td')).join('')}</tr>`),
    '</tbody></table>',
  ].join('\n')
}

module.exports = { escapeHtml, groupedBarChart, barChart, histogram, scatterChart, intervalChart, lineChart, page, table, niceScale, fmt }
