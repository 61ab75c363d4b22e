'use strict'
// ResourceManager, ResourcePool and BoundedCollection (lib/pool/): a thin driver of the native
// pool core (src/pool), the manager of named pools, and a ring buffer.

const { ResourcePool } = require('./pool/resource-pool.js')
const { ResourceManager } = require('./pool/manager.js')
const { BoundedCollection } = require('./pool/bounded-collection.js')

module.exports = { ResourceManager, ResourcePool, BoundedCollection }
