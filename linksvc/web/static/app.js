// Copy buttons: <button data-copy="input-id">. No inline script anywhere (CSP).
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const input = document.getElementById(button.dataset.copy);
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    document.execCommand("copy");
  }
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
});

// Times: the page says UTC (it works without script); show the viewer's
// local time instead, and keep UTC in the tooltip.
const pad = (n) => String(n).padStart(2, "0");
for (const el of document.querySelectorAll("time[datetime]")) {
  const when = new Date(el.getAttribute("datetime"));
  if (Number.isNaN(when.getTime())) continue;
  el.textContent = `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())} ` +
    `${pad(when.getHours())}:${pad(when.getMinutes())}`;
  el.dataset.local = "1";
}

// Passkeys: a form with data-passkey="register" or "login" first posts
// itself to data-options (the server keeps the challenge), asks the browser
// for a passkey, then submits the answer. Without WebAuthn's JSON helpers
// the forms stay hidden and data-passkey-missing notes say so.
const webauthn = window.PublicKeyCredential &&
  PublicKeyCredential.parseCreationOptionsFromJSON &&
  PublicKeyCredential.parseRequestOptionsFromJSON;
for (const form of document.querySelectorAll("form[data-passkey]")) {
  form.hidden = !webauthn;
}
for (const note of document.querySelectorAll("[data-passkey-missing]")) {
  note.hidden = Boolean(webauthn);
}
document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-passkey]");
  if (!form || !webauthn) return;
  event.preventDefault();
  const status = form.querySelector("[data-passkey-status]");
  const say = (text) => { if (status) status.textContent = text; };
  say("");
  try {
    const asked = await fetch(form.dataset.options, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
    });
    const options = await asked.json();
    if (!asked.ok) { say(options.message || "Refused."); return; }
    const credential = form.dataset.passkey === "register"
      ? await navigator.credentials.create({
        publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options),
      })
      : await navigator.credentials.get({
        publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options),
      });
    form.querySelector("input[name=answer]").value = JSON.stringify(credential.toJSON());
    const password = form.querySelector("input[type=password]");
    if (password) password.value = "";  // checked already; not sent twice
    form.submit();
  } catch (error) {
    say(error && error.name === "NotAllowedError"
      ? "No passkey was given (cancelled or timed out)."
      : `The passkey did not work: ${error}`);
  }
});
