// The dashboard: sign-in, a refresh loop over the admin API, and the views it fills in.
// The token lives in sessionStorage only (this tab, until it closes) and travels only in the
// Authorization header; a 401 or 403 anywhere returns to sign-in.

import { Api, ApiError } from "./api.js";
import { Throughput, draw } from "./chart.js";
import { CancelMatching } from "./cancels.js";
import { FairShare } from "./fairshare.js";
import { $, el, number, plural, preview, setText, show, time, timeElement } from "./dom.js";

const TOKEN_KEY = "fbq.adminToken";
const TAB_KEY = "fbq.tab";
const REFRESH_MS = 2000;
const MAX_BACKOFF_MS = 8000;
const PAGE_SIZE = 20;
const CONTENT_PREVIEW = 2000;
const STATES = ["waiting", "active", "delayed", "failed", "completed", "cancelled"];
const TONES = {
  healthy: "ok", degraded: "warn", unhealthy: "err",
  waiting: "info", active: "info", delayed: "purple", completed: "ok", failed: "err",
  cancelled: "warn",
};
// The buttons of a row, by the tab's state.
const ACTIONS = {
  waiting: ["cancel"], active: ["cancel"], delayed: ["cancel"], failed: ["retry", "delete"],
};
const ACTION_LABELS = { retry: "Retry", delete: "Delete", cancel: "Cancel" };
const TIME_COLUMN = {
  waiting: ["Enqueued", "enqueuedAt"],
  active: ["Started", "startedAt"],
  delayed: ["Runs again at", "runAt"],
  failed: ["Failed at", "finishedAt"],
  completed: ["Finished", "finishedAt"],
  cancelled: ["Cancelled at", "finishedAt"],
};
const EMPTY = {
  waiting: "Nothing is waiting: every submission has been picked up.",
  active: "No submission is being processed right now.",
  delayed: "No submission is waiting for a retry.",
  failed: "Nothing has failed. Submissions land here after their last attempt fails.",
  completed: "No completed submission is kept right now (they expire after the retention time).",
  cancelled: "Nothing was cancelled lately (cancelled submissions expire after the retention time).",
};

const state = {
  api: null,
  tab: STATES.includes(sessionStorage.getItem(TAB_KEY)) ? sessionStorage.getItem(TAB_KEY) : "waiting",
  pages: [""], // page tokens: pages[i] opens page i
  pageIndex: 0,
  listSignature: "",
  detailId: null,
  detailSignature: "",
  detailFull: false,
  detailOpener: null,
  paused: null,
  failures: 0,
  timer: null,
  inFlight: false,
  again: false,
  toastTimer: null,
};
const history = new Throughput();
let fairShare = null; // the Fair share panel (fairshare.js), made in start()

// ---- sign-in and sign-out ----

function showSignin(message) {
  state.api = null;
  clearTimeout(state.timer);
  for (const dialog of [$("detail"), $("confirm"), $("quota"), $("cancel-dialog")]) {
    if (dialog.open) dialog.close();
  }
  show($("dashboard"), false);
  show($("session"), false);
  show($("signin"), true);
  setText($("signin-message"), message || "");
  show($("signin-message"), Boolean(message));
  $("token").focus();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  showSignin(message);
}

function enter(api) {
  state.api = api;
  state.failures = 0;
  show($("signin"), false);
  show($("session"), true);
  show($("dashboard"), true);
  selectTab(state.tab, { focus: false, reload: false });
  setLive("idle", "Connecting…");
  refresh();
}

// Returns true when the error ended the session (the caller then stops).
function endsSession(error) {
  if (!(error instanceof ApiError) || error.kind !== "auth") return false;
  signOut(
    error.status === 401
      ? "The gateway asked for the admin token again. Sign in to continue."
      : "The gateway refused the token (it may have been changed). Sign in with the current one.",
  );
  return true;
}

