// The Station in a real browser (Debian chromium driven by playwright-core), step by step.
// Called by Testing/test_station_browser.py, which starts `radassist serve`, reads the JSON this script
// prints last and checks the saved NIfTI files. Environment:
//   STATION_URL, STATION_CASE, STATION_CASE_FOLDER, STATION_ARTIFACTS (screenshots and copies go here),
//   STATION_ANNOTATOR / STATION_REVIEWER ("name:password"), CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const url = process.env.STATION_URL;
const caseId = process.env.STATION_CASE;
const reportCaseId = process.env.STATION_REPORT_CASE;
const caseFolder = process.env.STATION_CASE_FOLDER;
const artifacts = process.env.STATION_ARTIFACTS;
const [annotator, annotatorPassword] = process.env.STATION_ANNOTATOR.split(':');
const [reviewer, reviewerPassword] = process.env.STATION_REVIEWER.split(':');
const results = { steps: [] };
fs.mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // no sandbox as root; no background networking: this machine's closed network refuses it
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run', '--disable-quic'],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
const page = await context.newPage();
page.setDefaultTimeout(60000);

async function shot(name) {
  const file = path.join(artifacts, `${String(results.steps.length + 1).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  results.steps.push(name);
}

async function signIn(user, password) {
  await page.goto(url);
  await page.fill('#signin-username', user);
  await page.fill('#signin-password', password);
  await page.click('#signin-submit');
}

async function message() {
  return (await page.locator('#station-message').innerText()).trim();
}

// the panel's message after an action: one that matches `pattern` and differs from `previous`
async function waitForMessage(pattern, timeout = 60000, previous = null) {
  await page.waitForFunction(
    ([source, previous]) => {
      const text = document.querySelector('#station-message')?.innerText || '';
      return text !== previous && new RegExp(source, 'i').test(text);
    },
    [pattern.source, previous], { timeout });
  return message();
}

async function currentMessage() {
  return (await page.locator('#station-message').count()) ? message() : null;
}

// RGB of one pixel of the axial view as the browser shows it (the view is an <img> of a blob URL)
async function axialPixel(x, y) {
  return page.evaluate(([x, y]) => {
    const img = document.querySelectorAll('img.image-display-area')[0];
    const rect = img.getBoundingClientRect();
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(img, 0, 0);
    const scale = img.naturalWidth / rect.width;
    return Array.from(context.getImageData(Math.round((x - rect.x) * scale), Math.round((y - rect.y) * scale), 1, 1).data.slice(0, 3));
  }, [x, y]);
}

// 1. nothing but the sign-in page before signing in, wherever one goes
await page.goto(url + 'index.html');
results.before_sign_in_url = page.url();
results.before_sign_in_has_app = await page.locator('#station-worklist').count();
await shot('sign-in-page');

// 2. a wrong password is refused
await signIn(annotator, 'not-the-password');
results.wrong_password_error = await page.locator('#signin-error').innerText();
results.wrong_password_url = page.url();
await shot('wrong-password-refused');

// 3. the annotator signs in and sees the worklist
let started = Date.now();
await signIn(annotator, annotatorPassword);
await page.waitForSelector(`#station-open-${caseId}`);
results.sign_in_to_worklist_ms = Date.now() - started;
await shot('annotator-worklist');

// 4. open the case: four sequences, axial/sagittal/coronal/3D views
started = Date.now();
await page.click(`#station-open-${caseId}`);
results.open_message = await waitForMessage(/^Opened/);
results.open_case_ms = Date.now() - started;
results.view_count = await page.locator('img.image-display-area').count();
results.demo_notice = await page.locator('#station-demo-notice').count();
await page.waitForTimeout(500);
await shot('case-open');

// 5. run BrainTumorLabel, with its progress bar; cancel once, then run to the end
await page.click('#station-run');
await page.waitForSelector('#station-progress', { timeout: 10000 });
await shot('assistant-running');
await page.click('#station-cancel');
results.cancel_message = await waitForMessage(/Cancelled|finished|error/i, 300000, 'BrainTumorLabel is running.');
await shot('assistant-cancelled');
started = Date.now();
await page.click('#station-run');
await page.waitForSelector('#station-progress', { timeout: 10000 });
results.assistant_message = await waitForMessage(/BrainTumorLabel finished|error|Cancelled/i, 300000);
results.assistant_ms = Date.now() - started;
await shot('assistant-results');

// 6. save once (the assistant's labels), keep a copy of what was written
let previous = await currentMessage();
await page.click('#station-save');
results.first_save = await waitForMessage(/^Saved revision|error|cannot/i, 60000, previous);
fs.cpSync(path.join(caseFolder, 'labels'), path.join(artifacts, 'labels-before-paint'), { recursive: true });

// 7. paint three strokes with the mouse on the axial view, each 100 px long, one above the other
await page.click('#station-tab-editor');
await page.locator('button:has(i.mdi-brush)').first().click();
await page.waitForTimeout(500);
const img = page.locator('img.image-display-area').first();
const box = await img.boundingBox();
const cx = box.x + box.width / 2;
const cy = box.y + box.height / 2;
results.view = [box.x, box.y, box.width, box.height];
results.strokes = [];
for (const row of [-60, 0, 60]) {
  // from 80 px left of the centre to 20 px right of it: off-centre, so a mirrored save would show
  const y = cy + row;
  const stroke = { from: [cx - 80, y], to: [cx + 20, y] };
  const probe = [cx - 70, y];
  await page.mouse.move(cx + 120, y + 30); // the brush cursor away from the probe point
  await page.waitForTimeout(700);
  const before = await axialPixel(...probe);
  await page.mouse.move(...stroke.from);
  await page.mouse.down();
  for (let step = 1; step <= 10; step++) {  // a hand's pace: a mouse event every 16 ms
    await page.mouse.move(stroke.from[0] + step * 10, y);
    await page.waitForTimeout(16);
  }
  await page.mouse.up();
  const released = Date.now();
  stroke.released_wall_ms = released;
  stroke.visible_ms = null;
  while (Date.now() - released < 5000) {
    const now = await axialPixel(...probe);
    if (now.reduce((sum, value, i) => sum + Math.abs(value - before[i]), 0) > 40) {
      stroke.visible_ms = Date.now() - released;
      break;
    }
    await page.waitForTimeout(5);
  }
  stroke.probe_before_rgb = before;
  stroke.probe_after_rgb = await axialPixel(...probe);
  results.strokes.push(stroke);
}
results.paint_visible_ms = results.strokes.map((stroke) => stroke.visible_ms);
await shot('painted-strokes');

// undo takes the last stroke away, redo brings it back
const difference = (a, b) => a.reduce((sum, value, i) => sum + Math.abs(value - b[i]), 0);
async function waitForProbe(probe, test) {
  const started = Date.now();
  while (Date.now() - started < 5000) {
    if (test(await axialPixel(...probe))) return true;
    await page.waitForTimeout(20);
  }
  return false;
}
const last = results.strokes[2];
const lastProbe = [cx - 70, cy + 60];
await page.locator('button:has(i.mdi-undo)').first().click();
results.undo_removed_stroke = await waitForProbe(lastProbe, (rgb) => difference(rgb, last.probe_before_rgb) < 30);
await shot('undo');
await page.locator('button:has(i.mdi-redo)').first().click();
results.redo_restored_stroke = await waitForProbe(lastProbe, (rgb) => difference(rgb, last.probe_before_rgb) > 40);

// 8. save the edit
await page.click('#station-tab-case');
previous = await currentMessage();
await page.click('#station-save');
results.second_save = await waitForMessage(/^Saved revision|error|cannot/i, 60000, previous);
await shot('saved');
previous = await currentMessage();
await page.click('#station-qa');
results.qa_message = await waitForMessage(/^QA (passed|raised)|error/i, 60000, previous);
results.qa_report_shown = await page.locator('#station-qa-report').count();

// 9. an annotator has no accept button; submit for review
results.annotator_accept_buttons = await page.locator('#station-accept').count();
previous = await currentMessage();
await page.click('#station-submit');
results.submit_message = await waitForMessage(/Submitted|error/i, 60000, previous);
await shot('submitted');
await page.click('#station-signout');
await page.waitForSelector('#signin-username');

// 10. the reviewer accepts
await signIn(reviewer, reviewerPassword);
await page.waitForSelector(`#station-open-${caseId}`);
await page.click(`#station-open-${caseId}`);
await waitForMessage(/^Opened/);
previous = await currentMessage();
await page.click('#station-accept');
results.review_message = await waitForMessage(/Accepted|error|cannot/i, 60000, previous);
results.final_status = (await page.locator('#station-case-status').innerText()).trim();
await shot('reviewer-accepted');

// 11. the reviewer signs a CRM case's report, exports it and downloads the PDF
await page.click('#station-tab-worklist');
await page.click(`#station-open-${reportCaseId}`);
await waitForMessage(/^Opened/);
await page.click('#station-tab-report');
previous = await currentMessage();
await page.click('#station-report-sign');
results.report_sign_message = await waitForMessage(/signed by|error|cannot|refused/i, 60000, previous);
previous = await currentMessage();
await page.click('#station-report-export');
results.report_export_message = await waitForMessage(/^Exported|error|cannot/i, 120000, previous);
await page.waitForSelector('#station-report-pdf');
const [download] = await Promise.all([page.waitForEvent('download'), page.click('#station-report-pdf')]);
results.report_pdf_download = download.suggestedFilename();
await download.saveAs(path.join(artifacts, download.suggestedFilename()));
const [page_html] = await Promise.all([page.waitForEvent('download'), page.click('#station-report-html')]);
results.report_html_download = page_html.suggestedFilename();
await page_html.saveAs(path.join(artifacts, page_html.suggestedFilename()));
await shot('report-exported');

await browser.close();
console.log('STATION_RESULTS ' + JSON.stringify(results));
