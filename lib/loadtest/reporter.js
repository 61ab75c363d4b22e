'use strict'
// LoadTestReporter: the original's text report and comparison table.

const v = require('../validate.js')

function fixed(n, digits) {
  return (Number.isFinite(n) ? n : 0).toFixed(digits)
}

function percentOf(part, total) {
  return total > 0 ? fixed((part / total) * 100, 1) : fixed(0, 1)
}

function checkMetrics(name, m) {
  if (m === null || typeof m !== 'object') throw v.typeError(name, 'a LoadTestMetrics object', m)
  return m
}

class LoadTestReporter {
  /** A text report with the original's sections, labels and assessment thresholds. */
  static generateReport(metrics) {
    const m = checkMetrics('metrics', metrics)
    return `
Load Test Report
================

Test Configuration:
- Concurrent Users: ${m.concurrentUsers}
- Test Duration: ${fixed(m.testDuration / 1000, 2)}s
- Total Requests: ${m.totalRequests}

Results:
- Successful Requests: ${m.successfulRequests} (${percentOf(m.successfulRequests, m.totalRequests)}%)
- Failed Requests: ${m.failedRequests} (${percentOf(m.failedRequests, m.totalRequests)}%)
- Error Rate: ${fixed(m.errorRate * 100, 2)}%

Performance Metrics:
- Average Response Time: ${fixed(m.averageResponseTime, 2)}ms
- Min Response Time: ${fixed(m.minResponseTime, 2)}ms
- Max Response Time: ${fixed(m.maxResponseTime, 2)}ms
- 50th Percentile: ${fixed(m.p50ResponseTime, 2)}ms
- 95th Percentile: ${fixed(m.p95ResponseTime, 2)}ms
- 99th Percentile: ${fixed(m.p99ResponseTime, 2)}ms

Throughput:
- Requests per Second: ${fixed(m.requestsPerSecond, 2)}
- Errors per Second: ${fixed(m.errorsPerSecond, 2)}
- Data Throughput: ${fixed(m.throughput / 1024, 2)} KB/s

Performance Assessment:
${LoadTestReporter.assess(m)}`.trim()
  }

  /** The assessment lines (thresholds from API.md). */
  static assess(m) {
    const lines = []
    if (m.errorRate > 0.05) lines.push('❌ High error rate detected')
    else if (m.errorRate > 0.01) lines.push('⚠️  Moderate error rate')
    else lines.push('✅ Low error rate')

    if (m.averageResponseTime > 5000) lines.push('❌ Very slow response times')
    else if (m.averageResponseTime > 2000) lines.push('⚠️  Slow response times')
    else if (m.averageResponseTime > 1000) lines.push('🟡 Moderate response times')
    else lines.push('✅ Fast response times')

    if (m.p95ResponseTime > 10000) lines.push('❌ Poor 95th percentile performance')
    else if (m.p95ResponseTime > 5000) lines.push('⚠️  Moderate 95th percentile performance')
    else lines.push('✅ Good 95th percentile performance')

    if (m.requestsPerSecond < 10) lines.push('❌ Low throughput')
    else if (m.requestsPerSecond < 50) lines.push('🟡 Moderate throughput')
    else lines.push('✅ High throughput')
    return lines.join('\n')
  }

  /** A Markdown table of several results and the best-throughput / best-response-time rows. */
  static generateComparisonReport(results) {
    if (!Array.isArray(results)) throw v.typeError('results', 'an array of LoadTestMetrics', results)
    if (results.length === 0) return 'No results to compare'
    results.forEach((r, i) => {
      checkMetrics(`results[${i}]`, r)
    })
    let report = 'Load Test Comparison Report\n============================\n\n'
    report += '| Users | RPS (req/s) | Avg Time (ms) | 95th %ile (ms) | Error Rate |\n'
    report += '|-------|------------|---------------|----------------|------------|\n'
    for (const r of results) {
      report += `| ${r.concurrentUsers} | ${fixed(r.requestsPerSecond, 1)} | ${fixed(r.averageResponseTime, 1)} | ${fixed(r.p95ResponseTime, 1)} | ${fixed(r.errorRate * 100, 1)}% |\n`
    }
    const best = (better) => results.reduce((b, r) => (better(r, b) ? r : b))
    const fastest = best((r, b) => r.requestsPerSecond > b.requestsPerSecond)
    const quickest = best((r, b) => r.averageResponseTime < b.averageResponseTime)
    report += '\nPerformance Summary:\n'
    report += `- Best Throughput: ${fastest.concurrentUsers} users (${fixed(fastest.requestsPerSecond, 1)} req/s)\n`
    report += `- Best Response Time: ${quickest.concurrentUsers} users (${fixed(quickest.averageResponseTime, 1)}ms avg)\n`
    return report
  }
}

module.exports = { LoadTestReporter }
