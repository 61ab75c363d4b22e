// Written the way the optimisation guide's "Optimized I/O with git snapshots" example is written.
import { createGitSnapshotManager, GitSnapshotManager, type Snapshot, type SnapshotChange } from '@promethean/benchmark'

export async function runWithSnapshot(workdir: string, applyPlan: () => Promise<void>): Promise<string[]> {
  const gitManager = await createGitSnapshotManager(workdir)
  const snapshot = await gitManager.createSnapshot()
  try {
    await applyPlan()
    const changes: SnapshotChange[] = await gitManager.diff(snapshot)
    return changes.filter((c) => c.change !== 'deleted').map((c) => `${c.kind}:${c.path}`)
  } finally {
    await gitManager.restoreSnapshot(snapshot)
    await gitManager.dropSnapshot(snapshot)
    await gitManager.dispose()
  }
}

export async function storedSnapshot(manager: GitSnapshotManager, json: string): Promise<void> {
  const snapshot: Snapshot = JSON.parse(json)
  const all: Snapshot[] = await manager.listSnapshots()
  const files: number = all.reduce((n, s) => n + s.files, 0)
  if (files > 0 && snapshot.managerId === manager.id) await manager.restoreSnapshot(snapshot)
  await createGitSnapshotManager(manager.workdir, { includeIgnored: true })
}
