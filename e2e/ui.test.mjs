// The web UI in a real browser: Debian's Chromium driven by playwright-core.
//
// Run by crates/chatvault/tests/browser.rs, which builds a demo archive, adds the
// hostile fixture conversations, starts the real server and passes:
//   CV_URL     the server's base URL
//   CV_LOGINS  the demo accounts, as `chatvault demo --json` printed them
//   CV_SHOTS   where to save a screenshot of each main page
//   CV_CHROMIUM the browser (default /usr/bin/chromium)
//   CV_INGEST  an ingest token (source wecom); the server's SLA alert tiers are 1 s
//              (blue), 3 s (yellow) and 1 h (red)
// Every check throws on failure; the process exits non-zero with the step's name.

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.CV_URL.replace(/\/$/, "");
const LOGINS = Object.fromEntries(JSON.parse(process.env.CV_LOGINS).map((l) => [l.user, l]));
const SHOTS = process.env.CV_SHOTS;
fs.mkdirSync(SHOTS, { recursive: true });

// RFC 6238 with SHA-1, 6 digits, 30 s: what every authenticator app computes.
function base32(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of s.replace(/=+$/, "").toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    bits += v.toString(2).padStart(5, "0");
  }
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}
function totp(secret, ms = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(ms / 30000)));
  const h = crypto.createHmac("sha1", base32(secret)).update(counter).digest();
  const o = h[h.length - 1] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, "0");
}

let step = "start";
const passed = [];
function check(cond, what) {
  if (!cond) throw new Error(`${step}: ${what}`);
}
async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

const browser = await chromium.launch({
  executablePath: process.env.CV_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

// One browser context per person: their session lives in it.
async function person(user, opts = {}) {
  const ctx = await browser.newContext({ locale: opts.locale || "zh-CN", viewport: { width: 1280, height: 900 }, extraHTTPHeaders: { "Accept-Language": opts.locale || "zh-CN" } });
  const page = await ctx.newPage();
  const dialogs = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
  const urls = [];
  page.on("request", (r) => urls.push(r.url()));
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  return { user, ctx, page, dialogs, urls, errors };
}

async function login(p, { enrol = false, shotName } = {}) {
  const { page, user } = p;
  await page.goto(`${BASE}/login`);
  if (shotName) await shot(page, shotName);
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", LOGINS[user].password);
  await page.click("button[type=submit].primary");
  await page.waitForLoadState("networkidle");
  if (enrol) {
    check(await page.locator(".qr svg").count() === 1, `${user}: the enrolment page shows a QR code`);
    const secret = (await page.textContent("#totp-secret")).trim();
    check(/^[A-Z2-7]+=*$/.test(secret), `${user}: a base32 secret is shown for manual entry (${secret})`);
    if (shotName) await shot(page, `${shotName}-enrol`);
    await page.fill("input[name=code]", totp(secret));
    await page.click("button[type=submit].primary");
    await page.waitForLoadState("networkidle");
    p.secret = secret;
  }
  check(!page.url().includes("/login"), `${user}: signed in (now at ${page.url()})`);
}

async function search(page, q, extra = {}) {
  await page.goto(`${BASE}/search`);
  await page.fill("input[name=q]", q);
  for (const [k, v] of Object.entries(extra)) await page.fill(`input[name=${k}]`, v);
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/search") && r.request().method() === "POST"),
    page.press("input[name=q]", "Enter"),
  ]);
  await page.waitForSelector("#results .results, #results .alert");
}

