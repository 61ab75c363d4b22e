'use strict'
// A stand-in for the root export of @promethean/benchmark with the API.md shapes of
// EnhancedBuildFixProvider, BuildFixProvider, LoadTester and LoadTestReporter, so the CLI's
// default engines (lib/cli/runtime.js createDefaults) are tested against the contract before the
// real classes land. Every instance is recorded for assertions.

const { setTimeout: sleep } = require('node:timers/promises')

const SMALL = ['missing-export', 'wrong-arity', 'implicit-any', 'missing-return', 'misspelled', 'class-not-exported']

function makePackage({ failFixtures = [], executeDelay = 2, baselineDelay = 15 } = {}) {
  const log = { providers: [], testers: [] }

  class EnhancedBuildFixProvider {
    constructor(config) {
      this.config = config
      this.connected = false
      this.disconnected = false
      this.requests = []
      this.delay = executeDelay
      log.providers.push(this)
    }

    async connect() {
      this.connected = true
    }

    async execute(request) {
      if (!this.connected || this.disconnected) throw new Error('not connected')
      this.requests.push(request)
      await sleep(this.delay)
      const names = request.metadata.fixtures ?? SMALL
      if (names.some((n) => failFixtures.includes(n))) {
        return { content: 'BuildFix benchmark failed: worker died', tokens: 0, time: this.delay, metadata: { error: 'worker died' } }
      }
      const buildFixResults = names.map((fixture) => ({
        fixture,
        model: this.config.model,
        success: this.config.model === 'gold',
        errorCountBefore: 2,
        errorCountAfter: this.config.model === 'gold' ? 0 : 2,
        errorsResolved: this.config.model === 'gold',
        planGenerated: this.config.model === 'gold',
        duration: this.delay,
        attempts: 1,
      }))
      return { content: 'ok', tokens: 1, time: this.delay, metadata: { buildFixResults, fixtureType: request.metadata.fixtureType } }
    }

    async disconnect() {
      this.disconnected = true
    }
  }

  class BuildFixProvider extends EnhancedBuildFixProvider {
    constructor(config) {
      super(config)
      this.delay = baselineDelay
    }
  }

  class LoadTester {
    constructor(config) {
      this.config = config
      this.responses = []
      log.testers.push(this)
    }

    async runTest(generate, execute) {
      const { concurrentUsers, requestsPerUser } = this.config
      await Promise.all(
        Array.from({ length: concurrentUsers }, async (_, u) => {
          for (let n = 0; n < requestsPerUser; n++) {
            const requestId = `user-${u + 1}-req-${n}`
            const startTime = Date.now()
            const r = { requestId, userId: u + 1, startTime, success: true }
            try {
              await execute(generate(u + 1, requestId))
            } catch (err) {
              r.success = false
              r.error = err.message
            }
            r.endTime = Date.now()
            r.duration = r.endTime - startTime
            this.responses.push(r)
          }
        }),
      )
      const failed = this.responses.filter((r) => !r.success).length
      return {
        totalRequests: this.responses.length,
        successfulRequests: this.responses.length - failed,
        failedRequests: failed,
        averageResponseTime: 1,
        minResponseTime: 1,
        maxResponseTime: 1,
        p50ResponseTime: 1,
        p95ResponseTime: 1,
        p99ResponseTime: 1,
        requestsPerSecond: 1,
        errorsPerSecond: 0,
        throughput: 0,
        concurrentUsers,
        testDuration: 1,
        errorRate: failed / this.responses.length,
      }
    }

    getResponses() {
      return [...this.responses]
    }
  }

  const LoadTestReporter = {
    generateReport: (m) => `Load Test Report\nTotal Requests: ${m.totalRequests}\nPerformance Assessment: fake`,
  }

  return {
    log,
    pkg: {
      EnhancedBuildFixProvider,
      BuildFixProvider,
      LoadTester,
      LoadTestReporter,
      listFixtures: async (set) => (set === 'small' ? SMALL : SMALL.map((n) => `massive-${n}`)),
    },
  }
}

module.exports = { makePackage, SMALL }
