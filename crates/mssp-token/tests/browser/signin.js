// A real browser for `mssp-token login --browser-command "node tests/browser/signin.js"`:
// opens the sign-in URL (the last argument) in headless Chromium, presses Accept on the
// sandbox's sign-in page, waits for mssp-token's listener page, and writes what a person
// would see to $CHROMIUM_LOG as JSON (and a screenshot beside it).
const { chromium } = require('playwright-core');
const fs = require('fs');

async function main() {
  const url = process.argv[process.argv.length - 1];
  const out = process.env.CHROMIUM_LOG;
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const result = { steps: [] };
  try {
    const page = await browser.newPage();
    await page.goto(url, { timeout: 20000 });
    result.signin_title = await page.title();
    result.signin_text = await page.innerText('body');
    await Promise.all([
      page.waitForURL(u => u.hostname === 'localhost' || u.hostname === '127.0.0.1' || u.hostname === '[::1]',
                      { timeout: 20000 }),
      page.click('#accept'),
    ]);
    result.final_url = page.url();
    result.final_title = await page.title();
    result.final_text = await page.innerText('body');
    if (out) await page.screenshot({ path: out + '.png' });
  } catch (e) {
    result.error = String(e);
  } finally {
    await browser.close();
    if (out) fs.writeFileSync(out, JSON.stringify(result));
  }
}

main();
