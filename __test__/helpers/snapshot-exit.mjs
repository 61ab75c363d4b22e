// Opens a snapshot manager, takes a snapshot, prints the private store's folder and exits
// without disposing: the store must not outlive the process.
import { createGitSnapshotManager } from '@promethean/benchmark'

const manager = await createGitSnapshotManager(process.argv[2])
await manager.createSnapshot()
console.log(manager.storeDir)
