// The uploader's page: a small tus 1.0 client (creation, then PATCH in
// chunks, resuming from the server's offset after any failure, and after
// a reload: each file's upload URL is kept in localStorage). No inline
// script (CSP).
(() => {
  const box = document.querySelector("[data-upload]");
  if (!box) return;
  const CHUNK = 8 * 1024 * 1024;
  const WAITS = [1, 2, 4, 8, 15, 30];  // seconds between tries
  const input = box.querySelector("[data-upload-files]");
  const start = box.querySelector("[data-upload-start]");
  const list = box.querySelector("[data-upload-list]");
  const overall = box.querySelector("[data-upload-overall]");
  const done = box.querySelector("[data-upload-done]");
  const receipt = box.querySelector("[data-upload-receipt]");
  const endpoint = box.dataset.endpoint;
  const b64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));
  const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000));
  const keyOf = (f) => `linksvc-upload:${box.dataset.token}:${f.name}:${f.size}:${f.lastModified}`;
  const human = (n) => {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
  };
  let rows = [];

  input.addEventListener("change", () => {
    list.replaceChildren();
    rows = [...input.files].map((file) => {
      const li = document.createElement("li");
      const label = document.createElement("span");
      label.textContent = `${file.name} (${human(file.size)})`;
      const bar = document.createElement("progress");
      bar.max = file.size || 1;
      bar.value = 0;
      bar.setAttribute("aria-label", `Progress of ${file.name}`);
      const state = document.createElement("span");
      state.className = "muted";
      li.append(label, " ", bar, " ", state);
      list.append(li);
      return { file, bar, state, sent: 0, id: null };
    });
    start.disabled = rows.length === 0;
  });

  const request = (method, url, headers, body, onProgress) => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.setRequestHeader("Tus-Resumable", "1.0.0");
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    if (onProgress) xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => resolve(xhr);
    xhr.onerror = () => reject(new Error("network"));
    xhr.send(body);
  });

  const showOverall = () => {
    const total = rows.reduce((n, r) => n + r.file.size, 0);
    const sent = rows.reduce((n, r) => n + r.sent, 0);
    overall.textContent = `${human(sent)} of ${human(total)} sent`;
  };

  const refused = (xhr) => xhr.status >= 400 && xhr.status < 500 && ![409, 423, 429].includes(xhr.status);

  async function send(row) {
    const { file } = row;
    let url = localStorage.getItem(keyOf(file));
    let offset = 0;
    for (let attempt = 0; ; attempt += 1) {
      try {
        if (url) {
          const head = await request("HEAD", url, {});
          if (head.status === 200) {
            offset = Number(head.getResponseHeader("Upload-Offset"));
          } else {
            url = null;
            localStorage.removeItem(keyOf(file));
          }
        }
        if (!url) {
          const made = await request("POST", endpoint, {
            "Upload-Length": String(file.size),
            "Upload-Metadata": `filename ${b64(file.name)},filetype ${b64(file.type || "application/octet-stream")}`,
          });
          if (made.status !== 201) {
            if (refused(made)) throw Object.assign(new Error(made.responseText.trim()), { final: true });
            throw new Error(`HTTP ${made.status}`);
          }
          url = made.getResponseHeader("Location");
          localStorage.setItem(keyOf(file), url);
          offset = 0;
        }
        row.id = url.split("/").pop();
        while (offset < file.size) {
          const end = Math.min(offset + CHUNK, file.size);
          const base = offset;
          const sent = await request("PATCH", url, {
            "Upload-Offset": String(offset),
            "Content-Type": "application/offset+octet-stream",
          }, file.slice(offset, end), (n) => {
            row.sent = base + n; row.bar.value = row.sent; showOverall();
          });
          if (sent.status !== 204) {
            if (refused(sent)) throw Object.assign(new Error(sent.responseText.trim()), { final: true });
            throw new Error(`HTTP ${sent.status}`);
          }
          offset = Number(sent.getResponseHeader("Upload-Offset"));
          row.sent = offset; row.bar.value = offset; showOverall();
          attempt = 0;
        }
        row.sent = file.size; row.bar.value = file.size; showOverall();
        row.state.textContent = "sent";
        localStorage.removeItem(keyOf(file));
        return true;
      } catch (error) {
        if (error.final || attempt >= WAITS.length) {
          row.state.textContent = `not sent: ${error.message}`;
          localStorage.removeItem(keyOf(file));
          return false;
        }
        const wait = WAITS[attempt];
        row.state.textContent = `connection lost; trying again in ${wait} s`;
        await sleep(wait);
        row.state.textContent = "";
      }
    }
  }

  start.addEventListener("click", async () => {
    start.disabled = true;
    input.disabled = true;
    for (const row of rows) await send(row);  // one at a time: fair to the link's limits
    const ids = rows.filter((r) => r.id).map((r) => r.id).join(",");
    receipt.href = `${box.dataset.receipt}?ids=${encodeURIComponent(ids)}`;
    done.hidden = false;
    overall.textContent += " — done.";
    input.disabled = false;
  });
})();
