// Public types of @promethean/benchmark. Each capability's types live beside its JS layer in
// lib/<capability>.d.ts; the subpath modules of the original package point at those files.

export * from './lib/cache'
export * from './lib/pool'
export * from './lib/loadtest'
export * from './lib/monitor'
export * from './lib/memory'
export * from './lib/snapshot'
export * from './lib/provider'
export * from './lib/history'
export * from './lib/mine'
export * from './lib/metrics'
export * from './lib/chat'
