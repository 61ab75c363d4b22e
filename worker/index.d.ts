// Types of the in-process BuildFix engine (worker/index.js). The worker process speaks the same
// shapes over stdio; docs/engine.md describes the protocol.

export interface DiagnosticTarget {
  /** TypeScript diagnostic code, e.g. 2305 (a "TS2305" string is accepted too). */
  code: number | string
  /** Path relative to the fixture folder, `/`-separated. */
  file: string
  /** 1-based line; a diagnostic within 2 lines counts as the target. */
  line: number
}

export type PlanOperation =
  | {
      op: 'ensureExported'
      file: string
      symbol: string
      kind?: 'function' | 'class' | 'interface' | 'type' | 'enum' | 'const' | 'let' | 'var' | 'variable'
    }
  | { op: 'renameSymbol'; file: string; from: string; to: string }
  | { op: 'makeParamOptional'; file: string; fn: string; param: string }
  | { op: 'addImport'; file: string; from: string; names: string[] }
  | { op: 'addTypeAnnotation'; file: string; selector: `function:${string}` | `var:${string}`; typeText: string }
  | { op: 'insertStubFunction'; file: string; name: string; returns?: string }
  | { op: 'setParamType'; file: string; fn: string; param: string; typeText: string }
  | { op: 'changeImportPath'; file: string; from: string; to: string }
  | { op: 'addProperty'; file: string; type: string; name: string; typeText: string; optional?: boolean }
  | { op: 'makePropertyOptional'; file: string; type: string; name: string }
  /** With `value`: `property = value`; without: the definite-assignment mark `property!`. */
  | { op: 'initializeProperty'; file: string; class: string; property: string; value?: string }
  /** On `line`, `X.m` / `X[i]` / `X(...)` become `X?.m` / `X?.[i]` / `X?.(...)`. */
  | { op: 'addOptionalChain'; file: string; line: number; expression: string }
  /** On `line`, `X` becomes `(X ?? fallback)`. */
  | { op: 'addNullishDefault'; file: string; line: number; expression: string; fallback: string }
  | { op: 'makeAsync'; file: string; fn: string }
  /** Replaces the text from `start` up to (not including) `end`, which must be exactly `oldText`. */
  | { op: 'replaceText'; file: string; start: TextPosition; end: TextPosition; oldText: string; newText: string }

/** 1-based line and column; a column may be one past the end of its line. */
export interface TextPosition {
  line: number
  column: number
}

export interface Plan {
  title: string
  rationale: string
  dsl: PlanOperation[]
}

export interface FixtureInfo {
  name: string
  description: string
  target: DiagnosticTarget
  goldPlan: Plan
  family?: string
}

export interface BuildFixJob {
  fixtureDir: string
  model: string
  endpoint?: string
  target?: DiagnosticTarget
  fixture?: string
  prompt?: string
  temperature?: number
  maxTokens?: number
  maxAttempts?: number
  attemptTimeoutMs?: number
  /** The API `endpoint` speaks; OpenAI-compatible when the endpoint ends in `/v1`, else Ollama's. */
  api?: ModelApi
  /** The name of the environment variable holding the API key (never the key). */
  apiKeyEnv?: string
  seed?: number
  /** At most this many requests in flight to `endpoint`, across the workers of the machine. */
  maxConcurrentRequests?: number
}

export type ModelApi = 'ollama' | 'openai'
/** How the plan was asked for: constrained by its JSON Schema, as any JSON object, or as plain text. */
export type OutputMode = 'json_schema' | 'json_object' | 'text'

export interface BuildFixResult {
  fixture: string
  model: string
  success: boolean
  errorCountBefore: number
  errorCountAfter: number
  /** Whether the plan removed errors (`errorCountAfter < errorCountBefore`), as in the original. */
  errorsResolved: boolean
  /** How many errors the plan removed: `max(0, errorCountBefore - errorCountAfter)`. */
  errorsResolvedCount: number
  planGenerated: boolean
  /** Milliseconds. */
  duration: number
  attempts: number
  planTitle?: string
  errorMessage?: string
  /** The fixture's error family (its fixture.json `family`), when it names one. */
  family?: string
  /** The target's TypeScript error code. */
  targetCode?: number
  /** Present when the last attempt failed because of the model server (unreachable, timed out, 5xx). */
  errorKind?: 'model-unavailable'
  /** Tokens of the prompts and the answers of every attempt, from the server's own counts. */
  promptTokens?: number
  completionTokens?: number
  /** `promptTokens + completionTokens`. */
  tokens?: number
  /** True when the server gave no counts and they are estimated (4 characters a token). */
  tokensEstimated?: boolean
  /** Milliseconds to the first token of the last answer, where the server says. */
  timeToFirstTokenMs?: number
  /** The output mode of the last answer. */
  outputMode?: OutputMode
}

