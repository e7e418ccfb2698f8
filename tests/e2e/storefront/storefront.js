// Drives the storefront page in Debian's chromium (headless) with puppeteer-core, for
// storefront_test.cc, which starts `streamrec run` and checks the outcome:
//   node storefront.js URL CHROMIUM USER PROFILE_DIR PID_FILE SCREENSHOT RESULT_JSON [POISONED_TITLE]
// Picks USER, clicks the first recommendation, waits for the list to change, looks at
// the live and similar panels, saves a screenshot and writes what it saw to RESULT_JSON.
// Chromium gets a fresh profile, only loopback is resolvable, and it is closed (or
// killed) on every exit path; the test also kills the process group in PID_FILE.
'use strict';

const fs = require('fs');
const puppeteer = require('puppeteer-core');

const [url, chromium, user, profileDir, pidFile, screenshotPath, resultPath, poisonedTitle] =
    process.argv.slice(2);
const STEP_MS = 20000;      // bound of each wait below
const OVERALL_MS = 150000;  // bound of the whole run

const result = {
  ok: false,
  step: 'start',
  errors: [],             // page errors, console errors, failed steps
  outside_requests: [],   // any request not to the page's own origin
  failed_responses: [],   // "STATUS URL" of every answer >= 400
  before: [],
  after: [],
  clicked: '',
  changed: false,
  click_to_change_ms: -1,
  status: '',
  model_version_attr: '',
  card_titles: [],
  poisoned_cards: 0,
  poisoned_intact: 0,
  img_elements: 0,
  xss_ran: false,
  live: {},
  similar_of: '',
  similar: [],
  screenshot: '',
};

let browser = null;
let chromiumPid = 0;

function save() {
  fs.writeFileSync(resultPath, JSON.stringify(result, null, 1));
}

async function closeBrowser() {
  if (browser === null) return;
  const b = browser;
  browser = null;
  const timer = new Promise((resolve) => setTimeout(resolve, 5000));
  await Promise.race([b.close().catch(() => {}), timer]);
  if (chromiumPid > 0) {
    try { process.kill(-chromiumPid, 'SIGKILL'); } catch (e) { /* already gone */ }
  }
}

async function main() {
  const origin = new URL(url).origin;
  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    userDataDir: profileDir,
    timeout: STEP_MS,
    args: [
      '--headless=new',
      '--no-sandbox',             // tests may run as root
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-extensions',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-breakpad',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      '--window-size=1280,900',
    ],
    defaultViewport: { width: 1280, height: 900 },
  });
  chromiumPid = browser.process() ? browser.process().pid : 0;
  fs.writeFileSync(pidFile, String(chromiumPid));

  const page = await browser.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.on('pageerror', (e) => result.errors.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    // A failed load is listed with its URL in failed_responses instead.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      result.errors.push('console: ' + m.text());
    }
  });
  page.on('response', (r) => {
    if (r.status() >= 400) result.failed_responses.push(r.status() + ' ' + r.url());
  });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin + '/') && !u.startsWith('data:')) result.outside_requests.push(u);
  });

  result.step = 'load';
  const response = await page.goto(url, { waitUntil: 'domcontentloaded' });
  if (!response || response.status() !== 200) throw new Error('GET / answered ' + (response && response.status()));
  await page.waitForSelector('body[data-state="ready"], body[data-state="error"]');

  result.step = 'pick user';
  await page.$eval('#user-input', (el) => { el.value = ''; });
  await page.type('#user-input', user);
  await page.click('#user-go');
  await page.waitForFunction((u) =>
    document.getElementById('rec-user').textContent === u &&
    document.body.dataset.state === 'ready' &&
    document.querySelectorAll('#recs li[data-item-id]').length > 0, {}, user);
  const ids = () => page.$$eval('#recs li[data-item-id]', (lis) => lis.map((li) => li.dataset.itemId));
  result.before = await ids();
  result.model_version_attr = await page.$eval('#recs', (el) => el.dataset.modelVersion || '');
  result.card_titles = await page.$$eval('#recs li .title', (els) => els.map((e) => e.textContent));
  if (poisonedTitle) {
    result.poisoned_cards = result.card_titles.filter((t) => t.includes('onerror')).length;
    result.poisoned_intact = result.card_titles.filter((t) => t === poisonedTitle).length;
  }

  result.step = 'click';
  result.clicked = result.before[0];
  const started = Date.now();
  await page.click('#recs li[data-item-id]:first-child button.item');
  await page.waitForFunction((id) => document.body.dataset.lastClick === id ||
                                     document.body.dataset.state === 'error', {}, result.clicked);
  result.click_to_change_ms = Date.now() - started;
  result.after = await ids();
  result.status = await page.$eval('#status', (el) => el.textContent);
  result.changed = JSON.stringify(result.after) !== JSON.stringify(result.before);

  result.step = 'similar panel';
  await page.waitForFunction((id) => {
    const list = document.getElementById('similar');
    return list.dataset.itemId === id && list.querySelectorAll('li').length > 0;
  }, {}, result.clicked).catch((e) => result.errors.push('similar panel: ' + e.message));
  result.similar_of = await page.$eval('#similar-of', (el) => el.textContent);
  result.similar = await page.$$eval('#similar li', (lis) => lis.map((li) => li.dataset.itemId || ''));

  result.step = 'live panel';
  // Freshness is measured on wall-clock-stamped clicks (the generator's run ahead): ours.
  await page.waitForFunction(() => document.getElementById('stat-model').textContent.startsWith('v') &&
                                   document.getElementById('stat-events').textContent !== '–' &&
                                   document.getElementById('stat-freshness').textContent !== '–')
      .catch((e) => result.errors.push('live panel: ' + e.message));
  for (const name of ['events', 'model', 'model-age', 'freshness', 'p99', 'requests', 'lag']) {
    result.live[name] = await page.$eval('#stat-' + name, (el) => el.textContent);
  }

  result.step = 'escaping';
  result.img_elements = await page.$$eval('img', (els) => els.length);
  result.xss_ran = await page.evaluate(() => window.__storefront_xss === 1);

  result.step = 'screenshot';
  await page.screenshot({ path: screenshotPath, fullPage: true });
  result.screenshot = screenshotPath;
  result.step = 'done';
  result.ok = true;
}

const overall = setTimeout(async () => {
  result.errors.push('timed out at step ' + result.step);
  save();
  await closeBrowser();
  process.exit(3);
}, OVERALL_MS);

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, async () => {
    result.errors.push('got ' + signal + ' at step ' + result.step);
    save();
    await closeBrowser();
    process.exit(4);
  });
}

main()
  .catch((e) => { result.errors.push('step ' + result.step + ': ' + (e && e.stack ? e.stack : e)); })
  .finally(async () => {
    save();
    await closeBrowser();
    clearTimeout(overall);
    process.exit(result.ok ? 0 : 2);
  });
