// Runs the HTTP caching test suite (http-cache-tests, pinned in package.json) against a cache,
// or classifies a results file the suite wrote, and prints one JSON report on stdout:
//   { "summary": {...}, "tests": { "<id>": { "kind", "outcome", "detail" } } }
// outcome: pass (the suite recorded `true`), fail (an assertion failed), setup (the test could
// not set itself up), harness (any other error) or untested. Counted as the table of
// published caches counts them: the suites of tests/index.mjs (160 required, 88 optimal, 86
// informational "check" tests; 3 required and 2 optimal are
// for browsers only, reported as browser-only and never run), without the Surrogate-Control suite, and without the display's
// dependency rule.
//
//   node run.mjs run http://127.0.0.1:PORT     # run every test through the cache at PORT
//   node run.mjs classify results/squid.json   # classify a published results file
import fs from 'fs'
import fetch from 'node-fetch'
import { runTests, getResults } from 'http-cache-tests/client/runner.mjs'
import suites from 'http-cache-tests/tests/index.mjs'

const byId = new Map()
for (const suite of suites) {
  for (const test of suite.tests) {
    byId.set(test.id, test)
  }
}

function outcome (id, results) {
  if (byId.get(id).browser_only === true) return 'browser-only'
  const result = results[id]
  if (result === undefined) return 'untested'
  if (Array.isArray(result) && result[0] === 'Setup') return 'setup'
  if (result === true) return 'pass'
  if (Array.isArray(result) && result[0] === 'Assertion') return 'fail'
  return 'harness'
}

function report (results) {
  const tests = {}
  const summary = {}
  for (const [id, test] of byId) {
    const kind = test.kind === undefined ? 'required' : test.kind
    const out = outcome(id, results)
    const detail = Array.isArray(results[id]) ? String(results[id][1]) : undefined
    tests[id] = { kind, outcome: out, detail }
    summary[kind] = summary[kind] || {}
    summary[kind][out] = (summary[kind][out] || 0) + 1
  }
  return { summary, tests }
}

const [mode, arg] = process.argv.slice(2)
if (mode === 'classify') {
  const results = JSON.parse(fs.readFileSync(arg, 'utf8'))
  console.log(JSON.stringify(report(results), null, 2))
} else if (mode === 'run') {
  const all = suites.map(s => ({ ...s, tests: s.tests.filter(t => t.browser_only !== true) }))
  runTests(all, fetch, false, arg).then(() => {
    console.log(JSON.stringify(report(getResults()), null, 2))
  }).catch(err => {
    console.error(err)
    process.exit(1)
  })
} else {
  console.error('usage: node run.mjs run <base-url> | classify <results.json>')
  process.exit(2)
}