async function onSignin(event) {
  event.preventDefault();
  const input = $("token");
  const button = $("signin-submit");
  const token = input.value.trim();
  if (!token) {
    showSignin("Enter the admin token.");
    return;
  }
  button.disabled = true;
  setText(button, "Signing in…");
  const api = new Api(token);
  try {
    await api.stats();
  } catch (error) {
    if (error.kind === "auth") {
      showSignin(
        error.status === 401
          ? "The gateway wants a token: enter FBQ_ADMIN_TOKEN."
          : "That token was refused: it is not the gateway's admin token.",
      );
      input.select();
      return;
    }
    if (error.kind === "network") {
      showSignin("Cannot reach the gateway. Is it running? Try again in a moment.");
      return;
    }
    // "unavailable" and the like: the gateway accepted the token and could not ask the queue;
    // the dashboard shows that outage and recovers by itself.
  } finally {
    button.disabled = false;
    setText(button, "Sign in");
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  input.value = "";
  show($("signin-message"), false);
  enter(api);
  $("dashboard-title").focus();
}

// ---- the refresh loop ----

async function refresh() {
  if (!state.api) return;
  if (state.inFlight) {
    state.again = true;
    return;
  }
  clearTimeout(state.timer);
  state.inFlight = true;
  try {
    await tick();
  } finally {
    state.inFlight = false;
  }
  if (!state.api) return;
  if (state.again) {
    state.again = false;
    refresh();
    return;
  }
  const delay = state.failures
    ? Math.min(REFRESH_MS * 2 ** (state.failures - 1), MAX_BACKOFF_MS)
    : REFRESH_MS;
  if (state.failures) setText($("outage-next"), `Retrying in ${Math.round(delay / 1000)} s.`);
  state.timer = setTimeout(() => {
    if (!document.hidden) refresh();
  }, delay);
}

async function tick() {
  const api = state.api;
  try {
    const health = await api.health();
    if (api !== state.api) return;
    renderHealth(health);
    if (health.status === "unhealthy") {
      const detail = (health.warnings || []).join(" ");
      outage("The queue is unavailable: Redis or the ingest service does not answer.", detail);
      return;
    }
    renderCounts(health.queueStats);
    await Promise.all([refreshList(), refreshDetail(), fairShare.refresh()]);
    recovered();
  } catch (error) {
    if (endsSession(error)) return;
    if (error instanceof ApiError && error.kind === "network") {
      outage("Cannot reach the gateway.", "The page keeps the last known values.");
    } else if (error instanceof ApiError) {
      outage("The queue is unavailable.", error.detail);
    } else {
      outage("Something went wrong on this page.", String(error));
      console.error(error);
    }
  }
}

function outage(title, detail) {
  state.failures += 1;
  setText($("outage-title"), title);
  setText($("outage-detail"), detail);
  show($("outage"), true);
  $("dashboard").classList.add("stale");
  show($("stale-note"), true);
  setLive("down", "Offline · retrying by itself");
}

function recovered() {
  state.failures = 0;
  show($("outage"), false);
  $("dashboard").classList.remove("stale");
  show($("stale-note"), false);
  setLive("live", `Live · updated ${new Date().toLocaleTimeString()}`);
}

function setLive(mode, text) {
  $("live").dataset.state = mode;
  setText($("live-text"), text);
}

// ---- health and counts ----

function renderHealth(h) {
  const pill = $("redis-status");
  setText(pill, h.status || "unknown");
  pill.dataset.tone = TONES[h.status] || "unknown";
  const connected = Boolean(h.connected);
  setText(
    $("redis-version"),
    connected ? `Redis ${h.version || "?"}` : h.status === "degraded" ? "No Redis: in-memory queue" : "Not connected",
  );

  const memory = h.memoryUsage || {};
  const percent = Math.max(0, Math.min(100, Number(memory.percentUsed) || 0));
  const memoryText = connected
    ? `${memory.used} of ${memory.total} (${percent.toFixed(percent < 10 ? 1 : 0)}%)`
    : "–";
  setText($("memory-text"), memoryText);
  const bar = $("memory-bar");
  bar.setAttribute("aria-valuenow", percent.toFixed(1));
  bar.setAttribute("aria-valuetext", memoryText);
  bar.dataset.tone = percent >= 90 ? "err" : percent >= 75 ? "warn" : "ok";
  $("memory-fill").style.width = `${connected ? percent : 0}%`; // CSSOM, allowed by the CSP

  const p = h.persistence || {};
  const facts = {
    "redis-latency": connected ? `${Number(h.latencyMs).toFixed(2)} ms` : "–",
    "redis-cpu": connected ? cpuText(h.cpu) : "–",
    "redis-persistence": connected
      ? [
          p.aofEnabled ? `AOF on (last write ${p.aofLastWriteStatus || "?"})` : "AOF off",
          p.rdbLastSaveTime ? `last save ${time(p.rdbLastSaveTime)}` : "",
        ].filter(Boolean).join(", ")
      : "–",
    "redis-policy": connected ? h.maxmemoryPolicy || "–" : "–",
    "redis-clients": connected ? number(h.connectedClients) : "–",
    "redis-role": connected ? [h.role, h.mode].filter(Boolean).join(", ") || "–" : "–",
    "redis-hits": connected ? hitRate(h.keyspaceHits, h.keyspaceMisses) : "–",
  };
  for (const [id, text] of Object.entries(facts)) setText($(id), text);

  const warnings = h.warnings || [];
  const list = $("redis-warnings");
  const signature = JSON.stringify(warnings);
  if (list.dataset.signature !== signature) {
    list.dataset.signature = signature;
    list.replaceChildren(
      ...(warnings.length
        ? warnings.map((w) => el("li", { class: "warning", text: w }))
        : [el("li", { class: "muted", text: "None" })]),
    );
  }
}

// Percent of one core over ingest's last interval; "–" until ingest has read Redis twice.
function cpuText(cpu) {
  if (!cpu || cpu.percent === null || cpu.percent === undefined) return "–";
  const seconds = Number(cpu.intervalSeconds);
  return `${Number(cpu.percent).toFixed(1)}% of a core, last ${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
}

function hitRate(hits, misses) {
  const total = (hits || 0) + (misses || 0);
  return total ? `${((100 * hits) / total).toFixed(1)}% of ${number(total)} lookups` : "–";
}

function renderCounts(stats) {
  for (const key of ["waiting", "active", "delayed", "failed", "completed", "workers"]) {
    setText($(`count-${key}`), number(stats[key]));
  }
  for (const key of ["waiting", "active", "delayed", "failed"]) {
    setText($(`tab-count-${key}`), number(stats[key]));
  }
  setText($("count-cancelled"), number(stats.cancelledTotal));
  show($("retry-all"), state.tab === "failed" && stats.failed > 0);
  setPaused(Boolean(stats.paused));
  const now = Date.now();
  history.add(now, stats);
  const { max, minutes, summary } = draw($("chart"), history, now);
  setText($("chart-max"), `${max}/s`);
  setText($("chart-title"), `Throughput, last ${plural(minutes, "minute")}`);
  setText($("chart-summary"), summary);
}

function setPaused(paused) {
  state.paused = paused;
  setText($("pause-toggle"), paused ? "Resume queue" : "Pause queue");
  show($("paused-pill"), paused);
  show($("paused-banner"), paused);
}

// ---- the list ----

function selectTab(status, { focus = true, reload = true } = {}) {
  state.tab = status;
  sessionStorage.setItem(TAB_KEY, status);
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.status === status;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    if (selected && focus) tab.focus();
  }
  $("list-panel").setAttribute("aria-labelledby", `tab-${status}`);
  state.pages = [""];
  state.pageIndex = 0;
  state.listSignature = "";
  show($("retry-all"), false);
  // Nothing of the previous tab stays on screen while this one loads.
  setText($("list-summary"), "Loading…");
  show($("list-empty"), false);
  show($("list-wrap"), false);
  show($("list-error"), false);
  show($("pager"), false);
  if (reload) refresh();
}

function onTabKey(event) {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  const index = tabs.indexOf(document.activeElement);
  if (index < 0) return;
  const next = {
    ArrowRight: (index + 1) % tabs.length,
    ArrowLeft: (index - 1 + tabs.length) % tabs.length,
    Home: 0,
    End: tabs.length - 1,
  }[event.key];
  if (next === undefined) return;
  event.preventDefault();
  selectTab(tabs[next].dataset.status);
}

async function refreshList() {
  const status = state.tab;
  const token = state.pages[state.pageIndex];
  let page;
  try {
    page = await state.api.list(status, PAGE_SIZE, token);
  } catch (error) {
    if (error instanceof ApiError && error.kind === "http") {
      setText($("list-error"), `The list could not be loaded: ${error.detail}`);
      show($("list-error"), true);
      return;
    }
    throw error;
  }
  if (status !== state.tab || token !== state.pages[state.pageIndex]) return; // moved meanwhile
  show($("list-error"), false);
  if (page.submissions.length === 0 && state.pageIndex > 0) {
    state.pageIndex -= 1; // this page emptied (its submissions moved on): show the one before
    state.pages.length = state.pageIndex + 1;
    await refreshList();
    return;
  }
  state.pages.length = state.pageIndex + 1;
  if (page.nextPageToken) state.pages.push(page.nextPageToken);
  renderList(status, page);
}

function renderList(status, page) {
  const signature = JSON.stringify([status, state.pageIndex, page]);
  if (signature === state.listSignature) return;
  state.listSignature = signature;

  const items = page.submissions;
  const first = state.pageIndex * PAGE_SIZE + 1;
  setText(
    $("list-summary"),
    items.length
      ? `${plural(page.total, `${status} submission`)}; showing ${number(first)}–${number(first + items.length - 1)}.`
      : "",
  );
  setText($("list-empty"), EMPTY[status]);
  show($("list-empty"), items.length === 0);
  show($("list-wrap"), items.length > 0);
  show($("pager"), state.pageIndex > 0 || Boolean(page.nextPageToken));
  $("page-prev").disabled = state.pageIndex === 0;
  $("page-next").disabled = !page.nextPageToken;
  setText($("page-label"), `Page ${state.pageIndex + 1}`);

  const table = $("list");
  const showError = ["failed", "delayed", "cancelled", "active"].includes(status);
  setText($("list-error-head"), status === "active" ? "Progress" : "Last error");
  const actions = ACTIONS[status] || [];
  const showActions = actions.length > 0;
  table.classList.toggle("show-error", showError);
  table.classList.toggle("show-actions", showActions);
  const [timeHead, timeField] = TIME_COLUMN[status];
  setText($("list-time-head"), timeHead);
  // Explicit roles: on a phone the rows are laid out as cards, and CSS display must not cost
  // the table its semantics.
  const cell = (props, ...children) => el("td", { role: "cell", ...props }, ...children);

  // Rows are rebuilt, so keep the keyboard focus on the same control of the same row.
  const focusKey = document.activeElement && document.activeElement.dataset.focusKey;
  const rows = items.map((s) => {
    const id = s.id;
    return el(
      "tr",
      { role: "row", dataset: { id } },
      cell(
        {},
        el("button", {
          type: "button",
          class: "link-button",
          "aria-label": `Open ${id}`,
          dataset: { open: id, focusKey: `open:${id}` },
          text: id,
        }),
      ),
      cell({ "data-label": "Submitter", text: s.submission.submitterId }),
      cell({
        class: "preview",
        "data-label": "Content",
        title: preview(s.submission.content, 300),
        text: preview(s.submission.content, 80),
      }),
      cell({ class: "nowrap", "data-label": "Attempts", text: `${s.attempts} of ${s.maxAttempts}` }),
      cell({ class: "nowrap", "data-label": timeHead }, timeElement(s[timeField])),
      status === "active"
        ? cell({ class: "col-error", "data-label": "Progress" }, ...progressView(s.progress))
        : cell({ class: "col-error error-text", "data-label": "Last error", text: preview(s.lastError, 160) }),
      cell(
        { class: "col-actions" },
        showActions
          ? el(
              "div",
              { class: "actions" },
              ...actions.map((action) =>
                el("button", {
                  type: "button",
                  class: action === "retry" ? "btn btn-small" : "btn btn-small btn-danger",
                  "aria-label": `${ACTION_LABELS[action]} ${id}`,
                  dataset: { [action]: id, focusKey: `${action}:${id}` },
                  text: ACTION_LABELS[action],
                }),
              ),
            )
          : null,
      ),
    );
  });
  const body = $("list-rows");
  body.replaceChildren(...rows);
  if (focusKey && !document.activeElement?.dataset?.focusKey) {
    const again = body.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
    if (again) again.focus();
    else $("submissions-title").focus();
  }
}

// A running attempt's progress: a bar when it gave a percentage, and its message.
function progressText(progress) {
  if (!progress) return "";
  const percent = progress.percent === undefined ? "" : `${number(progress.percent)}% `;
  return `${percent}${progress.message || ""}`.trim();
}

function progressView(progress) {
  if (!progress) return [el("span", { class: "muted", text: "no report yet" })];
  const parts = [];
  if (progress.percent !== undefined) {
    parts.push(el("progress", { max: "100", value: String(progress.percent), "aria-label": "Progress" }));
  }
  parts.push(el("span", { class: "progress-text", text: preview(progressText(progress), 120) }));
  return parts;
}

function onListClick(event) {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.dataset.open) openDetail(button.dataset.open, button);
  else if (button.dataset.retry) retryOne(button.dataset.retry);
  else if (button.dataset.delete) deleteOne(button.dataset.delete);
  else if (button.dataset.cancel) cancelOne(button.dataset.cancel);
}

function page(step) {
  const next = state.pageIndex + step;
  if (next < 0 || next >= state.pages.length) return;
  state.pageIndex = next;
  state.pages.length = next + 1;
  state.listSignature = "";
  refresh();
}

// ---- the detail view ----

async function openDetail(id, opener) {
  state.detailId = id;
  state.detailSignature = "";
  state.detailFull = false;
  state.detailOpener = opener ? opener.dataset.focusKey : null;
  setText($("detail-id"), id);
  show($("detail-body"), false);
  show($("detail-error"), false);
  show($("detail-retry"), false);
  show($("detail-delete"), false);
  show($("detail-cancel"), false);
  $("detail").showModal();
  await loadDetail();
}

async function loadDetail() {
  const id = state.detailId;
  if (!id || !state.api) return;
  try {
    const submission = await state.api.get(id);
    if (id !== state.detailId) return;
    show($("detail-error"), false);
    renderDetail(submission);
  } catch (error) {
    if (endsSession(error)) return;
    if (id !== state.detailId) return;
    const gone = error instanceof ApiError && error.status === 404;
    setText(
      $("detail-error"),
      gone
        ? "This submission no longer exists: it was deleted, or its retention time ended."
        : `Could not load it: ${error.detail || error}`,
    );
    show($("detail-error"), true);
    if (gone) {
      show($("detail-body"), false);
      show($("detail-retry"), false);
      show($("detail-delete"), false);
      show($("detail-cancel"), false);
    }
  }
}

async function refreshDetail() {
  if ($("detail").open) await loadDetail();
}

function renderDetail(s) {
  const signature = JSON.stringify([s, state.detailFull]);
  if (signature === state.detailSignature) return;
  state.detailSignature = signature;
  const sub = s.submission || {};

  const pill = $("detail-status");
  setText(pill, s.status);
  pill.dataset.tone = TONES[s.status] || "unknown";
  setText($("detail-attempts"), `attempt ${s.attempts} of ${s.maxAttempts}`);

  const facts = [
    ["Submitter", sub.submitterId],
    ["Kind", sub.kind || "–"],
    ["Enqueued", timeElement(s.enqueuedAt)],
    ["Started", timeElement(s.startedAt)],
    ["Finished", timeElement(s.finishedAt)],
    s.runAt ? ["Runs again at", timeElement(s.runAt)] : null,
    ["Worker", s.worker || "–"],
    s.status === "active" && s.progress ? ["Progress", progressText(s.progress)] : null,
    sub.idempotencyKey ? ["Idempotency key", sub.idempotencyKey] : null,
  ].filter(Boolean);
  $("detail-facts").replaceChildren(
    ...facts.map(([name, value]) => el("div", {}, el("dt", { text: name }), el("dd", {}, value))),
  );

  const content = sub.content || "";
  const long = content.length > CONTENT_PREVIEW && !state.detailFull;
  setText($("detail-content"), long ? `${content.slice(0, CONTENT_PREVIEW)}…` : content);
  setText($("detail-content-size"), `(${plural(content.length, "character")})`);
  show($("detail-more"), long);
  setText($("detail-more"), `Show all ${number(content.length)} characters`);

  setText($("detail-instructions"), sub.instructions || "");
  show($("detail-instructions-box"), Boolean(sub.instructions));
  const metadata = Object.entries(sub.metadata || {});
  $("detail-metadata").replaceChildren(
    ...metadata.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v }))),
  );
  show($("detail-metadata-box"), metadata.length > 0);
  setText($("detail-error-heading"), s.status === "failed" ? "Last error" : "Error of an earlier attempt");
  setText($("detail-last-error"), s.lastError || "");
  show($("detail-error-box"), Boolean(s.lastError));
  setText($("detail-result"), prettyResult(s.result));
  show($("detail-result-box"), Boolean(s.result));

  show($("detail-body"), true);
  const failed = s.status === "failed";
  show($("detail-retry"), failed);
  show($("detail-delete"), failed);
  show($("detail-cancel"), (ACTIONS[s.status] || []).includes("cancel"));
}

function prettyResult(result) {
  if (!result) return "";
  try {
    return JSON.stringify(JSON.parse(result), null, 2);
  } catch {
    return result;
  }
}

function onDetailClosed() {
  const key = state.detailOpener;
  state.detailId = null;
  state.detailOpener = null;
  if (!state.api) return;
  // The browser puts the focus back on the opener by itself; "close" is queued, and by now the
  // user may have moved on. Step in only when the opener was rebuilt while the dialog was open.
  const active = document.activeElement;
  if (active && active !== document.body && !$("detail").contains(active)) return;
  const opener = key && document.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
  (opener || $("submissions-title")).focus();
}

// ---- actions ----

function toast(text, tone = "") {
  const node = $("toast");
  node.dataset.tone = tone;
  setText(node, text);
  clearTimeout(state.toastTimer);
  state.toastTimer = setTimeout(() => setText(node, ""), 6000);
}

async function act(what, call, done) {
  try {
    toast(done(await call()));
  } catch (error) {
    if (endsSession(error)) return false;
    toast(`${what} failed: ${error.detail || error}`, "err");
    return false;
  } finally {
    refresh();
  }
  return true;
}

function retryOne(id) {
  return act("Retry", () => state.api.retry(id), () => `Retried ${id}: it is waiting again.`);
}

function confirmAction(title, text, ok, dismiss = "Cancel") {
  const dialog = $("confirm");
  setText($("confirm-title"), title);
  setText($("confirm-text"), text);
  setText($("confirm-ok"), ok);
  setText($("confirm-cancel"), dismiss);
  return new Promise((resolve) => {
    const finish = (answer) => {
      $("confirm-ok").removeEventListener("click", ok);
      $("confirm-cancel").removeEventListener("click", cancel);
      dialog.removeEventListener("close", cancel);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const ok = () => finish(true);
    const cancel = () => finish(false);
    $("confirm-ok").addEventListener("click", ok);
    $("confirm-cancel").addEventListener("click", cancel);
    dialog.addEventListener("close", cancel);
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

async function deleteOne(id) {
  const text = "The submission and its payload are removed for good.";
  if (!(await confirmAction(`Delete ${id}?`, text, "Delete"))) return;
  const deleted = await act("Delete", () => state.api.remove(id), () => `Deleted ${id}.`);
  if (deleted && state.detailId === id) $("detail").close();
}

async function cancelOne(id) {
  const text =
    "It will never run again. If a worker is running it, the worker is told to stop and " +
    "its result is not kept.";
  if (!(await confirmAction(`Cancel ${id}?`, text, "Cancel submission", "Keep it"))) return;
  await act(
    "Cancel",
    () => state.api.cancel(id),
    (reply) => (reply.already ? `${id} was cancelled already.` : `Cancelled ${id}.`),
  );
  if (state.detailId === id) await loadDetail();
}

function retryAll() {
  return act(
    "Retry all",
    () => state.api.retryAllFailed(),
    (reply) => `Retried ${plural(reply.retried, "failed submission")}.`,
  );
}

async function togglePause() {
  const button = $("pause-toggle");
  const pausing = !state.paused;
  button.disabled = true;
  try {
    await act(
      pausing ? "Pause" : "Resume",
      async () => {
        const reply = pausing ? await state.api.pause() : await state.api.resume();
        setPaused(reply.paused);
        return reply;
      },
      (reply) => (reply.paused ? "Queue paused: workers take no new work." : "Queue resumed."),
    );
  } finally {
    button.disabled = false;
  }
}

// ---- wiring ----

function start() {
  fairShare = new FairShare({
    api: () => state.api,
    endsSession,
    toast,
    refresh: () => refresh(),
  });
  $("signin-form").addEventListener("submit", onSignin);
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  $("retry-now").addEventListener("click", () => refresh());
  $("pause-toggle").addEventListener("click", togglePause);
  $("retry-all").addEventListener("click", retryAll);
  $("tabs").addEventListener("click", (event) => {
    const tab = event.target.closest("[role=tab]");
    if (tab) selectTab(tab.dataset.status);
  });
  $("tabs").addEventListener("keydown", onTabKey);
  $("list-rows").addEventListener("click", onListClick);
  $("page-prev").addEventListener("click", () => page(-1));
  $("page-next").addEventListener("click", () => page(1));
  $("detail-close").addEventListener("click", () => $("detail").close());
  $("detail").addEventListener("close", onDetailClosed);
  $("detail-more").addEventListener("click", () => {
    state.detailFull = true;
    state.detailSignature = "";
    loadDetail();
  });
  $("detail-retry").addEventListener("click", async () => {
    await retryOne(state.detailId);
    await loadDetail();
  });
  $("detail-delete").addEventListener("click", () => deleteOne(state.detailId));
  $("detail-cancel").addEventListener("click", () => cancelOne(state.detailId));
  new CancelMatching({ api: () => state.api, endsSession, toast, refresh: () => refresh() });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });

  $("signin-submit").disabled = false; // only now: without this script the form cannot be sent
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) enter(new Api(token));
  else showSignin("");
}

start();
