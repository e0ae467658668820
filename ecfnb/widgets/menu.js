// The node menu (shared: prepended to tree_view.js and html_view.js by Python). The
// kernel sends the entries ({name, label, menu, enabled, tip}); a pick sends
// {op: "pick", name, key} back ("copy" is done here: the path to the clipboard).
// Keys inside never reach the notebook: data-lm-suppress-shortcuts tells Lumino's
// keymap to skip them, and stopPropagation keeps them from the cell's handlers.
function ecfnbMenu(model) {
  let box = null;
  function close() {
    if (box) { box.remove(); box = null; document.removeEventListener("mousedown", outside, true); }
  }
  function outside(event) { if (box && !box.contains(event.target)) close(); }
  function items() { return box ? [...box.querySelectorAll(".ecfnb-menu-item:not(.ecfnb-menu-off)")] : []; }
  function focus(step) {
    const all = items();
    if (!all.length) return;
    const at = all.indexOf(document.activeElement);
    all[(at + step + all.length) % all.length].focus();
  }
  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).catch(() => {});
    } else {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy"); } catch (e) { /* no clipboard */ }
      area.remove();
    }
  }
  function open(data, x, y) {
    close();
    box = document.createElement("div");
    box.className = "ecfnb-menu";
    box.setAttribute("data-lm-suppress-shortcuts", "true");
    box.setAttribute("role", "menu");
    const head = document.createElement("div");
    head.className = "ecfnb-menu-title";
    head.textContent = data.title;
    box.appendChild(head);
    let group = "";
    for (const entry of data.entries) {
      if ((entry.menu || "") !== group) {
        group = entry.menu || "";
        const sep = document.createElement("div");
        sep.className = "ecfnb-menu-group";
        sep.textContent = group;
        box.appendChild(sep);
      }
      const item = document.createElement("div");
      item.className = "ecfnb-menu-item" + (entry.enabled ? "" : " ecfnb-menu-off") +
        (group ? " ecfnb-menu-sub" : "");
      item.dataset.name = entry.name;
      item.textContent = entry.label;
      item.title = entry.tip || "";
      item.tabIndex = -1;
      item.setAttribute("role", "menuitem");
      box.appendChild(item);
    }
    box.addEventListener("click", (event) => {
      const item = event.target.closest(".ecfnb-menu-item");
      if (!item || item.classList.contains("ecfnb-menu-off")) return;
      pick(item.dataset.name, data);
    });
    box.addEventListener("keydown", (event) => {
      event.stopPropagation();
      if (event.key === "ArrowDown") { focus(1); event.preventDefault(); }
      else if (event.key === "ArrowUp") { focus(-1); event.preventDefault(); }
      else if (event.key === "Escape") { close(); if (data.back) data.back.focus(); event.preventDefault(); }
      else if (event.key === "Enter") {
        const item = document.activeElement;
        if (item && item.classList.contains("ecfnb-menu-item")) pick(item.dataset.name, data);
        event.preventDefault();
      }
    });
    document.body.appendChild(box);
    const width = box.offsetWidth, height = box.offsetHeight;
    box.style.left = Math.max(0, Math.min(x, window.innerWidth - width - 4)) + "px";
    box.style.top = Math.max(0, Math.min(y, window.innerHeight - height - 4)) + "px";
    document.addEventListener("mousedown", outside, true);
    focus(1);
  }
  function pick(name, data) {
    if (name === "copy") copy(data.paths.join("\n"));
    model.send({ op: "pick", name, key: data.key });
    close();
    if (data.back) data.back.focus();
  }
  return { open, close, isOpen: () => box !== null };
}
