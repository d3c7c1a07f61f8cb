// "Cancel matching": a dialog in which an operator cancels every waiting or delayed submission
// of a submitter or a fairness key. It always counts first (a dry run) and cancels only when
// the operator confirms that count; the answer says how many were cancelled, which may differ
// when work was taken or submitted in between.

import { $, plural, setText, show } from "./dom.js";

export class CancelMatching {
  // hooks: { api() -> Api | null, endsSession(error) -> bool, toast(text, tone), refresh() }
  constructor(hooks) {
    this.hooks = hooks;
    this.counted = null; // the filter the shown count is for
    this.opener = null;
    $("cancel-matching").addEventListener("click", (event) => this.open(event.currentTarget));
    $("cancel-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.count();
    });
    $("cancel-close").addEventListener("click", () => $("cancel-dialog").close());
    $("cancel-confirm").addEventListener("click", () => this.cancel());
    for (const id of ["cancel-submitter", "cancel-key", "cancel-waiting", "cancel-delayed"]) {
      $(id).addEventListener("input", () => this.forget());
    }
    $("cancel-dialog").addEventListener("close", () => {
      if (this.opener && this.opener.isConnected) this.opener.focus();
      this.opener = null;
    });
  }

  open(opener) {
    this.opener = opener;
    $("cancel-form").reset();
    this.forget();
    $("cancel-dialog").showModal();
    $("cancel-submitter").focus();
  }

  filter() {
    const statuses = ["waiting", "delayed"].filter((s) => $(`cancel-${s}`).checked);
    const body = { statuses };
    const submitter = $("cancel-submitter").value.trim();
    const key = $("cancel-key").value.trim();
    if (submitter) body.submitterId = submitter;
    if (key) body.fairnessKey = key;
    return body;
  }

  forget() {
    this.counted = null;
    setText($("cancel-count"), "");
    show($("cancel-confirm"), false);
    show($("cancel-error"), false);
  }

  fail(error) {
    if (this.hooks.endsSession(error)) return;
    setText($("cancel-error"), error.detail || String(error));
    show($("cancel-error"), true);
  }

  async count() {
    const body = this.filter();
    if (!body.submitterId && !body.fairnessKey) {
      this.fail("Give a submitter or a fairness key.");
      return;
    }
    if (body.statuses.length === 0) {
      this.fail("Choose waiting, delayed or both.");
      return;
    }
    try {
      const reply = await this.hooks.api().cancelMatching({ ...body, dryRun: true });
      this.counted = body;
      show($("cancel-error"), false);
      setText($("cancel-count"), `${plural(reply.matched, "submission")} would be cancelled.`);
      const confirm = $("cancel-confirm");
      setText(confirm, `Cancel ${plural(reply.matched, "submission")}`);
      show(confirm, reply.matched > 0);
      if (reply.matched > 0) confirm.focus();
    } catch (error) {
      this.fail(error);
    }
  }

  async cancel() {
    if (!this.counted) return;
    try {
      const reply = await this.hooks.api().cancelMatching({ ...this.counted, dryRun: false });
      $("cancel-dialog").close();
      this.hooks.toast(`Cancelled ${plural(reply.cancelled, "submission")}.`);
    } catch (error) {
      this.fail(error);
    } finally {
      this.hooks.refresh();
    }
  }
}
