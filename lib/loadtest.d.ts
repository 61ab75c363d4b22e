// Types of LoadTester and LoadTestReporter (lib/loadtest.js).

import { EventEmitter } from 'node:events'

export interface LoadTestConfig {
  /** Virtual users, 1 to `LoadTester.MAX_USERS` (1,000,000); each exists only while it runs. */
  concurrentUsers: number
  /** Requests each user sends one after another. */
  requestsPerUser: number
  /** Users start evenly spread over this many ms (default 0: all at once). */
  rampUpTime?: number
  /** Nothing new is sent once this many ms have passed since the start (default: no cut-off). */
  testDuration?: number
  /** Pause between a user's requests, ms (default 0). */
  thinkTime?: number
  /** A request still pending after this many ms fails with `Request timeout` (default 30000). */
  timeout?: number
  /** Per-request records kept for getResponses/saveResults (default 10000); metrics stay exact beyond it. */
  maxRecordedResponses?: number
  /** Pause between stress-test steps, ms (default 5000). */
  stepPause?: number
  /** Length of an endurance-test interval, ms (default 60000). */
  enduranceInterval?: number
  /** How often `progress` is emitted, ms (default 1000). */
  progressInterval?: number
}

export interface ResolvedLoadTestConfig extends Required<LoadTestConfig> {}

export interface LoadTestRequest {
  id: string
  userId: number
  timestamp: number
  payload: any
}

export interface LoadTestResponse {
  requestId: string
  userId: number
  startTime: number
  endTime: number
  duration: number
  success: boolean
  error?: string
  statusCode?: number
  responseSize?: number
}

/** Counts and response times of a run of requests: shared by load tests and benchmark metrics. */
export interface ResponseTimeMetrics {
  totalRequests: number
  successfulRequests: number
  failedRequests: number
  averageResponseTime: number
  minResponseTime: number
  maxResponseTime: number
  p50ResponseTime: number
  p95ResponseTime: number
  p99ResponseTime: number
  requestsPerSecond: number
  errorRate: number
}

export interface LoadTestMetrics extends ResponseTimeMetrics {
  /**
   * Beyond the original: the 99.9th percentile, in ms like the others. Every time is a fraction
   * of a millisecond from a nanosecond histogram at 3 significant digits, so microseconds (and
   * below) are exact to 0.1%: `p999ResponseTime * 1000` is µs.
   */
  p999ResponseTime: number
  errorsPerSecond: number
  /** Response bytes per second (size = JSON length of each result; body bytes for HTTP). */
  throughput: number
  concurrentUsers: number
  testDuration: number
}

/** An open-model (arrival-rate) test's metrics. */
export interface ArrivalRateMetrics extends LoadTestMetrics {
  /**
   * Arrivals that could not start before `duration` ended (all slots busy), as k6's
   * `dropped_iterations`: `totalRequests + droppedIterations` is every arrival due in the
   * duration (`floor(rate * duration / 1000)`; on abort, those due by then).
   */
  droppedIterations: number
}

export interface UserSimulation {
  userId: number
  requests: LoadTestRequest[]
  responses: LoadTestResponse[]
  startTime: number
  endTime: number
}

export type RequestGenerator<P = any> = (userId: number, requestId: string) => P
export type RequestExecutor<P = any> = (payload: P) => Promise<any> | any

export interface HttpTargetOptions {
  /** `http://host[:port]/path` (plain HTTP/1.1; no TLS). */
  url: string
  /** Default GET, or POST when a body is given. */
  method?: string
  headers?: Record<string, string | number>
  /** A string or Buffer is sent as is; anything else as JSON (with Content-Type: application/json). */
  body?: string | Buffer | Uint8Array | object
  /**
   * OS threads sending the requests, 1 to 256 (default 1: one event loop on one thread, with no
   * cross-thread hand-offs per request; more only when one core cannot keep up with the server).
   */
  threads?: number
}

/** A target for the native HTTP executor, made by `LoadTester.http()`. */
export declare class HttpTarget {
  private constructor(options: HttpTargetOptions)
  readonly url: string
  readonly method: string
  readonly headers: Readonly<Record<string, string>>
  /** The body as given (a string, a copy of the bytes, or the JSON text of a value). */
  readonly body: string | Buffer | undefined
  readonly threads: number
}

export interface RunOptions {
  /** Aborting stops sending, abandons requests in flight and rejects with an `AbortError` (its `metrics` hold the partial figures). */
  signal?: AbortSignal
}

export interface StressTestOptions extends RunOptions {
  /** Pause between steps, ms (default: the config's stepPause, 5000). */
  stepPause?: number
}

export interface EnduranceTestOptions extends RunOptions {
  /** Interval length, ms (default: the config's enduranceInterval, 60000). */
  interval?: number
}

export interface SpikeTestSpec {
  spikeUsers: number
  /** Users before and after the spike (default: concurrentUsers). */
  baselineUsers?: number
  /** Phase lengths, ms (default: testDuration). */
  baselineDuration?: number
  spikeDuration?: number
  recoveryDuration?: number
}

