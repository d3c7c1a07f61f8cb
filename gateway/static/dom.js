// Small DOM and formatting helpers. Everything shown is set as text, never as HTML (the page's
// CSP enforces Trusted Types, so an HTML sink would throw).

export const $ = (id) => document.getElementById(id);

// el("td", { class: "x", dataset: { k: "v" } }, "text", childNode, ...)
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

// Set text only when it changed: no needless mutations (and no re-announced live regions).
export function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

export function show(node, visible) {
  if (node.hidden === visible) node.hidden = !visible;
}

export const number = (n) => (Number.isFinite(n) ? n.toLocaleString() : "–");

export function time(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

export function timeElement(iso) {
  if (!iso) return document.createTextNode("–");
  return el("time", { datetime: iso, title: new Date(iso).toString(), text: time(iso) });
}

export function preview(text, length) {
  const flat = String(text || "").replace(/\s+/g, " ").trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

export function plural(n, one, many = `${one}s`) {
  return `${number(n)} ${n === 1 ? one : many}`;
}
