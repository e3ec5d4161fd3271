/* Yubin webmail: progressive enhancement for the server-rendered pages.
   Keyboard shortcuts, live updates (long poll fed by IMAP IDLE), attachment upload with
   progress, address autocomplete, draft autosave and the small rich-text editor.
   No build step, no third-party code. */
"use strict";

(function () {
  const body = document.body;
  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));
  const csrf = () => { const input = $("input[name=csrfmiddlewaretoken]"); return input ? input.value : ""; };

  /* ---- layout ---- */
  const menu = $("[data-menu]");
  if (menu) {
    menu.addEventListener("click", () => {
      const open = body.classList.toggle("menu-open");
      menu.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.matches && target.matches("[data-autosubmit]")) target.form.submit();
    if (target.matches && target.matches("[data-select-all]")) {
      $$("input[name=uid]", target.form).forEach((box) => { box.checked = target.checked; });
    }
  });
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  /* ---- message list: rows, cursor ---- */
  let cursor = -1;
  const rows = () => $$("tr.message");
  function moveCursor(step) {
    const all = rows();
    if (!all.length) return;
    cursor = Math.max(0, Math.min(all.length - 1, cursor + step));
    all.forEach((row, index) => row.classList.toggle("cursor", index === cursor));
    const link = $(".subject a", all[cursor]);
    if (link) link.focus();
  }
  function currentRow() { const all = rows(); return cursor >= 0 ? all[cursor] : null; }
  document.addEventListener("click", (event) => {
    const row = event.target.closest && event.target.closest("tr.message");
    if (!row || event.target.closest("a, input, button, label")) return;
    window.location.href = row.dataset.href;
  });

  function clickAction(name) {
    const button = $(`button[data-action="${name}"]`);
    if (!button) return;
    const row = currentRow();
    if (row && !$$("input[name=uid]:checked").length) { const box = $("input[name=uid]", row); if (box) box.checked = true; }
    button.click();
  }

  /* ---- keyboard shortcuts ---- */
  const help = $("#help");
  function toggleHelp(show) { if (help) { help.hidden = !show; if (show) $("[data-help-close]", help).focus(); } }
  if (help) $("[data-help-close]", help).addEventListener("click", () => toggleHelp(false));
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey && event.key === "Enter" && event.target.closest && event.target.closest("#compose-form")) {
      event.preventDefault(); const send = $("[data-send]"); if (send) send.click(); return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const shortcut = (key) => { const link = $(`[data-shortcut="${key}"]`); if (link) { link.click(); return true; } return false; };
    switch (event.key) {
      case "j": moveCursor(1); break;
      case "k": moveCursor(-1); break;
      case "o": case "Enter": { const row = currentRow(); if (row) window.location.href = row.dataset.href; else return; break; }
      case "x": { const row = currentRow(); if (row) { const box = $("input[name=uid]", row); box.checked = !box.checked; } break; }
      case "#": case "Delete": clickAction("delete"); break;
      case "e": clickAction("archive"); break;
      case "s": clickAction("flag"); break;
      case "!": clickAction("junk"); break;
      case "r": case "a": case "f": case "u": case "c": if (!shortcut(event.key)) return; break;
      case "/": { const search = $("[data-search]"); if (search) search.focus(); break; }
      case "?": toggleHelp(help && help.hidden); break;
      case "Escape": toggleHelp(false); break;
      default: return;
    }
    event.preventDefault();
  });

  /* ---- live updates ---- */
  const liveUrl = body.dataset.liveUrl;
  const folder = body.dataset.folder;
  const listRegion = $("#list-region");
  const baseTitle = document.title.replace(/^\(\d+\)\s*/, "");
  function showUnseen(count) {
    document.title = (count ? `(${count}) ` : "") + baseTitle;
    const badge = $('[data-unseen-for="INBOX"]');
    if (badge) badge.textContent = count ? String(count) : "";
  }
  async function refreshList() {
    if (!listRegion || $$("input[name=uid]:checked").length) return;
    const response = await fetch(listRegion.dataset.listUrl, { credentials: "same-origin" });
    if (response.ok) { listRegion.innerHTML = await response.text(); cursor = -1; }
  }
  async function live() {
    if (!liveUrl || !folder) return;
    let state = "";
    let failures = 0;
    for (;;) {
      try {
        const url = `${liveUrl}?f=${encodeURIComponent(folder)}&state=${encodeURIComponent(state)}`;
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (response.status === 401) return;
        if (!response.ok) throw new Error(String(response.status));
        const data = await response.json();
        failures = 0;
        if (state && data.state !== state) {
          await refreshList();
          const badge = $(`[data-unseen-for="${CSS.escape(folder)}"]`);
          if (badge) badge.textContent = data.unseen ? String(data.unseen) : "";
        }
        showUnseen(data.inbox_unseen);
        body.dataset.liveState = data.state;
        state = data.state;
      } catch (error) {
        failures += 1;
        await new Promise((resolve) => setTimeout(resolve, Math.min(30000, 1000 * 2 ** failures)));
      }
    }
  }
  live();

  /* ---- compose ---- */
  const form = $("#compose-form");
  if (!form) return;
  const list = $("[data-attachments]", form);
  const progress = $("[data-progress]", form);
  const uploadError = $("[data-upload-error]", form);
  let dirty = false;
  form.addEventListener("input", () => { dirty = true; });

  function addAttachment(file) {
    const item = document.createElement("li");
    const hidden = document.createElement("input");
    hidden.type = "hidden"; hidden.name = "attachment"; hidden.value = file.id;
    const remove = document.createElement("button");
    remove.type = "button"; remove.className = "link"; remove.dataset.remove = ""; remove.textContent = "×";
    remove.setAttribute("aria-label", "Remove");
    item.append(hidden, document.createTextNode(`${file.filename} (${Math.ceil(file.size / 1024)} KB) `), remove);
    list.append(item);
    dirty = true;
  }
  list.addEventListener("click", (event) => {
    if (event.target.matches("[data-remove]")) { event.target.closest("li").remove(); dirty = true; }
  });
  $("[data-files]", form).addEventListener("change", (event) => {
    const files = Array.from(event.target.files);
    if (!files.length) return;
    const limit = Number(form.dataset.limit);
    if (files.reduce((sum, file) => sum + file.size, 0) > limit) {
      uploadError.textContent = uploadError.dataset.tooLarge || "The files are larger than the limit.";
      uploadError.hidden = false; event.target.value = ""; return;
    }
    const data = new FormData();
    files.forEach((file) => data.append("file", file));
    const request = new XMLHttpRequest();
    request.open("POST", form.dataset.uploadUrl);
    request.setRequestHeader("X-CSRFToken", csrf());
    request.setRequestHeader("Accept", "application/json");
    progress.hidden = false; progress.value = 0; uploadError.hidden = true;
    request.upload.addEventListener("progress", (e) => { if (e.lengthComputable) progress.value = (100 * e.loaded) / e.total; });
    request.addEventListener("load", () => {
      progress.hidden = true; event.target.value = "";
      let reply = {};
      try { reply = JSON.parse(request.responseText); } catch (e) { reply = { error: request.statusText }; }
      if (request.status === 200) reply.files.forEach(addAttachment);
      else { uploadError.textContent = reply.error || request.statusText; uploadError.hidden = false; }
    });
    request.addEventListener("error", () => { progress.hidden = true; uploadError.textContent = "Upload failed."; uploadError.hidden = false; });
    request.send(data);
  });

  /* address autocomplete from people written to or received from */
  const datalist = $("#contacts");
  let lookup = 0;
  $$("[data-contacts]", form).forEach((input) => {
    input.addEventListener("input", async () => {
      const last = input.value.split(",").pop().trim();
      if (last.length < 1) return;
      const mine = ++lookup;
      const response = await fetch(`${form.dataset.contactsUrl}?q=${encodeURIComponent(last)}`, { headers: { Accept: "application/json" } });
      if (!response.ok || mine !== lookup) return;
      const data = await response.json();
      const before = input.value.includes(",") ? input.value.slice(0, input.value.lastIndexOf(",") + 1) + " " : "";
      datalist.replaceChildren(...data.contacts.map((contact) => {
        const option = document.createElement("option");
        option.value = before + (contact.name ? `${contact.name} <${contact.address}>` : contact.address);
        return option;
      }));
    });
  });

  /* rich text */
  const rich = $("[data-rich]", form);
  const editor = $("[data-rich-editor]", form);
  const textarea = $("[data-body]", form);
  const htmlBody = $("[data-html-body]", form);
  function textToHtml(text) {
    const div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML.replace(/\n/g, "<br>");
  }
  function setFormat() {
    const html = $("[data-format]:checked", form).value === "html";
    if (html && rich.hidden) editor.innerHTML = textToHtml(textarea.value);
    if (!html && !rich.hidden) textarea.value = editor.innerText;
    rich.hidden = !html; textarea.closest(".field").hidden = html;
  }
  $$("[data-format]", form).forEach((radio) => radio.addEventListener("change", setFormat));
  setFormat();
  $$("[data-command]", form).forEach((button) => button.addEventListener("click", () => {
    const command = button.dataset.command;
    let value = null;
    if (command === "createLink") { value = window.prompt("URL", "https://"); if (!value || !/^(https?:|mailto:)/i.test(value)) return; }
    document.execCommand(command, false, value);
    editor.focus(); dirty = true;
  }));
  function syncRich() {
    if (!rich.hidden) { htmlBody.value = editor.innerHTML; textarea.value = editor.innerText; }
  }
  form.addEventListener("submit", () => { syncRich(); dirty = false; });

  /* drafts saved automatically */
  const draftStatus = $("[data-draft-status]", form);
  async function saveDraft() {
    if (!dirty) return;
    dirty = false;
    syncRich();
    const data = new FormData(form);
    data.set("action", "save");
    try {
      const response = await fetch(form.action, { method: "POST", body: data, headers: { Accept: "application/json", "X-CSRFToken": csrf() } });
      const reply = await response.json();
      if (response.ok && reply.saved) {
        if (reply.draft_uid) $("[data-draft-uid]", form).value = reply.draft_uid;
        draftStatus.textContent = `${draftStatus.dataset.saved || "Draft saved"} ${new Date().toLocaleTimeString()}`;
      } else { dirty = true; }
    } catch (error) { dirty = true; }
  }
  setInterval(saveDraft, 30000);
  form.addEventListener("focusout", () => { /* keep the work when the user tabs away */ });
})();
