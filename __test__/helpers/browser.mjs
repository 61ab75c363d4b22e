// Debian's Chromium for the tests that open the HTML pages, started as the machine allows
// (no network: background services off), with a page that records every console problem and
// request. Outside CI the browser tests are skipped when Chromium is missing, and say so.

import fs from 'node:fs'

export const CHROMIUM = '/usr/bin/chromium'
const haveChromium = fs.existsSync(CHROMIUM)
export const browserTestsRun = haveChromium || Boolean(process.env.CI)
export const skipNote = browserTestsRun ? '' : ' (skipped: /usr/bin/chromium is missing and CI is not set; apt-get install -y chromium)'

/** Starts Chromium with one page; `problems` collects console errors and warnings, page errors and dialogs, `requests` every URL asked for. Close `browser` when done. */
export async function openWatchedPage() {
  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
    const problems = []
    const requests = []
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`)
    })
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`)
      d.dismiss()
    })
    page.on('request', (r) => requests.push(r.url()))
    return { browser, page, problems, requests }
  } catch (err) {
    await browser.close()
    throw err
  }
}
