// The "Fair share" panel: the fairness keys with the most waiting work and their quotas, and a
// dialog in which an operator changes a key's weight, rate and max active (PUT), or gives it the
// defaults again (DELETE). A viewer sees the same buttons; the gateway refuses its changes and
// the dialog says why.

import { ApiError } from "./api.js";
import { $, el, number, plural, setText, show } from "./dom.js";

const TOP = 10;

const limit = (value) => (value ? number(value) : "no limit");
const rate = (value) => (value ? `${number(value)}/s` : "no limit");

export class FairShare {
  // hooks: { api() -> Api | null, endsSession(error) -> bool, toast(text, tone), refresh() }
  constructor(hooks) {
    this.hooks = hooks;
    this.signature = "";
    this.quotas = new Map(); // key -> its quota in force, from the last answer
    this.defaults = null;
    this.opener = null;
    $("fair-rows").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-quota]");
      if (button) this.open(button.dataset.quota, button);
    });
    $("quota-new").addEventListener("click", (event) => this.open("", event.currentTarget));
    $("quota-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    $("quota-cancel").addEventListener("click", () => $("quota").close());
    $("quota-reset").addEventListener("click", () => this.reset());
    $("quota").addEventListener("close", () => {
      if (this.opener && this.opener.isConnected) this.opener.focus();
      this.opener = null;
    });
  }

  // One refresh of the panel. Its own failures are shown in the panel and the rest of the
  // page goes on; a lost session or a gateway that does not answer is the page's to handle.
  async refresh() {
    const api = this.hooks.api();
    if (!api) return;
    let share;
    try {
      share = await api.fairShare(TOP);
    } catch (error) {
      if (error instanceof ApiError && (error.kind === "auth" || error.kind === "network")) {
        throw error;
      }
      setText($("fair-error"), `The fair share could not be loaded: ${error.detail || error}`);
      show($("fair-error"), true);
      return;
    }
    show($("fair-error"), false);
    this.render(share);
  }

  render(share) {
    const signature = JSON.stringify(share);
    if (signature === this.signature) return;
    this.signature = signature;
    this.defaults = share.defaults;
    this.quotas = new Map(share.quotas.map((q) => [q.key, q]));
    for (const k of share.keys) this.quotas.set(k.key, { key: k.key, ...k.quota });

    const other = share.other;
    const busy = share.keys.length > 0 || other.waiting > 0 || other.active > 0;
    const p = share.waitingByPriority;
    setText(
      $("fair-summary"),
      `${plural(share.keysWaiting, "key")} with waiting work; waiting by priority: ` +
        `high ${number(p.high)}, normal ${number(p.normal)}, low ${number(p.low)}.`,
    );
    const d = share.defaults;
    setText(
      $("fair-defaults"),
      `Defaults: weight ${number(d.weight)}, rate ${rate(d.rate)}, max active ` +
        `${limit(d.maxActive)}; ${plural(share.quotas.length, "key")} with a quota of its own.`,
    );
    show($("fair-empty"), !busy);
    show($("fair-wrap"), busy);

    const cell = (props, ...children) => el("td", { role: "cell", ...props }, ...children);
    const rows = share.keys.map((k) => {
      const q = k.quota;
      return el(
        "tr",
        { role: "row", dataset: { key: k.key } },
        cell({ class: "key-name", "data-label": "Key", text: k.key }),
        cell({ class: "num", "data-label": "Waiting", text: number(k.waiting) }),
        cell({ class: "num", "data-label": "Active", text: number(k.active) }),
        cell({ class: "num", "data-label": "Started", text: number(k.started) }),
        cell({
          class: "num",
          "data-label": "Weight",
          text: q.custom ? number(q.weight) : `${number(q.weight)} (default)`,
        }),
        cell({ class: "num", "data-label": "Rate", text: rate(q.rate) }),
        cell({ class: "num", "data-label": "Max active", text: limit(q.maxActive) }),
        cell(
          { class: "col-actions" },
          el(
            "div",
            { class: "actions" },
            el("button", {
              type: "button",
              class: "btn btn-small",
              "aria-label": `Edit quota of ${k.key}`,
              dataset: { quota: k.key },
              text: "Edit quota",
            }),
          ),
        ),
      );
    });
    if (other.waiting > 0 || other.active > 0) {
      rows.push(
        el(
          "tr",
          { role: "row", class: "other" },
          cell({ "data-label": "Key", text: "every other key" }),
          cell({ class: "num", "data-label": "Waiting", text: number(other.waiting) }),
          cell({ class: "num", "data-label": "Active", text: number(other.active) }),
          cell({ class: "num", "data-label": "Started", text: number(other.started) }),
          cell({}),
          cell({}),
          cell({}),
          cell({ class: "col-actions" }),
        ),
      );
    }
    // Keep the focus on the same key's button when the rows are rebuilt.
    const focused = document.activeElement && document.activeElement.dataset.quota;
    $("fair-rows").replaceChildren(...rows);
    if (focused !== undefined) {
      const again = $("fair-rows").querySelector(`[data-quota="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  open(key, opener) {
    this.opener = opener || null;
    const q = this.quotas.get(key) || { ...(this.defaults || {}), key, custom: false };
    const input = $("quota-key");
    input.value = key;
    input.readOnly = Boolean(key);
    setText($("quota-title"), key ? `Quota of ${key}` : "Set a key's quota");
    $("quota-weight").value = key && q.weight !== undefined ? String(q.weight) : "";
    $("quota-rate").value = key && q.rate !== undefined ? String(q.rate) : "";
    $("quota-max-active").value = key && q.maxActive !== undefined ? String(q.maxActive) : "";
    show($("quota-reset"), Boolean(key && q.custom));
    show($("quota-error"), false);
    $("quota").showModal();
    (key ? $("quota-weight") : input).focus();
  }

  // The values the form sets: empty fields keep the key's current ones.
  values() {
    const values = {};
    for (const [name, id] of [["weight", "quota-weight"], ["rate", "quota-rate"], ["max_active", "quota-max-active"]]) {
      const text = $(id).value.trim();
      if (text === "") continue;
      const value = Number(text);
      if (!Number.isFinite(value)) throw new Error(`${name.replace("_", " ")}: enter a number`);
      values[name] = value;
    }
    return values;
  }

  fail(text) {
    setText($("quota-error"), text);
    show($("quota-error"), true);
  }

  async save() {
    const key = $("quota-key").value.trim();
    if (!key) return this.fail("Enter the fairness key, e.g. a submitter or tenant.");
    let values;
    try {
      values = this.values();
    } catch (error) {
      return this.fail(error.message);
    }
    // Only what differs from the quota in force: saving an untouched form changes nothing
    // (and does not give a key with the defaults a quota of its own).
    const current = this.quotas.get(key);
    if (current) {
      const now = { weight: current.weight, rate: current.rate, max_active: current.maxActive };
      for (const name of Object.keys(values)) if (values[name] === now[name]) delete values[name];
      if (Object.keys(values).length === 0) {
        $("quota").close();
        this.hooks.toast(`Nothing changed: ${key} keeps its quota.`);
        return undefined;
      }
    }
    if (Object.keys(values).length === 0) {
      return this.fail("Enter a weight, a rate or a max active.");
    }
    await this.send(() => this.hooks.api().setQuota(key, values));
  }

  async reset() {
    const key = $("quota-key").value.trim();
    await this.send(() => this.hooks.api().resetQuota(key));
  }

  async send(call) {
    const buttons = [$("quota-save"), $("quota-reset")];
    for (const b of buttons) b.disabled = true;
    try {
      const q = await call();
      $("quota").close();
      this.hooks.toast(
        `Quota of ${q.key}: weight ${number(q.weight)}, rate ${rate(q.rate)}, max active ` +
          `${limit(q.maxActive)}${q.custom ? "" : " (the defaults)"}.`,
      );
      this.signature = "";
      this.hooks.refresh();
    } catch (error) {
      if (this.hooks.endsSession(error)) return;
      this.fail(`Not saved: ${error.detail || error}`);
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }
}