export interface Diagnostic {
  code: number
  file: string
  line: number
  column: number
  message: string
}

export interface ResultsSummary {
  totalTests: number
  successfulTests: number
  failedTests: number
  successRate: number
  plansGenerated: number
  totalErrorsBefore: number
  totalErrorsAfter: number
  totalErrorsResolved: number
  resolutionRate: number
  averageDuration: number
  totalAttempts: number
  models: string[]
}

export declare class JobError extends TypeError {}
export declare class PlanError extends Error {}
export declare class ModelError extends Error {
  readonly timeout: boolean
  readonly aborted: boolean
  /** The fault is the model server's (unreachable, too slow, overloaded, 5xx). */
  readonly unavailable: boolean
  readonly status?: number
}

export declare function runJob(job: BuildFixJob): Promise<BuildFixResult>
export declare function loadFixture(fixtureDir: string): FixtureInfo
export declare function listSourceFiles(fixtureDir: string): string[]
export declare const EMPTY_PLAN: Plan

export declare function collectDiagnostics(fixtureDir: string, overlay?: Map<string, string>): Diagnostic[]
/** The floor of a check: the same diagnostics from a fresh program with only the lib files cached. */
export declare function collectDiagnosticsFloor(fixtureDir: string): Diagnostic[]
export declare function formatDiagnostic(d: Diagnostic): string
export declare function hasTarget(diagnostics: Diagnostic[], target: DiagnosticTarget): boolean

export declare const PLAN_FORMAT_VERSION: number
export declare function stripCodeFences(text: string): string
export declare function parsePlan(text: string): Plan
export declare function validatePlan(value: unknown): Plan
/** `texts`: files already read (absolute real path -> text), taken instead of the disk. */
export declare function applyPlan(
  fixtureDir: string,
  plan: Plan,
  options?: { write?: boolean; texts?: Map<string, string> },
): { changed: string[]; files: Map<string, string>; originals: Map<string, string> }

export declare const BUILTIN_MODELS: readonly string[]
export interface ModelAnswer {
  text: string
  usage: { promptTokens: number; completionTokens: number; estimated: boolean }
  ttftMs?: number
  mode: OutputMode
  /** Requests made, retries of 429 and 503 included. */
  tries: number
  retryWaitMs: number
}
export declare function generate(options: {
  endpoint: string
  api?: ModelApi
  apiKeyEnv?: string
  model: string
  prompt: string
  temperature?: number
  seed?: number
  maxTokens?: number
  timeoutMs?: number
  connectTimeoutMs?: number
  maxConcurrentRequests?: number
  signal?: AbortSignal
}): Promise<ModelAnswer>
export declare function listModels(endpoint: string, options?: { api?: ModelApi; apiKeyEnv?: string; timeoutMs?: number }): Promise<string[]>
export declare function inferApi(endpoint: string): ModelApi
export declare function buildPrompt(options: {
  task?: string
  target: DiagnosticTarget
  diagnostics: Diagnostic[]
  files: Map<string, string>
  previousError?: string
}): string

export declare function summarize(results: BuildFixResult[]): ResultsSummary
export declare function writeResults(dir: string, results: BuildFixResult[], options?: { quiet?: boolean; name?: string }): string
export declare function readResults(file: string): {
  results: BuildFixResult[]
  summary: ResultsSummary
  timestamp: string
}

export declare const SMALL_DIR: string
export declare const MASSIVE_DIR: string
export declare function listFixtures(dir: string): string[]

/** What a fixture folder tests, from its fixture.json. */
export interface FixtureDescription {
  /** The folder name. */
  name: string
  dir: string
  family: string | null
  code: number
  file?: string
  line?: number
  description?: string
  /** Set when the fixture.json cannot be read. */
  error?: string
}
export declare function describeFixtures(dir: string): FixtureDescription[]

/** Whether a fixture folder can be trusted; `problems` says why not. */
export interface FixtureValidation {
  name: string
  dir: string
  ok: boolean
  problems: string[]
  family: string | null
  target: { code: number; file: string; line: number } | null
  errorsBefore: number | null
  errorsAfter: number | null
}
export declare function validateFixture(fixtureDir: string): FixtureValidation
export declare function validateFixtures(
  dir: string,
  options?: { signal?: AbortSignal; onReport?: (report: FixtureValidation) => void },
): Promise<FixtureValidation[]>
/** Writes a new fixture folder `parent/name` that validates as written; returns its path. */
export declare function scaffoldFixture(parent: string, name: string): string
export declare function ensureMassive(options?: { dir?: string; count?: number; seed?: number }): string[]

export declare const PROTOCOL_VERSION: number
/** Absolute path of worker/buildfix-worker.js. */
export declare const WORKER_SCRIPT: string
