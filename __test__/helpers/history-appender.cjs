'use strict'
// Appends `count` runs of `model` to the history at `file` as fast as it can: two of these at
// once check that concurrent processes never corrupt or lose a run.
const { openHistory } = require('../../lib/history.js')

const [file, model, count] = process.argv.slice(2)

;(async () => {
  const history = await openHistory(file)
  try {
    for (let i = 0; i < Number(count); i++) {
      const results = Array.from({ length: 12 }, (_, f) => ({
        fixture: `fixture-${f}`,
        model,
        success: (i + f) % 3 !== 0,
        errorCountBefore: 1,
        errorCountAfter: 0,
        errorsResolved: true,
        duration: 10 + f,
        attempts: 1,
      }))
      await history.append({ results, timestamp: new Date().toISOString() })
    }
  } finally {
    await history.close()
  }
})().catch((err) => {
  console.error(err)
  process.exit(1)
})
