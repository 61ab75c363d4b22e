'use strict'
// Chat benchmarks, as the original package had them: the Ollama, vLLM and OpenAI providers,
// createProvider / getSupportedProviders and BenchmarkRunner. Each lives in lib/chat/.

const providers = require('./chat/providers.js')
const { BenchmarkRunner } = require('./chat/runner.js')

module.exports = {
  OllamaProvider: providers.OllamaProvider,
  VLLMProvider: providers.VLLMProvider,
  OpenAIProvider: providers.OpenAIProvider,
  createProvider: providers.createProvider,
  getSupportedProviders: providers.getSupportedProviders,
  BenchmarkRunner,
}
