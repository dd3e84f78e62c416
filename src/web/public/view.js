// What the page shows, built with DOM calls only: every name and link comes from other people,
// so nothing here is ever parsed as HTML.

/** An element with attributes (`on*` are listeners) and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) if (child !== undefined && child !== null && child !== false) node.append(child);
  return node;
}

const UNITS = ["B", "KB", "MB", "GB", "TB"];
export function bytes(n) {
  if (n === null || n === undefined) return "?";
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${UNITS[i]}`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

const STATUS = {
  queued: "⏳ waiting",
  downloading: "⬇️ downloading",
  uploading: "⬆️ uploading",
  paused: "⏸ paused",
  choosing: "❓ waiting for a choice",
  completed: "✅ delivered",
  failed: "❌ failed",
  cancelled: "✖️ cancelled",
};
export const statusText = (status) => STATUS[status] ?? status;

/** The running item: its name, a bar, bytes, speed and ETA (from the live events), and its buttons. */
export function runningCard(item, transfer, act) {
  const total = transfer?.totalBytes ?? item.sizeBytes;
  const done = transfer?.bytesDone ?? item.bytesDone;
  const phase = transfer?.phase === "uploading" ? "⬆️ Uploading" : transfer?.phase === "downloading" ? "⬇️ Downloading" : "Starting";
  const bar = el("progress", { class: "bar", max: "1", "aria-label": "Progress" });
  if (total) bar.value = Math.min(1, done / total);
  const stats = [`${bytes(done)} / ${bytes(total)}`];
  if (transfer?.speed) stats.push(`${bytes(transfer.speed)}/s`);
  if (transfer?.etaSeconds !== null && transfer?.etaSeconds !== undefined) stats.push(`ETA ${duration(transfer.etaSeconds)}`);
  return el(
    "div",
    { class: "card item running", dataset: { id: item.id } },
    el("div", { class: "title" }, `#${item.id} ${transfer?.title ?? item.title}`),
    el("div", { class: "meta phase" }, phase),
    bar,
    el("div", { class: "meta stats" }, stats.join(" · ")),
    el(
      "div",
      { class: "actions" },
      el("button", { type: "button", class: "quiet", dataset: { action: "pause" }, onclick: () => act(item.id, "pause") }, "⏸ Pause"),
      el("button", { type: "button", class: "danger", dataset: { action: "cancel" }, onclick: () => act(item.id, "cancel") }, "✖️ Cancel"),
    ),
  );
}

/** A waiting (or paused) item: place, priority, and what can be done to it. */
export function waitingItem(item, act, setPriority) {
  const priority = el(
    "select",
    { class: "priority", "aria-label": "Priority", onchange: (e) => setPriority(item.id, e.target.value) },
    ...["high", "normal", "low"].map((p) => el("option", { value: p, selected: item.priority === p }, p)),
  );
  const where = item.position ? `position ${item.position}` : statusText(item.status);
  const retryAt = item.nextAttemptAt ? ` · retry at ${new Date(item.nextAttemptAt).toLocaleTimeString()}` : "";
  return el(
    "li",
    { class: "item", dataset: { id: item.id, status: item.status } },
    el("div", { class: "title" }, `#${item.id} ${item.title}`),
    el("div", { class: "meta" }, `${where} · ${bytes(item.sizeBytes)}${retryAt}`),
    item.lastError ? el("div", { class: "error" }, item.lastError.message) : null,
    el(
      "div",
      { class: "actions" },
      item.status === "paused"
        ? el("button", { type: "button", class: "quiet", dataset: { action: "resume" }, onclick: () => act(item.id, "resume") }, "▶️ Resume")
        : el("button", { type: "button", class: "quiet", dataset: { action: "pause" }, onclick: () => act(item.id, "pause") }, "⏸ Pause"),
      item.nextAttemptAt ? el("button", { type: "button", class: "quiet", dataset: { action: "retry" }, onclick: () => act(item.id, "retry") }, "🔁 Now") : null,
      el("button", { type: "button", class: "danger", dataset: { action: "cancel" }, onclick: () => act(item.id, "cancel") }, "✖️ Cancel"),
      priority,
    ),
  );
}

/** A finished item, with Retry when it can be tried again. */
export function historyItem(item, act) {
  const when = item.finishedAt ? new Date(item.finishedAt).toLocaleString() : "";
  return el(
    "li",
    { class: "item", dataset: { id: item.id, status: item.status } },
    el("div", { class: "title" }, `#${item.id} ${item.title}`),
    el("div", { class: "meta" }, `${statusText(item.status)} · ${bytes(item.sizeBytes)} · ${when}`),
    item.status === "failed" && item.lastError ? el("div", { class: "error" }, item.lastError.message) : null,
    item.status === "failed" || item.status === "cancelled"
      ? el("div", { class: "actions" }, el("button", { type: "button", class: "quiet", dataset: { action: "retry" }, onclick: () => act(item.id, "retry") }, "🔁 Retry"))
      : null,
  );
}

/** An item waiting for a choice: a torrent's files, a video's qualities, a page's videos. */
export function choiceCard(item, choose, act) {
  const { offer, picked } = item.choosing;
  const card = el("div", { class: "card item", dataset: { id: item.id } }, el("div", { class: "title" }, `#${item.id} ${item.title}`));
  if (offer.kind === "quality") {
    const buttons = offer.qualities
      .filter((q) => q.fits)
      .map((q) => el("button", { type: "button", class: "quiet", dataset: { quality: q.id }, onclick: () => choose(item.id, { kind: "quality", id: q.id }) }, `${q.height ? `${q.height}p` : q.id} · ${bytes(q.sizeBytes)}`));
    card.append(
      el("div", { class: "meta" }, "Which quality?"),
      el("div", { class: "actions" }, buttons, el("button", { type: "button", dataset: { kind: "best" }, onclick: () => choose(item.id, { kind: "best" }) }, "⭐ Best that fits"), offer.audio ? el("button", { type: "button", class: "quiet", dataset: { kind: "audio" }, onclick: () => choose(item.id, { kind: "audio" }) }, "🎵 Audio only") : null),
    );
  } else {
    const files = offer.kind === "files";
    const rows = (files ? offer.files : offer.entries).map((f) =>
      el(
        "li",
        {},
        el(
          "label",
          {},
          el("input", { type: "checkbox", dataset: { index: f.index }, checked: files ? picked.includes(f.index) : true, disabled: files && !f.selectable }),
          `${files ? f.path : f.title} · ${bytes(files ? f.size : f.sizeBytes)}`,
        ),
      ),
    );
    const list = el("ul", { class: "files" }, rows);
    const start = () => {
      const indices = [...list.querySelectorAll("input:checked")].map((i) => Number(i.dataset.index));
      choose(item.id, { kind: offer.kind, indices });
    };
    card.append(
      el("div", { class: "meta" }, files ? "Which files should come?" : "Which videos should come?"),
      list,
      el("div", { class: "actions" }, el("button", { type: "button", class: "start", onclick: start }, "▶️ Start"), el("button", { type: "button", class: "danger", dataset: { action: "cancel" }, onclick: () => act(item.id, "cancel") }, "✖️ Cancel")),
    );
  }
  if (item.choosing.deadline) card.append(el("div", { class: "meta" }, `Nobody choosing by ${new Date(item.choosing.deadline).toLocaleTimeString()}: every file that fits, the best quality.`));
  return card;
}
