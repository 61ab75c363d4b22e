'use strict'
// The providers: BaseProvider, EnhancedBuildFixProvider (warm native worker pool) and
// BuildFixProvider (the "before": one fresh process per request). Each lives in lib/provider/.

const { BaseProvider } = require('./provider/base.js')
const { BuildFixProvider, listFixtures } = require('./provider/baseline.js')
const { EnhancedBuildFixProvider } = require('./provider/enhanced.js')
const { EnhancedBuildFixCacheError, EnhancedBuildFixProcessError, EnhancedBuildFixTimeoutError } = require('./provider/errors.js')

module.exports = {
  BaseProvider,
  EnhancedBuildFixProvider,
  BuildFixProvider,
  EnhancedBuildFixTimeoutError,
  EnhancedBuildFixProcessError,
  EnhancedBuildFixCacheError,
  listFixtures,
}
