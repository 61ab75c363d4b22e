'use strict'
// A one-line live progress bar for a TTY. On anything else (a pipe, a file, CI logs) it writes
// nothing at all, so piped output never carries escape codes; the final summary is printed by
// the command either way.

const CLEAR_LINE = '\r\x1b[2K'

function formatEta(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '--:--'
  const s = Math.round(ms / 1000)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = String(s % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`
}

class ProgressBar {
  /**
   * @param {NodeJS.WriteStream | {isTTY?: boolean, columns?: number, write(s: string): unknown}} stream
   * @param {{unit?: string, now?: () => number, minInterval?: number}} options
   */
  constructor(stream, { unit = 'done', now = Date.now, minInterval = 80 } = {}) {
    this.stream = stream
    this.enabled = Boolean(stream && stream.isTTY)
    this.unit = unit
    this.now = now
    this.minInterval = minInterval
    this.started = now()
    this.lastDraw = -Infinity
    this.drawn = false
  }

  /** The text of the bar for a state, without escape codes (also used by tests). */
  line({ done, total, passed, failed }) {
    const finishedCount = (passed ?? 0) + (failed ?? 0)
    const passRate = finishedCount > 0 ? `${((100 * (passed ?? 0)) / finishedCount).toFixed(1)}%` : '--'
    // An engine that cannot know the total in advance reports total 0: a count, no bar, no ETA.
    if (!(total > 0)) return `${done} ${this.unit}  pass ${passRate}`
    const width = Math.max(10, Math.min(30, ((this.stream && this.stream.columns) || 80) - 50))
    const ratio = Math.min(1, done / total)
    const filled = Math.round(ratio * width)
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled)
    const elapsed = this.now() - this.started
    const eta = done > 0 && total > done ? (elapsed / done) * (total - done) : done >= total ? 0 : NaN
    return `[${bar}] ${done}/${total} ${this.unit}  pass ${passRate}  ETA ${formatEta(eta)}`
  }

  update(state) {
    if (!this.enabled) return
    const t = this.now()
    if (!(state.done >= state.total && state.total > 0) && t - this.lastDraw < this.minInterval) return
    this.lastDraw = t
    this.drawn = true
    // Never wider than the terminal: a wrapped line could not be cleared with one \r.
    const columns = this.stream.columns || 80
    this.stream.write(CLEAR_LINE + this.line(state).slice(0, Math.max(1, columns - 1)))
  }

  /** Removes the bar so the summary starts on a clean line. */
  done() {
    if (this.enabled && this.drawn) this.stream.write(CLEAR_LINE)
    this.drawn = false
  }
}

module.exports = { ProgressBar, formatEta }
