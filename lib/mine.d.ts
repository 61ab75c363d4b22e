// Fixtures mined from a repository's history (docs/fixtures.md#fixtures-mined-from-git-history).

export interface MineOptions {
  /** The folder the fixtures are written to; created when missing. */
  out: string
  /** Stop after this many fixtures (default 10). */
  max?: number
  /** Only commits since then (a Date, a date string, or milliseconds since the epoch). */
  since?: Date | string | number
  /** Visit at most this many commits, merges included (default 1000). */
  maxCommits?: number
  signal?: AbortSignal
  /** Called as each project change of a commit becomes a fixture or is skipped. */
  onEvent?: (event: MineFixtureEvent | MineSkipEvent) => void
}

export interface MinedTarget {
  code: number
  /** Relative to the fixture folder. */
  file: string
  line: number
}

export interface MinedFixture {
  /** The folder name: the commit's first 10 hex digits, and the project folder when not the root. */
  name: string
  dir: string
  commit: string
  /** The project folder in the repository, `.` for the root. */
  project: string
  summary: string
  target: MinedTarget
  /** The compiler's message of the target error. */
  message: string
}

export interface MineSkip {
  commit: string
  project: string
  summary: string
  reason: string
}

export interface MineFixtureEvent extends MinedFixture {
  kind: 'fixture'
}

export interface MineSkipEvent extends MineSkip {
  kind: 'skip'
}

export interface MineResult {
  repo: string
  out: string
  /** Commits visited. */
  visited: number
  /** Merge commits passed over. */
  merges: number
  fixtures: MinedFixture[]
  skipped: MineSkip[]
}

/**
 * Mines the git repository at `repo` for fixtures: for each commit and each TypeScript project it
 * touched, the parent's project becomes a fixture when the commit removed a compile error and
 * added none; the gold plan is the commit's change (one replaceText per hunk). Nothing of the
 * repository is run. Rejects with a TypeError/RangeError for bad options, an error with code
 * `ERR_NOT_A_REPOSITORY`, or the signal's AbortError.
 */
export function mineFixtures(repo: string, options: MineOptions): Promise<MineResult>