async function run() {
  // ---- agent: keyboard, search, context, XSS, another team ----
  step = "agent signs in";
  const agent = await person("demo-agent");
  await login(agent, { shotName: "01-login" });
  check(agent.page.url().endsWith("/search"), "an agent starts on the search page");
  await shot(agent.page, "02-search-empty");
  passed.push(step);

  step = "agent searches a Chinese keyword";
  await search(agent.page, "退款");
  const marks = await agent.page.locator("#results mark").allTextContents();
  check(marks.length > 0 && marks.every((m) => m === "退款"), `highlighted hits are the keyword: ${JSON.stringify(marks.slice(0, 5))}`);
  const count = await agent.page.textContent("#results .count strong");
  check(Number(count) > 0, `a count is shown (${count})`);
  check(!agent.page.url().includes("%E9%80%80") && !agent.urls.some((u) => u.includes("%E9%80%80%E6%AC%BE") || u.includes("退款")), "the query never appears in a URL");
  await shot(agent.page, "03-search-results");
  passed.push(step);

  step = "agent opens a hit in context";
  await agent.page.click("#results .hit a >> nth=0");
  await agent.page.waitForSelector(".thread");
  check(await agent.page.locator(".msg.focus").count() === 1, "the hit is marked in its conversation");
  check(await agent.page.locator(".msg.agent .bubble").count() > 0 && await agent.page.locator(".msg.customer .bubble").count() > 0, "bubbles for both sides");
  await shot(agent.page, "04-conversation");
  passed.push(step);

  step = "hostile content renders as text";
  const resp = await agent.page.goto(`${BASE}/conversation?id=wecom%3Acase-xss`);
  check(resp.status() === 200, `the agent's own conversation opens (${resp.status()})`);
  const csp = resp.headers()["content-security-policy"] || "";
  check(csp.includes("script-src 'self'") && !csp.includes("unsafe-inline") && !csp.includes("unsafe-eval"), `CSP without inline script: ${csp}`);
  const dom = await agent.page.evaluate(() => ({
    inlineScripts: document.querySelectorAll("script:not([src])").length,
    threadScripts: document.querySelectorAll(".thread script").length,
    badImgs: document.querySelectorAll('.thread img[src="x"], .thread img[onerror]').length,
    jsLinks: document.querySelectorAll('a[href^="javascript:" i]').length,
    text: document.querySelector(".thread").innerText,
    title: document.querySelector("h1").innerText,
  }));
  check(dom.inlineScripts === 0 && dom.threadScripts === 0, "no script element came from content");
  check(dom.badImgs === 0, "no <img onerror> came from content");
  check(dom.jsLinks === 0, "no javascript: link");
  check(dom.text.includes("<script>alert('xss')</script>"), "the script tag is shown as text");
  check(dom.text.includes("<img src=x onerror=alert(2)>"), "the img tag is shown as text");
  check(dom.text.includes('<a href="javascript:alert(3)">'), "the javascript: link is shown as text");
  check(dom.text.includes("\\u{202e}"), "the right-to-left override is shown as an escape, not obeyed");
  check(dom.title.includes("<script>"), "the hostile title is text");
  check(await agent.page.locator(".msg.recalled").count() >= 1 && await agent.page.locator(".badge.edited").count() >= 1, "a recalled and an edited message are shown with their originals");
  check(await agent.page.locator(".attachment img").count() >= 1, "the image attachment is previewed");
  const img = agent.page.locator(".attachment img").first();
  await img.scrollIntoViewIfNeeded();
  await agent.page.waitForFunction(() => { const i = document.querySelector(".attachment img"); return i && i.complete; });
  check(await img.evaluate((i) => i.naturalWidth > 0), "the preview loads (lazily, once scrolled to)");
  check(agent.dialogs.length === 0, `no dialog opened: ${agent.dialogs}`);
  await agent.page.keyboard.press("Tab");
  check(await agent.page.evaluate(() => document.activeElement && document.activeElement.classList.contains("skip")), "keyboard: the first Tab reaches the skip link");
  await agent.page.keyboard.press("Enter");
  check(await agent.page.evaluate(() => location.hash === "#main"), "keyboard: the skip link jumps to the content");
  await shot(agent.page, "05-xss-as-text");
  passed.push(step);

  step = "an agent cannot reach another team's conversation";
  const other = await agent.page.goto(`${BASE}/conversation?id=wecom%3Aother-team`);
  check(other.status() === 403, `refused with 403 (${other.status()})`);
  check((await agent.page.textContent(".error-page code")).trim() === "access.denied", "the error page shows the code");
  await shot(agent.page, "06-denied");
  const exportTry = await agent.page.goto(`${BASE}/audit`);
  check(exportTry.status() === 403, "an agent is refused the audit log");
  passed.push(step);

  step = "phone width";
  await agent.page.setViewportSize({ width: 390, height: 844 });
  await search(agent.page, "退款");
  const overflow = await agent.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `no horizontal scrolling at 390 px (overflow ${overflow})`);
  await shot(agent.page, "07-phone-search");
  await agent.page.goto(`${BASE}/conversation?id=wecom%3Acase-xss`);
  const overflow2 = await agent.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow2 <= 1, `conversation fits at 390 px (overflow ${overflow2})`);
  await shot(agent.page, "08-phone-conversation");
  await agent.page.setViewportSize({ width: 1280, height: 900 });
  passed.push(step);

  // ---- legal files, the team lead approves, legal sees the scope only ----
  step = "legal signs in with TOTP enrolment";
  const legal = await person("demo-legal");
  await login(legal, { enrol: true, shotName: "09-legal-login" });
  check(legal.page.url().endsWith("/requests"), `legal starts on requests (${legal.page.url()})`);
  const before = await legal.page.goto(`${BASE}/search`);
  check(before.status() === 403, "legal sees no content before a grant");
  passed.push(step);

  step = "legal files a request";
  await legal.page.goto(`${BASE}/requests`);
  await legal.page.fill("#new-request textarea[name=conversations]", "wecom:case-xss");
  await legal.page.fill("#new-request input[name=reason]", "劳动仲裁取证");
  await legal.page.fill("#new-request input[name=case_number]", "京劳仲字[2026]第88号");
  // Export and PII view too: legal takes an evidence package of it below.
  await legal.page.check("#new-request input[value=export]");
  await legal.page.check("#new-request input[value='pii.view']");
  await legal.page.click("#new-request button[type=submit]");
  await legal.page.waitForLoadState("networkidle");
  check((await legal.page.textContent(".alert.good")).length > 0, "a notice confirms the request");
  check((await legal.page.textContent("table")).includes("京劳仲字[2026]第88号"), "my requests lists it");
  await shot(legal.page, "10-requests-legal");
  passed.push(step);

  step = "the team lead approves it";
  const lead = await person("demo-lead");
  await login(lead);
  await lead.page.goto(`${BASE}/requests`);
  const card = lead.page.locator("#inbox article.request", { hasText: "京劳仲字[2026]第88号" });
  check(await card.count() === 1, "the request is in the lead's inbox");
  await card.locator("input[name=comment]").fill("准予调取");
  await shot(lead.page, "11-approvals-inbox");
  await card.locator("button.primary").click();
  await lead.page.waitForLoadState("networkidle");
  check(lead.page.url().includes("done=approved"), "approved");
  check((await lead.page.textContent("#grants")).includes("demo-legal"), "the active grant is listed with its expiry");
  await shot(lead.page, "12-grants");
  passed.push(step);

  step = "the team lead reads the service-quality dashboard of their team";
  await lead.page.goto(`${BASE}/dashboard`);
  for (const id of ["gauge-chart", "hist-chart", "heat-chart", "topics-chart"]) {
    await lead.page.waitForSelector(`#${id}[data-drawn="1"] canvas`, { timeout: 10000 });
  }
  const teams = new Set(await lead.page.locator("#ranking tbody tr td:nth-child(2)").allTextContents());
  check(teams.size === 1 && teams.has("售后一组"), `only the lead's team: ${[...teams]}`);
  check((await lead.page.locator("#breaches tbody tr").count()) > 0, "breaches are listed");
  const drill = await lead.page.locator("#breaches tbody tr a").first().getAttribute("href");
  check(drill.startsWith("/conversation?id="), `a breach drills down to its conversation: ${drill}`);
  await shot(lead.page, "12b-dashboard");
  const [rcsv] = await Promise.all([lead.page.waitForEvent("download"), lead.page.locator("a", { hasText: "agents.csv" }).click()]);
  check(rcsv.suggestedFilename() === "report-agents.csv", rcsv.suggestedFilename());
  const otherTeam = await lead.page.goto(`${BASE}/dashboard?team=${encodeURIComponent("售后二组")}`);
  check(otherTeam.status() === 403, "another team's dashboard is refused");
  passed.push(step);

  step = "the team lead sees a live alert come, escalate, be acknowledged and resolve";
  const ingest = async (msgs) => {
    const r = await fetch(`${BASE}/api/v1/messages`, { method: "POST", headers: { authorization: `Bearer ${process.env.CV_INGEST}`, "content-type": "application/json" }, body: JSON.stringify({ messages: msgs }) });
    check(r.status === 200, `ingest: ${r.status}`);
  };
  const live = (sender, role, text, ms = Date.now()) => ({ platform: "wecom", conversation_id: "live-1", sender_id: sender, sender_role: role, sent_at: new Date(ms).toISOString(), text });
  await lead.page.goto(`${BASE}/alerts`);
  await lead.page.waitForSelector("#feed-state[data-connected]", { timeout: 10000 });
  check((await lead.page.locator("#open-alerts").count()) === 0, "no alert before the customer writes");
  await ingest([live("a-1001", "agent", "您好，这里是售后一组", Date.now() - 60000)]);
  await ingest([live("cust-live", "customer", "<b>我的快递</b>还没到")]);
  // No reload by the test: the SSE feed brings the alert in, then its escalation.
  await lead.page.waitForSelector("#open-alerts tr[data-tier=blue], #open-alerts tr[data-tier=yellow]", { timeout: 10000 });
  await lead.page.waitForSelector("#open-alerts tr[data-tier=yellow]", { timeout: 10000 });
  const row = lead.page.locator("#open-alerts tr[data-tier=yellow]");
  check((await row.textContent()).includes("wecom:live-1"), "the alert names its conversation");
  check((await row.textContent()).includes("蓝色 → 客服 · 黄色 → 组长"), `the escalation steps: ${await row.textContent()}`);
  check((await lead.page.locator("#sources").textContent()).includes("wecom"), "capture latency of the wecom source");
  await shot(lead.page, "12c-alerts");
  await row.locator("button", { hasText: "确认" }).click();
  await lead.page.waitForSelector("#open-alerts tr[data-tier=yellow] .badge.ok", { timeout: 10000 });
  check((await lead.page.locator("#open-alerts tr[data-tier=yellow]").textContent()).includes("demo-lead"), "acknowledged by the team lead");
  await lead.page.waitForSelector("#feed-state[data-connected]", { timeout: 10000 });
  await ingest([live("a-1001", "agent", "抱歉久等，已催件")]);
  await lead.page.waitForSelector("#resolved-alerts tr", { timeout: 10000 });
  check((await lead.page.locator("#open-alerts").count()) === 0, "nothing open once the agent answered");
  check((await lead.page.locator("#resolved-alerts").textContent()).includes("已回复"), "resolved by the answer");
  check(!(await lead.page.content()).includes("<b>我的快递"), "no message text on the alert page");
  await shot(lead.page, "12d-alerts-resolved");
  await lead.page.goto(`${BASE}/requests`);
  passed.push(step);

  step = "legal sees the results in scope, and is refused out of scope";
  await search(legal.page, "退款");
  const convs = await legal.page.locator("#results .hit .conv").allTextContents();
  check(convs.length > 0 && convs.every((c) => c === "wecom:case-xss"), `only the granted conversation: ${JSON.stringify(convs)}`);
  await shot(legal.page, "13-legal-search-in-scope");
  const out = await legal.page.goto(`${BASE}/conversation?id=wecom%3Aother-team`);
  check(out.status() === 403, "out of scope: refused");
  await search(legal.page, "退款", { conversation: "wecom:other-team" });
  check((await legal.page.textContent("#results")).includes("access.denied"), "a search out of scope is refused with its code");
  passed.push(step);

  step = "legal downloads an evidence package of the conversation";
  await legal.page.goto(`${BASE}/conversation?id=wecom%3Acase-xss`);
  const [dl] = await Promise.all([legal.page.waitForEvent("download"), legal.page.locator("p.exports a", { hasText: "证据包" }).click()]);
  check(dl.suggestedFilename().endsWith(".evidence.zip"), `a zip download: ${dl.suggestedFilename()}`);
  await dl.saveAs(process.env.CV_EVIDENCE);
  check(fs.readFileSync(process.env.CV_EVIDENCE).subarray(0, 2).toString() === "PK", "a zip file");
  // And of the search results, by the results' export form (the query in the body).
  await search(legal.page, "退款");
  await legal.page.selectOption("#results form.export-form select[name=format]", "csv");
  const [csv] = await Promise.all([legal.page.waitForEvent("download"), legal.page.click("#results form.export-form button")]);
  const csvPath = process.env.CV_EVIDENCE.replace(/\.zip$/, ".csv");
  await csv.saveAs(csvPath);
  const csvText = fs.readFileSync(csvPath, "utf8");
  check(csvText.startsWith("\uFEFF") && csvText.includes("退款") && !csvText.includes("第二个订单"), "the CSV holds the results in scope only");
  passed.push(step);

  step = "legal links one person's handles across platforms";
  await legal.page.goto(`${BASE}/identities`);
  await legal.page.fill("#link-form textarea[name=handles]", "wecom:cust-9\nwhatsapp:+8613800138000");
  await legal.page.fill("#link-form input[name=name]", "王女士");
  await legal.page.click("#link-form button[type=submit]");
  await legal.page.waitForLoadState("networkidle");
  check(legal.page.url().includes("done=link"), `linked (${legal.page.url()})`);
  check((await legal.page.textContent("ul.links")).includes("whatsapp:+8613800138000"), "the link is listed");
  await shot(legal.page, "13b-identities");
  passed.push(step);

  // ---- someone guesses demo-agent2's password: the log flags it ----
  step = "a password-guessing run";
  const guesser = await person("demo-agent2");
  await guesser.page.goto(`${BASE}/login`);
  const pre = (await guesser.ctx.cookies()).find((c) => c.name === "cv_pre").value;
  const statuses = [];
  for (let i = 0; i < 12; i++) {
    const r = await guesser.page.request.post(`${BASE}/login`, { form: { _csrf: pre, username: "demo-agent2", password: `guess-${i}-wrong-password` } });
    statuses.push(r.status());
  }
  check(statuses.slice(0, 5).every((s) => s === 401) && statuses.slice(5).some((s) => s === 429), `wrong passwords, then throttled: ${statuses}`);
  passed.push(step);

  // ---- the auditor sees all of it ----
  step = "the auditor sees every step in the audit log";
  const auditor = await person("demo-auditor");
  await login(auditor, { enrol: true });
  await auditor.page.goto(`${BASE}/audit`);
  const rows = await auditor.page.locator("table.audit tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.innerText.trim())));
  const has = (actor, action, result) => rows.some((r) => r[2] === actor && r[3] === action && (!result || r[5] === result));
  for (const [actor, action, result] of [
    ["demo-legal", "request.file"], ["demo-lead", "request.approve"], ["demo-legal", "search"], ["demo-legal", "grant.use"],
    ["demo-legal", "access.denied", "拒绝"], ["demo-agent", "access.denied", "拒绝"], ["demo-agent", "search"], ["demo-agent", "view"],
    ["demo-legal", "totp.enrolled"], ["demo-legal", "login.success"],
  ]) {
    check(has(actor, action, result), `the log shows ${actor} ${action}`);
  }
  check(await auditor.page.locator("#audit-chart canvas").count() >= 1, "the activity chart is drawn (ECharts)");
  await auditor.page.click("#verify-chain");
  await auditor.page.waitForSelector("#verify-result .alert");
  check(await auditor.page.locator("#verify-ok").count() === 1, "verify chain: ok");
  await shot(auditor.page, "14-audit");
  await auditor.page.goto(`${BASE}/audit?flagged=1`);
  const flagged = await auditor.page.locator("table.audit tbody tr.flagged").count();
  const all = await auditor.page.locator("table.audit tbody tr").count();
  check(flagged > 0 && flagged === all, `only flagged entries, highlighted (${flagged} of ${all})`);
  // Any flagged row may come first (content read at night is flagged off_hours too).
  const badges = await auditor.page.locator("table.audit tbody tr.flagged .badge.flag").allTextContents();
  check(badges.some((b) => b.includes("failed_logins")), `the guessing run is flagged failed_logins (${badges.slice(0, 5)})`);
  await shot(auditor.page, "15-audit-flagged");
  await auditor.page.goto(`${BASE}/integrity`);
  check(Number(await auditor.page.textContent("#tree-size")) > 0, "the latest signed checkpoint is shown");
  await auditor.page.click("#verify-archive");
  await auditor.page.waitForSelector("#integrity-result .alert", { timeout: 60000 });
  check(await auditor.page.locator("#integrity-result #verify-ok").count() === 1, "the archive verifies");
  await shot(auditor.page, "16-integrity");
  passed.push(step);

  // ---- admin: users and roles ----
  step = "the admin adds, freezes and unfreezes a user";
  const admin = await person("demo-admin");
  await login(admin, { enrol: true });
  check(admin.page.url().endsWith("/admin/users"), "an admin starts on users");
  await admin.page.fill("#add-user input[name=name]", "ui-added");
  await admin.page.selectOption("#add-user select[name=role]", "agent");
  await admin.page.fill("#add-user textarea[name=handles]", "wecom:a-1004");
  await admin.page.click("#add-user button[type=submit]");
  await admin.page.waitForLoadState("networkidle");
  check(/\S{20}/.test(await admin.page.textContent("#created code.secret")), "the generated password is shown once");
  await shot(admin.page, "17-users");
  await admin.page.locator("#user-ui-added input[name=reason]").fill("离职");
  await admin.page.locator("#user-ui-added button.danger").click();
  await admin.page.waitForLoadState("networkidle");
  check((await admin.page.textContent("#user-ui-added")).includes("已冻结"), "frozen");
  await admin.page.locator("#user-ui-added form[action$=unfreeze] button").click();
  await admin.page.waitForLoadState("networkidle");
  check((await admin.page.textContent("#user-ui-added")).includes("正常"), "unfrozen");
  passed.push(step);

  // ---- admin: live capture sources ----
  step = "the admin adds a capture source and watches its figures and quarantine";
  await admin.page.goto(`${BASE}/admin/sources`);
  const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  await admin.page.fill("#add-source input[name=name]", "crm-ui");
  await admin.page.selectOption("#add-source select[name=kind]", "webhook");
  await admin.page.fill("#add-source input[name=secret]", whsec);
  await admin.page.click("#add-source button[type=submit]");
  await admin.page.waitForLoadState("networkidle");
  check((await admin.page.textContent("#notice")).includes("crm-ui"), "the source is added");
  check(!(await admin.page.content()).includes("MfKQ9r8G"), "the secret is never shown again");
  // Signed deliveries as a sender would make them (Standard Webhooks).
  const deliver = async (id, body, secret = whsec) => {
    const ts = Math.floor(Date.now() / 1000);
    const key = Buffer.from(secret.slice("whsec_".length), "base64");
    const sig = crypto.createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest("base64");
    const r = await fetch(`${BASE}/hooks/crm-ui`, { method: "POST", body, headers: { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": `v1,${sig}` } });
    return r.status;
  };
  const rec = JSON.stringify({ platform: "wecom", conversation_id: "ui-capture", source_id: "ui-1", sender_id: "c1", sent_at: new Date().toISOString(), text: "UI-CAPTURE-1" });
  check(await deliver("m1", rec) === 200, "a signed delivery is stored");
  check(await deliver("m2", '"not a record"') === 200, "a signed delivery that does not map is answered (and held)");
  check(await deliver("m3", rec, "whsec_" + Buffer.from("another secret, 24 bytes!").toString("base64")) === 401, "a forged one is refused");
  await admin.page.goto(`${BASE}/admin/sources`);
  const srcRow = admin.page.locator("#source-crm-ui");
  const cells = await srcRow.locator("td.num").allTextContents();
  check(cells[0].trim() === "3" && cells[1].trim() === "1" && cells[3].trim() === "1", `received 3, stored 1, refused 1: ${cells}`);
  check((await srcRow.textContent()).includes("/hooks/crm-ui"), "the endpoint is shown");
  check(await admin.page.locator("#quarantine-crm-ui").count() === 1, "the quarantine is listed");
  check((await admin.page.textContent("#quarantine-crm-ui")).includes("not a JSON object or array"), "with its reason");
  await admin.page.click("#quarantine-crm-ui summary");
  await shot(admin.page, "17b-sources");
  await admin.page.locator("#source-crm-ui form[action$=replay] button").click();
  await admin.page.waitForLoadState("networkidle");
  check((await admin.page.textContent("#notice")).includes("crm-ui"), "the replay reports what it did");
  check(await admin.page.locator("#quarantine-crm-ui").count() === 1, "what still does not map stays");
  passed.push(step);

  // ---- executive: case timeline; English ----
  step = "the executive builds a case timeline across platforms";
  const exec = await person("demo-exec");
  await login(exec, { enrol: true });
  await exec.page.goto(`${BASE}/timeline`);
  // One handle: the identity link legal made brings in the WhatsApp conversation.
  await exec.page.fill("textarea[name=participants]", "wecom:cust-9");
  await exec.page.click("form.timeline-form button[type=submit]");
  await exec.page.waitForLoadState("networkidle");
  const tconvs = new Set(await exec.page.locator(".timeline .msg .conv").allTextContents());
  check(tconvs.has("wecom:case-xss") && tconvs.has("wecom:other-team") && tconvs.has("whatsapp:case-wa"), `messages from several conversations and platforms: ${[...tconvs]}`);
  const times = await exec.page.locator(".timeline .msg .when").allTextContents();
  const sorted = [...times].map((t) => Date.parse(t.replace(" ", "T").replace(/ ([+-]\d\d:\d\d)$/, "$1")));
  check(sorted.every((t, i) => i === 0 || sorted[i - 1] <= t), "merged by time, oldest first");
  check((await exec.page.textContent("p.linked")).includes("whatsapp:+8613800138000"), "the linked handle is named");
  await shot(exec.page, "18-timeline");
  passed.push(step);

  step = "the language switch";
  await exec.page.goto(`${BASE}/search`);
  await exec.page.click("form.lang button");
  await exec.page.waitForLoadState("networkidle");
  check((await exec.page.textContent("h1")).trim() === "Search", "English after the switch");
  check(exec.page.url().endsWith("/search"), "back on the same page");
  await search(exec.page, "invoice");
  await shot(exec.page, "19-search-english");
  const en = await person("demo-agent2", { locale: "en-US" });
  await en.page.goto(`${BASE}/login`);
  check((await en.page.textContent("h1")).includes("Sign in"), "Accept-Language: en gives English");
  const nf = await en.page.goto(`${BASE}/no-such-page`);
  check(nf.status() === 404 && (await en.page.textContent(".error-page code")).trim() === "route.unknown", "a 404 page with its code");
  await shot(en.page, "20-not-found");
  passed.push(step);

  step = "CSRF";
  const forged = await exec.page.request.post(`${BASE}/requests/req-x/approve`, { form: { comment: "forged", expires: "2030-01-01" } });
  check(forged.status() === 403, `a form post without the token is refused (${forged.status()})`);
  passed.push(step);

  for (const p of [agent, legal, lead, auditor, admin, exec]) {
    // The browser logs the status of the refusals the test provoked (403); anything
    // else is a real error.
    const real = p.errors.filter((e) => !/^Failed to load resource: the server responded with a status of 403/.test(e));
    check(real.length === 0, `${p.user}: no script errors: ${real}`);
  }
}

try {
  await run();
  console.log(`ui: ${passed.length} steps passed`);
  for (const s of passed) console.log(`  ok  ${s}`);
  await browser.close();
  process.exit(0);
} catch (e) {
  console.error(`ui: FAILED at ${e.message}`);
  for (const s of passed) console.error(`  ok  ${s}`);
  await browser.close();
  process.exit(1);
}
