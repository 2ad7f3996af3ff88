// Run by tests/browser-perf/run.sh (docs/benchmarks.md). Demo logins share SY_PASSWORD.
// Page-load times in headless Chromium (navigation start → load event, and until the diagram
// or editor is drawn where a page has one), cold cache for the first page, then warm.
const { chromium } = require('playwright-core');
const base = process.env.BASE || 'http://127.0.0.1:8097';
async function timed(page, path, ready) {
  const started = Date.now();
  await page.goto(base + path, { waitUntil: 'load' });
  const load = await page.evaluate(() => { const n = performance.getEntriesByType('navigation')[0]; return Math.round(n.loadEventEnd - n.startTime); });
  if (ready) await page.waitForFunction(ready, null, { timeout: 20000 });
  return { path, load_ms: load, ready_ms: Date.now() - started };
}
(async () => {
  const browser = await chromium.launch({ executablePath: process.env.SY_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  const results = [];
  for (const [user, pages] of [
    ['hp-reviewer', [['/inbox', null], ['/', null], ['/m/todo', null], ['TASK', "document.querySelector('#diagram svg') !== null"], ['/processes/start', null]]],
    ['process-admin', [['/admin/processes', null], ['/admin/processes/pref03-institution-onboarding/editor', "document.getElementById('editor') && document.getElementById('editor').dataset.ready === '1'"], ['/admin/instances', null]]],
  ]) {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const page = await context.newPage();
    results.push(await timed(page, '/login', null));
    await page.fill('input[name=username]', user);
    await page.fill('input[name=password]', process.env.SY_PASSWORD);
    const started = Date.now();
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('button[type=submit]')]);
    results.push({ path: `(sign in as ${user} → /)`, ready_ms: Date.now() - started });
    for (let [path, ready] of pages) {
      if (path === 'TASK') {
        await page.goto(base + '/inbox');
        path = await page.getAttribute('table a[href^="/tasks/"]', 'href');
      }
      results.push(await timed(page, path, ready));
    }
    await context.close();
  }
  for (const r of results) console.log(JSON.stringify(r));
  await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });
