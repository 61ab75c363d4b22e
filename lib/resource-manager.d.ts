// Types of `@promethean/benchmark/src/metrics/resource-manager`.

export * from './pool'
export { MemoryManager } from './memory'
