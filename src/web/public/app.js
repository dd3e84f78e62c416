// The Mini App: signs in with the initData Telegram hands the page (checked by the server, never
// here), then shows the chat's queue from the API and keeps it live from its event stream.
import { choiceCard, el, historyItem, runningCard, waitingItem } from "./view.js";

const $ = (id) => document.getElementById(id);
const state = { initData: "", chatId: null, session: null, running: null, transfer: null, refreshing: null };

/** The API beside this page (relative: a proxy may serve the bot under a path of its own). */
const apiUrl = (path) => new URL(`../api/${path}`, location.href).toString();

function headers(extra = {}) {
  return { authorization: `tma ${state.initData}`, ...(state.chatId !== null ? { "x-chat-id": String(state.chatId) } : {}), ...extra };
}

async function api(method, path, body) {
  const res = await fetch(apiUrl(path), {
    method,
    headers: headers(body === undefined ? {} : { "content-type": "application/json" }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const data = (res.headers.get("content-type") ?? "").includes("json") ? await res.json() : null;
  if (!res.ok) {
    const error = new Error(data?.error?.message ?? `${res.status} ${res.statusText}`);
    error.status = res.status;
    throw error;
  }
  return data;
}

/** What Telegram passed: from its script when it loaded, else from the URL fragment it opened. */
function launch() {
  const tg = window.Telegram?.WebApp;
  const fragment = new URLSearchParams(location.hash.slice(1));
  let theme = tg?.themeParams && Object.keys(tg.themeParams).length ? tg.themeParams : {};
  if (!Object.keys(theme).length) {
    try {
      theme = JSON.parse(fragment.get("tgWebAppThemeParams") ?? "{}");
    } catch {
      theme = {};
    }
  }
  return { initData: tg?.initData || fragment.get("tgWebAppData") || "", theme };
}

function applyTheme(theme) {
  for (const [key, value] of Object.entries(theme)) {
    if (typeof value === "string" && /^#[0-9a-f]{3,8}$/i.test(value)) {
      document.documentElement.style.setProperty(`--tg-theme-${key.replace(/_/g, "-")}`, value);
    }
  }
}

/** The refusal: nothing of any chat stays on the page. */
function refuse(reason) {
  $("main").hidden = true;
  for (const id of ["running", "waiting", "history", "choosing"]) $(id).replaceChildren();
  $("refused-reason").textContent = reason;
  $("refused").hidden = false;
}

function notify(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

async function act(id, action) {
  try {
    await api("POST", `items/${id}/${action}`);
    notify("");
  } catch (error) {
    notify(error.message);
  }
  await refresh();
}

async function setPriority(id, priority) {
  try {
    await api("PATCH", `items/${id}`, { priority });
  } catch (error) {
    notify(error.message);
  }
  await refresh();
}

async function choose(id, choice) {
  try {
    await api("POST", `items/${id}/choice`, choice);
    notify("");
  } catch (error) {
    notify(error.message);
  }
  await refresh();
}

function renderRunning() {
  const box = $("running");
  if (!state.running) return box.replaceChildren(el("p", { class: "empty" }, "Nothing is downloading."));
  box.replaceChildren(runningCard(state.running, state.transfer, act));
}

/** Everything from the API again (after an action, or an event that changes a list). */
async function refresh() {
  const [status, open, history] = await Promise.all([api("GET", "status"), api("GET", "items?status=open&pageSize=100"), api("GET", "items?status=finished&pageSize=10")]);
  if (status.active?.id !== state.running?.id) state.transfer = null;
  state.running = status.active;
  renderRunning();
  const waiting = open.items.filter((i) => i.status === "queued" || i.status === "paused");
  $("waiting").replaceChildren(...waiting.map((i) => waitingItem(i, act, setPriority)));
  $("waiting-empty").hidden = waiting.length > 0;
  const choosing = open.items.filter((i) => i.status === "choosing" && i.choosing);
  $("choosing").replaceChildren(...choosing.map((i) => choiceCard(i, choose, act)));
  $("choosing-section").hidden = choosing.length === 0;
  $("history").replaceChildren(...history.items.map((i) => historyItem(i, act)));
  $("history-empty").hidden = history.items.length > 0;
  const queueSwitch = $("queue-switch");
  queueSwitch.hidden = !state.session.admin;
  queueSwitch.textContent = status.queuePaused ? "▶️ Resume queue" : "⏸ Pause queue";
  queueSwitch.dataset.paused = String(status.queuePaused);
}

/** Many events come close together (a stop, then the next item's start): one refresh for them. */
function refreshSoon() {
  clearTimeout(state.refreshing);
  state.refreshing = setTimeout(() => refresh().catch((error) => notify(error.message)), 150);
}

function onEvent(type, data) {
  if (data.chatId !== state.chatId) return;
  if (type === "started" || type === "progress") {
    if (state.running?.id !== data.itemId) {
      state.running = data.item;
      refreshSoon();
    }
    state.transfer = data.transfer;
    renderRunning();
    return;
  }
  if (data.itemId === state.running?.id) {
    state.running = null;
    state.transfer = null;
    renderRunning();
  }
  refreshSoon();
}

/** The event stream, read over fetch (EventSource cannot send the sign-in header); reconnects. */
async function listen() {
  for (;;) {
    try {
      const res = await fetch(apiUrl("events"), { headers: headers() });
      if (res.status === 401 || res.status === 403) return refuse((await res.json()).error.message);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const type = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (type && data) onEvent(type, JSON.parse(data));
        }
      }
    } catch {
      // The connection broke: try again in a moment.
    }
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await refresh().catch(() => {});
  }
}

function pickChat() {
  const picker = $("chat-picker");
  const chats = state.session.chatIds;
  picker.hidden = chats.length < 2;
  picker.replaceChildren(...chats.map((id) => el("option", { value: id, selected: id === state.chatId }, id > 0 ? "Private chat" : `Group ${id}`)));
  picker.onchange = async () => {
    state.chatId = Number(picker.value);
    state.session = await api("GET", "session");
    state.running = null;
    state.transfer = null;
    await refresh();
  };
}

async function addLink(event) {
  event.preventDefault();
  const input = $("link");
  const answer = $("add-answer");
  const button = $("add-button");
  button.disabled = true;
  try {
    const added = await api("POST", "items", { url: input.value.trim() });
    const item = added.item;
    answer.textContent =
      added.status === "queued" ? `✓ Queued #${item.id} ${item.title}: position ${added.position}.`
      : added.status === "duplicate" ? `↺ Already in the queue as #${item.id}.`
      : `↺ Delivered here before (#${item.id}): sent again from Telegram's copy.`;
    input.value = "";
  } catch (error) {
    answer.textContent = `✗ ${error.message}`;
  } finally {
    button.disabled = false;
  }
  await refresh();
}

async function start() {
  const { initData, theme } = launch();
  applyTheme(theme);
  window.Telegram?.WebApp?.ready?.();
  window.Telegram?.WebApp?.expand?.();
  if (!initData) return refuse("This page was not opened from Telegram.");
  state.initData = initData;
  try {
    state.session = await api("GET", "session");
  } catch (error) {
    return refuse(error.message);
  }
  state.chatId = state.session.startChatId ?? state.session.chatId;
  if (state.chatId !== state.session.chatId) state.session = await api("GET", "session");
  pickChat();
  $("add").addEventListener("submit", addLink);
  $("queue-switch").addEventListener("click", async () => {
    const paused = $("queue-switch").dataset.paused === "true";
    await api("POST", `queue/${paused ? "resume" : "pause"}`).catch((error) => notify(error.message));
    await refresh();
  });
  await refresh();
  $("main").hidden = false;
  void listen();
}

void start();
