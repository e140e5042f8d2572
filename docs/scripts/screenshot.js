// Logs in to a Label Studio server and saves a screenshot of one task's labelling view.
// usage: node screenshot.js URL EMAIL PASSWORD PAGE_PATH OUT.png
// Needs the npm packages @sparticuz/chromium (a headless Chromium) and puppeteer-core.
const chromium = require('@sparticuz/chromium');
const puppeteer = require('puppeteer-core');

(async () => {
  const [base, email, password, pagePath, out] = process.argv.slice(2);
  const browser = await puppeteer.launch({
    args: chromium.args, executablePath: await chromium.executablePath(), headless: true,
    defaultViewport: {width: 1400, height: 800},
  });
  const page = await browser.newPage();
  await page.goto(base + '/user/login/', {waitUntil: 'networkidle2'});
  await page.type('input[name=email]', email);
  await page.type('input[name=password]', password);
  await Promise.all([page.waitForNavigation({waitUntil: 'networkidle2'}), page.click('button[type=submit]')]);
  await page.goto(base + pagePath, {waitUntil: 'networkidle2'});
  await new Promise((resolve) => setTimeout(resolve, 8000));  // the brush layers are drawn after the image loads
  await page.screenshot({path: out});
  await browser.close();
})().catch((err) => { console.error(err); process.exit(1); });
