// Types of lib/metrics.js: the original package's MetricsCalculator.

import type { BenchmarkMetrics, BenchmarkResult, ResourceMetrics } from './provider'

export interface ScoreWeights {
  tps?: number
  latency?: number
  effectiveness?: number
  errorRate?: number
}

/** p50 / p95 / p99 (nearest rank) of one figure. */
export interface Percentiles {
  p50: number
  p95: number
  p99: number
}

/** `MetricsCalculator.calculatePercentiles`: over the successful results. */
export interface MetricPercentiles {
  latency: Percentiles
  timeToFirstToken: Percentiles
  tps: Percentiles
}

export declare class MetricsCalculator {
  /** Tokens per second; 0 when no time passed. */
  static calculateTPS(tokens: number, timeMs: number): number
  static calculateLatency(startTime: number, endTime: number): number
  /** The response's words found in `expected` over the distinct words of both, 0..1; 0.5 without `expected`. */
  static calculateEffectiveness(response: string, expected?: string): number
  static calculateErrorRate(results: BenchmarkResult[]): number
  /** Means over the successful results, with the error rate over all of them. */
  static calculateAverageMetrics(results: BenchmarkResult[]): BenchmarkMetrics
  static calculateAverageResourceUsage(results: BenchmarkResult[]): ResourceMetrics
  /** p50 / p95 / p99 of latency, time to first token and tps over the successful results. */
  static calculatePercentiles(results: BenchmarkResult[]): MetricPercentiles
  /** A 0..1 score, weighted 0.3 tps / 0.3 latency / 0.3 effectiveness / 0.1 reliability by default. */
  static calculateScore(metrics: BenchmarkMetrics, weights?: ScoreWeights): number
  /** Providers with their average metrics, best score first. */
  static rankProviders(results: BenchmarkResult[]): Array<{ provider: string; score: number; metrics: BenchmarkMetrics }>
}