export interface SpikeTestResult {
  baseline: LoadTestMetrics
  spike: LoadTestMetrics
  recovery: LoadTestMetrics
}

export interface ArrivalRateSpec {
  /** Requests per second. */
  rate: number
  /** ms; nothing starts after it: arrivals left are counted in `droppedIterations`. */
  duration: number
  /** Most requests in flight at once (connections, for HTTP; default: concurrentUsers; at most `LoadTester.MAX_USERS`). */
  maxInFlight?: number
}

export type SpikePhase = 'baseline' | 'spike' | 'recovery'

export interface LoadTesterEvents {
  'test-started': [{ config: ResolvedLoadTestConfig }]
  'test-completed': [{ metrics: LoadTestMetrics; duration: number }]
  'stress-step-started': [{ users: number; step: number }]
  'stress-step-completed': [{ users: number; metrics: LoadTestMetrics }]
  'stress-test-threshold-reached': [{ users: number; errorRate: number }]
  'endurance-test-started': [{ duration: number; intervals: number }]
  'endurance-interval-completed': [{ interval: number; metrics: LoadTestMetrics }]
  'spike-phase-started': [{ phase: SpikePhase; users: number }]
  'spike-phase-completed': [{ phase: SpikePhase; users: number; metrics: LoadTestMetrics }]
  'results-saved': [{ path: string }]
  progress: [{ done: number; inFlight: number; rps: number; p95: number }]
}

export declare class LoadTester extends EventEmitter {
  /** A target whose requests are sent from Rust, with no JS call per request. */
  static http(options: HttpTargetOptions): HttpTarget
  /** Most users a test may have (concurrentUsers, maxUsers, spike users, arrival-rate slots): 1,000,000. */
  static readonly MAX_USERS: number

  constructor(config: LoadTestConfig)
  readonly config: ResolvedLoadTestConfig

  runTest<P>(requestGenerator: RequestGenerator<P>, requestExecutor: RequestExecutor<P>, options?: RunOptions): Promise<LoadTestMetrics>
  runTest(target: HttpTarget, options?: RunOptions): Promise<LoadTestMetrics>

  runStressTest<P>(
    maxUsers: number,
    stepSize: number,
    stepDuration: number,
    requestGenerator: RequestGenerator<P>,
    requestExecutor: RequestExecutor<P>,
    options?: StressTestOptions,
  ): Promise<LoadTestMetrics[]>
  runStressTest(maxUsers: number, stepSize: number, stepDuration: number, target: HttpTarget, options?: StressTestOptions): Promise<LoadTestMetrics[]>

  runEnduranceTest<P>(
    duration: number,
    requestGenerator: RequestGenerator<P>,
    requestExecutor: RequestExecutor<P>,
    options?: EnduranceTestOptions,
  ): Promise<LoadTestMetrics[]>
  runEnduranceTest(duration: number, target: HttpTarget, options?: EnduranceTestOptions): Promise<LoadTestMetrics[]>

  runSpikeTest<P>(
    spec: SpikeTestSpec,
    requestGenerator: RequestGenerator<P>,
    requestExecutor: RequestExecutor<P>,
    options?: RunOptions,
  ): Promise<SpikeTestResult>
  runSpikeTest(spec: SpikeTestSpec, target: HttpTarget, options?: RunOptions): Promise<SpikeTestResult>

  runArrivalRateTest<P>(
    spec: ArrivalRateSpec,
    requestGenerator: RequestGenerator<P>,
    requestExecutor: RequestExecutor<P>,
    options?: RunOptions,
  ): Promise<ArrivalRateMetrics>
  runArrivalRateTest(spec: ArrivalRateSpec, target: HttpTarget, options?: RunOptions): Promise<ArrivalRateMetrics>

  /** Writes `{config, metrics, responses, userSimulations, timestamp}`; resolves with the path written. */
  saveResults(filePath?: string): Promise<string>
  getResponses(): LoadTestResponse[]
  /** The last test's users, up to `maxRecordedResponses` of them (the first to start). */
  getUserSimulations(): UserSimulation[]
  /** The last test's metrics, or undefined before any test. */
  getMetrics(): LoadTestMetrics | undefined
  isTestRunning(): boolean

  on<K extends keyof LoadTesterEvents>(event: K, listener: (...args: LoadTesterEvents[K]) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once<K extends keyof LoadTesterEvents>(event: K, listener: (...args: LoadTesterEvents[K]) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
  off<K extends keyof LoadTesterEvents>(event: K, listener: (...args: LoadTesterEvents[K]) => void): this
  off(event: string | symbol, listener: (...args: any[]) => void): this
  emit<K extends keyof LoadTesterEvents>(event: K, ...args: LoadTesterEvents[K]): boolean
  emit(event: string | symbol, ...args: any[]): boolean
}

export declare class LoadTestReporter {
  static generateReport(metrics: LoadTestMetrics): string
  static assess(metrics: LoadTestMetrics): string
  static generateComparisonReport(results: LoadTestMetrics[]): string
}
