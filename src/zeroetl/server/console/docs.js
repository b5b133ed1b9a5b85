// zeroetl API docs: Swagger UI over the service's own OpenAPI document. The document and every
// "Try it out" request carry the token (from the URL fragment or the login box, kept in this
// tab's sessionStorage, shared with the console); nothing is fetched from outside the machine.
"use strict";

const TOKEN_KEY = "zeroetl.token";
const $ = (id) => document.getElementById(id);

function takeTokenFromFragment() {
  const t = new URLSearchParams(location.hash.slice(1)).get("token");
  if (t) {
    sessionStorage.setItem(TOKEN_KEY, t);
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function showLogin(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("swagger").replaceChildren();
  $("signout").hidden = true;
  $("login").hidden = false;
  $("login-error").hidden = !message;
  $("login-error").textContent = message || "";
}

async function load(token) {
  let r;
  try {
    r = await fetch("/openapi.json", { headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
  } catch (e) {
    showLogin(`Cannot reach the service: ${e.message}`);
    return;
  }
  if (r.status === 401) { showLogin("The service refused this token."); return; }
  if (!r.ok) { showLogin(`The service answered HTTP ${r.status}.`); return; }
  const spec = await r.json();
  $("login").hidden = true;
  $("signout").hidden = false;
  window.ui = SwaggerUIBundle({
    spec,
    dom_id: "#swagger",
    deepLinking: true,
    validatorUrl: null, // never ask a validator on the internet
    defaultModelsExpandDepth: 0,
    requestInterceptor: (req) => {
      req.headers.Authorization = `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}`;
      return req;
    },
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    $("token").value = "";
    sessionStorage.setItem(TOKEN_KEY, t);
    load(t);
  });
  $("signout").addEventListener("click", () => showLogin(""));
  const token = takeTokenFromFragment();
  if (token) load(token);
  else showLogin("");
});
