// The run history: BuildFix runs appended to an embedded SQLite file, the trend per model, and
// the regression check of each model's latest run (docs/history.md).

import type { BuildFixResult } from './provider'

/** Family, error code and content hash of a fixture, as the run's results document records them. */
export interface FixtureFacts {
  family: string
  code: string
  hash: string | null
}

/** A results document as `promethean-bench run` writes it (only what the history reads). */
export interface HistoryResultsDocument {
  results: BuildFixResult[]
  timestamp?: string
  fixtures?: Record<string, FixtureFacts>
  run?: { fixtures?: string }
}

/** One fixture's outcome in a stored run. */
export interface HistoryResult {
  model: string
  /** The model server; '' when none was given. */
  endpoint: string
  fixture: string
  fixtureHash?: string | null
  family: string
  code: string
  success: boolean
  errorCountBefore: number
  errorCountAfter: number
  /** Milliseconds. */
  duration: number
  attempts: number
  tokens?: number | null
}

export interface HistoryRun {
  id?: number | null
  timestamp: string
  packageVersion: string
  planFormatVersion: number
  /** What was run (the fixture set). */
  label: string
  results: HistoryResult[]
}

export interface HistorySeries {
  model: string
  endpoint: string
  runs: number
}

/** The figures of one run of one model. Durations in ms; passRate in percent. */
export interface HistoryRunFigures {
  id: number | null | undefined
  timestamp: string
  packageVersion: string
  planFormatVersion: number
  label: string
  tests: number
  passed: number
  passRate: number
  p50Duration: number
  p95Duration: number
  tokens: number | null
}

export interface HistoryTrend {
  model: string
  endpoint: string
  totalRuns: number
  runs: HistoryRunFigures[]
}

export interface HistoryCheckOptions {
  /** Earlier runs the latest is compared with (default 5). */
  window?: number
  /** Fraction slower (p50) that counts as a regression (default 0.5 = +50%). */
  durationThreshold?: number
  /** ...and at least this many ms slower (default 50). */
  minDurationDelta?: number
}

export interface HistoryCheck {
  status: 'ok' | 'regression' | 'no-baseline'
  /** One line each: why. */
  reasons: string[]
  latest?: HistoryRunFigures
  baselineRuns?: Array<number | null | undefined>
  passRate?: {
    both: number
    onlyA: number
    onlyB: number
    neither: number
    n: number
    passRateA: number
    passRateB: number
    difference: number
    ci: [number, number]
    pValue: number
    significant: boolean
    slipped: string[]
    regression: boolean
  }
  duration?: { latestP50: number; baselineP50: number; threshold: number; minDelta: number; regression: boolean }
}

export declare class RunHistory {
  private constructor(native: unknown)
  readonly path: string
  /** Appends a results document as one run (one transaction); resolves with the run's id. */
  append(doc: HistoryResultsDocument, options?: { endpoint?: string; label?: string }): Promise<number>
  series(): Promise<HistorySeries[]>
  /** The last `limit` (default 20) runs of `model` at `endpoint` (default ''), oldest first. */
  runs(model: string, options?: { endpoint?: string; limit?: number }): Promise<HistoryRun[]>
  trend(options?: { limit?: number }): Promise<HistoryTrend[]>
  check(options?: HistoryCheckOptions): Promise<Array<HistoryCheck & { model: string; endpoint: string }>>
  close(): Promise<void>
}

/**
 * Opens (creating, with its folder, when missing) a history file. Rejects with code
 * `ERR_HISTORY_UNREADABLE` (not a history) or `ERR_HISTORY_NEWER_SCHEMA`; such a file is never changed.
 */
export declare function openHistory(path: string): Promise<RunHistory>

/** The regression check of the latest of `runs` (oldest first) against the ones before it. */
export declare function checkRuns(runs: HistoryRun[], options?: HistoryCheckOptions): HistoryCheck
