/** A snapshot's description. Plain data: it survives `JSON.stringify`/`JSON.parse`. */
export interface Snapshot {
  /** `<managerId>-<n>`; only the manager that took it can restore it. */
  readonly id: string
  readonly managerId: string
  /** The canonical path of the folder. */
  readonly workdir: string
  /** Milliseconds since the Unix epoch. */
  readonly createdAt: number
  readonly files: number
  readonly symlinks: number
  readonly directories: number
  /** Total bytes of file contents. */
  readonly bytes: number
  /** The snapshot's git tree in the private store. */
  readonly tree: string
  /** The commit pinning it, at `refs/snapshots/<n>` in the private store. */
  readonly commit: string
}

/** One path that differs from a snapshot. */
export interface SnapshotChange {
  /**
   * Relative to the workdir. Exact for a UTF-8 name; a name that is not UTF-8 (Linux names are
   * bytes) is shown with U+FFFD for each invalid byte, and `rawPath` holds it exactly.
   */
  path: string
  /** The path's exact bytes, only when it is not valid UTF-8; `fs` functions take it as a path. */
  rawPath?: Buffer
  /** `added` paths are reported once per new directory, not for each file inside. */
  change: 'added' | 'modified' | 'deleted'
  /** The kind on disk for `added`, the snapshot's kind otherwise. */
  kind: 'file' | 'symlink' | 'directory'
}

export interface GitSnapshotManagerOptions {
  /** Also capture (and restore, and remove when new) files the git ignore rules exclude. Default false. */
  includeIgnored?: boolean
}

export declare class GitSnapshotManager {
  private constructor()
  /** Identifies this manager; its snapshots carry it as `managerId`. */
  readonly id: string
  /** The canonical path of the folder. */
  readonly workdir: string
  /** The private store: a bare git repository in a temporary folder, removed by `dispose()`. */
  readonly storeDir: string
  /**
   * Captures the folder as it is now. `options.signal` stops it between its steps: it then
   * rejects with `signal.reason` and records no snapshot.
   */
  createSnapshot(options?: { signal?: AbortSignal }): Promise<Snapshot>
  /**
   * Brings the folder back to `snapshot` byte for byte, touching only what changed.
   * `options.signal` stops it only before the folder is touched: a rejection with
   * `signal.reason` means the folder is untouched; a restore that has begun writing runs to its
   * end and resolves (fully restored).
   */
  restoreSnapshot(snapshot: Snapshot, options?: { signal?: AbortSignal }): Promise<void>
  /** The paths that differ from `snapshot`, sorted, parents first. */
  diff(snapshot: Snapshot): Promise<SnapshotChange[]>
  /** The snapshots not dropped yet, oldest first. */
  listSnapshots(): Promise<Snapshot[]>
  /** Forgets `snapshot`; restoring or diffing it afterwards rejects. */
  dropSnapshot(snapshot: Snapshot): Promise<void>
  /** Removes the private store and forgets every snapshot. Idempotent. */
  dispose(): Promise<void>
}

/** Opens a snapshot manager of `workdir` (a folder, git repository or not). */
export declare function createGitSnapshotManager(workdir: string, options?: GitSnapshotManagerOptions): Promise<GitSnapshotManager>
