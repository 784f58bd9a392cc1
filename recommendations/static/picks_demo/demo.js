// The Picks demo: a swipe page that speaks only the public API, with the JWT the visitor gets
// by registering or logging in. No framework, no build step.
"use strict";

const API = "/api";
const state = {
  token: sessionStorage.getItem("picks-token"),
  name: sessionStorage.getItem("picks-name"),
  current: null, // the deck entry on the card
  liked: new Map(), // item id -> title, to say "because you liked ..."
  busy: false,
};

const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const response = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function firstError(error) {
  const errors = error.body && error.body.errors;
  if (errors && typeof errors === "object") {
    const [field, messages] = Object.entries(errors)[0];
    return `${field}: ${[].concat(messages).join(" ")}`;
  }
  return error.message;
}

// ---- signing in -------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  const mode = event.submitter ? event.submitter.dataset.mode : "login";
  const credentials = { username: form.username.value.trim(), password: form.password.value };
  $("auth-error").textContent = "";
  try {
    if (mode === "register") await api("/auth/register/", { method: "POST", body: credentials });
    const tokens = await api("/auth/token/", { method: "POST", body: credentials });
    state.token = tokens.access;
    state.name = credentials.username;
    sessionStorage.setItem("picks-token", state.token);
    sessionStorage.setItem("picks-name", state.name);
    form.reset();
    await start();
  } catch (error) {
    $("auth-error").textContent = firstError(error);
  }
}

function signOut() {
  sessionStorage.removeItem("picks-token");
  sessionStorage.removeItem("picks-name");
  state.token = state.name = state.current = null;
  state.liked.clear();
  show(false);
}

function show(signedIn) {
  $("auth").hidden = signedIn;
  $("swipe").hidden = !signedIn;
  $("panels").hidden = !signedIn;
  $("who").hidden = !signedIn;
  $("who-name").textContent = signedIn ? `Signed in as ${state.name}` : "";
}

// ---- the card -----------------------------------------------------------------------------

async function titleOf(itemId) {
  if (!state.liked.has(itemId)) {
    try {
      state.liked.set(itemId, (await api(`/items/${itemId}/`)).title);
    } catch {
      return `item ${itemId}`;
    }
  }
  return state.liked.get(itemId);
}

async function why(entry, listSource) {
  if (entry.because && entry.source !== "explore") {
    return `Because you liked ${await titleOf(entry.because)}`;
  }
  if (entry.source === "explore") return "Something new, to learn your taste";
  if (listSource === "onboarding") return `Popular in ${entry.item.category || "the shop"}: a first look`;
  if (listSource === "trending") return "Trending in the shop";
  return "Picked for you";
}

async function render(entry, listSource) {
  state.current = entry;
  const card = $("card");
  $("empty").hidden = Boolean(entry);
  card.hidden = !entry;
  $("like").disabled = $("dislike").disabled = !entry || state.busy;
  if (!entry) return;
  const item = entry.item;
  card.dataset.itemId = item.id;
  card.dataset.category = item.category || "";
  card.dataset.source = listSource;
  const image = $("card-image");
  if (item.image_url) {
    image.src = item.image_url;
    image.alt = item.title;
    image.hidden = false;
  } else {
    image.removeAttribute("src");
    image.hidden = true;
  }
  $("card-title").textContent = item.title;
  $("card-meta").textContent = [item.brand, item.colour, item.category, `€${item.price}`]
    .filter(Boolean)
    .join(" · ");
  $("card-why").textContent = await why(entry, listSource);
}

function fill(listId, results) {
  const list = $(listId);
  list.replaceChildren(
    ...results.map((entry) => {
      const li = document.createElement("li");
      const title = document.createElement("span");
      title.textContent = entry.item.title;
      const price = document.createElement("span");
      price.className = "price";
      price.textContent = `€${entry.item.price}`;
      li.append(title, price);
      return li;
    }),
  );
  if (!results.length) {
    const li = document.createElement("li");
    li.textContent = "Nothing yet";
    list.append(li);
  }
}

async function nextCard() {
  const deck = await api("/recommendations/deck/?limit=1");
  await render(deck.results[0] || null, deck.source);
  if (state.current) await aroundTheCard(state.current.item.id);
}

async function aroundTheCard(itemId) {
  const [similar, together] = await Promise.all([
    api(`/recommendations/similar/${itemId}/?limit=4`),
    api(`/recommendations/bought-together/${itemId}/?limit=4`),
  ]);
  fill("similar", similar.results);
  fill("together", together.results);
  $("together-note").textContent =
    together.source === "bought_together" ? "" : "(no rules for it yet: similar items)";
}

async function topBuys() {
  fill("top-buys", (await api("/recommendations/top-buys/?limit=5")).results);
}

async function swipe(kind) {
  if (state.busy || !state.current) return;
  state.busy = true;
  $("swipe").setAttribute("aria-busy", "true");
  $("like").disabled = $("dislike").disabled = true;
  const item = state.current.item;
  try {
    await api("/interactions/", { method: "POST", body: { item: item.id, kind } });
    if (kind === "like") state.liked.set(item.id, item.title);
    $("status").textContent = `${kind === "like" ? "Liked" : "Passed on"} ${item.title}`;
    await Promise.all([nextCard(), topBuys()]);
  } catch (error) {
    if (error.status === 401) return signOut();
    $("status").textContent = `Could not save that swipe: ${firstError(error)}`;
  } finally {
    state.busy = false;
    $("swipe").removeAttribute("aria-busy");
    if (state.current) $("like").disabled = $("dislike").disabled = false;
  }
}

async function start() {
  show(true);
  try {
    await Promise.all([nextCard(), topBuys()]);
  } catch (error) {
    if (error.status === 401) return signOut();
    $("status").textContent = firstError(error);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("auth-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("like").addEventListener("click", () => swipe("like"));
  $("dislike").addEventListener("click", () => swipe("dislike"));
  document.addEventListener("keydown", (event) => {
    if ($("swipe").hidden || event.target.tagName === "INPUT") return;
    if (event.key === "ArrowRight") swipe("like");
    if (event.key === "ArrowLeft") swipe("dislike");
  });
  if (state.token) start();
  else show(false);
});
