// Counts http-cache-tests results the way cache-tests.fyi does (a test whose
// dependencies did not pass is not counted as passed or failed): required
// tests passed and failed, optional ("optimal") tests passed.
// Usage (from the suite's directory): node gatekit-count.mjs result.json ...
// Prints a Markdown table; with MIN_REQUIRED set, exits 1 unless the last
// file passes at least that many required tests.
import fs from 'fs'
import tests from './tests/index.mjs'

// The npm release runs the Surrogate-Control tests too (its cli.mjs adds
// them); the current version has none.
if (fs.existsSync('./tests/surrogate-control.mjs')) {
  tests.push((await import('./tests/surrogate-control.mjs')).default)
}
const byId = {}
for (const suite of tests) for (const t of suite.tests) byId[t.id] = t

function result (id, res) {
  const t = byId[id]
  const r = res[id]
  if (r === undefined) return 'untested'
  for (const d of t.depends_on || []) {
    const dr = result(d, res)
    if (dr !== 'pass' && dr !== 'yes') return 'dependency_fail'
  }
  if (Array.isArray(r) && r[0] === 'Setup') return 'setup_fail'
  if (t.kind === 'required' || t.kind === undefined) return r === true ? 'pass' : 'fail'
  if (t.kind === 'optimal') return r === true ? 'pass' : 'optional_fail'
  return r === true ? 'yes' : 'no'
}

let required = 0
let optional = 0
for (const id in byId) {
  const k = byId[id].kind
  if (k === 'required' || k === undefined) required++
  else if (k === 'optimal') optional++
}
console.log(`| implementation | required passed (of ${required}) | required failed | optional passed (of ${optional}) |`)
console.log('|---|---:|---:|---:|')
let last = 0
for (const f of process.argv.slice(2)) {
  const res = JSON.parse(fs.readFileSync(f))
  let rp = 0; let rf = 0; let op = 0
  for (const id in byId) {
    const k = byId[id].kind
    const r = result(id, res)
    if (k === 'required' || k === undefined) {
      if (r === 'pass') rp++
      else if (r === 'fail') rf++
    } else if (k === 'optimal' && r === 'pass') op++
  }
  console.log(`| ${f.replace(/.*\//, '').replace('.json', '')} | ${rp} | ${rf} | ${op} |`)
  last = rp
}
const min = Number(process.env.MIN_REQUIRED || 0)
if (last < min) {
  console.error(`required tests passed: ${last}, want at least ${min}`)
  process.exit(1)
}
