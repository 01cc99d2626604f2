// A real browser for the device code flow: `node tests/browser/devicecode.js URL CODE` opens the
// verification URL in headless Chromium, types the user code, presses Next, then Accept on the
// sandbox's sign-in page, and writes what a person would see to $CHROMIUM_LOG as JSON (and a
// screenshot beside it).
const { chromium } = require('playwright-core');
const fs = require('fs');

async function main() {
  const [url, code] = process.argv.slice(-2);
  const out = process.env.CHROMIUM_LOG;
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const result = {};
  try {
    const page = await browser.newPage();
    await page.goto(url, { timeout: 20000 });
    result.code_title = await page.title();
    result.code_text = await page.innerText('body');
    await page.fill('#otc', code);
    await Promise.all([page.waitForSelector('#accept', { timeout: 20000 }), page.click('#next')]);
    result.signin_text = await page.innerText('body');
    await Promise.all([page.waitForSelector('#result', { timeout: 20000 }), page.click('#accept')]);
    result.final_url = page.url();
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
