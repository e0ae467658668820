// TreeView: the browser side of a forest of rows (tree_view.py), drawn from one message
// per change: a child list from one DocumentFragment, a label, an open or selected flag.
// Ctrl/Cmd-click marks more rows, Shift-click a range, right-click (or the key m, the
// menu key, Shift+F10) asks the kernel for the node menu. Keys: arrows move the
// selection, Left/Right close/open, Enter shows the panel, Shift+arrows mark; none of them
// reaches the notebook (data-lm-suppress-shortcuts, stopPropagation).
function render({ model, el }) {
  el.classList.add("ecfnb-tree-view");
  el.tabIndex = 0;
  el.setAttribute("data-lm-suppress-shortcuts", "true");
  const menu = ecfnbMenu(model);
  let marked = new Set();
  let menuAt = null;
  const top = document.createElement("ul");
  top.className = "ecfnb-tree-children ecfnb-tree-top";
  el.appendChild(top);
  const rows = new Map();
  const root = { ul: top, li: null, opened: true, hasKids: true };
  rows.set(0, root);
  let selected = null;

  function build(data) {
    const li = document.createElement("li");
    li.className = "ecfnb-tree-node";
    li.dataset.id = data.id;
    const toggle = document.createElement("span");
    toggle.className = "ecfnb-tree-toggle";
    const anchor = document.createElement("span");
    anchor.className = "ecfnb-tree-anchor";
    anchor.innerHTML = data.html;
    const ul = document.createElement("ul");
    ul.className = "ecfnb-tree-children";
    li.append(toggle, anchor, ul);
    const row = { li, anchor, toggle, ul, opened: data.opened, hasKids: false };
    rows.set(data.id, row);
    if (data.disabled) li.classList.add("ecfnb-tree-disabled");
    setChildren(row, data.children || []);
    setSelected(data.id, data.selected);
    return li;
  }
  function forget(ul) {
    for (const li of ul.querySelectorAll("li.ecfnb-tree-node")) {
      const id = Number(li.dataset.id);
      if (selected === id) selected = null;
      marked.delete(id);
      rows.delete(id);
    }
  }
  function visible() {
    return [...top.querySelectorAll("li.ecfnb-tree-node")].filter(
      (li) => li.offsetParent !== null && !li.classList.contains("ecfnb-tree-disabled"));
  }
  function setMarks(ids) {
    for (const id of marked) { const row = rows.get(id); if (row) row.li.classList.remove("ecfnb-tree-marked"); }
    marked = new Set(ids.filter((id) => rows.has(id)));
    for (const id of marked) rows.get(id).li.classList.add("ecfnb-tree-marked");
  }
  function sendMarks() { model.send({ op: "mark", ids: [...marked] }); }
  function choose(id) {
    const row = rows.get(id);
    if (!row) return;
    setSelected(id, true);
    row.anchor.scrollIntoView({ block: "nearest" });
    model.send({ op: "select", id });
  }
  function askMenu(id, x, y) {
    menuAt = [x, y];
    const ids = marked.has(id) || (marked.size && id === selected) ? [...new Set([selected, ...marked])].filter((i) => i !== null) : [id];
    model.send({ op: "menu", id, ids });
  }
  function setChildren(row, children) {
    // Rows rebuilt here keep the selection and marks made in this view: the kernel's
    // copy of them may not have caught up yet (seen under load: a refresh of /op's
    // children, sent before the kernel heard "select /op/g", unselected it here, and
    // the next key had no row to act on). The kernel's own choices come as their own
    // "selected"/"marks" messages.
    const was = selected, wasMarked = [...marked];
    forget(row.ul);
    const frag = document.createDocumentFragment();
    for (const child of children) frag.appendChild(build(child));
    row.ul.replaceChildren(frag);
    row.hasKids = children.length > 0;
    show(row);
    if (was !== null && was !== selected && rows.has(was)) setSelected(was, true);
    if (wasMarked.some((id) => rows.has(id) && !marked.has(id))) setMarks(wasMarked);
  }
  function show(row) {
    if (!row.li) return;
    row.toggle.textContent = row.hasKids ? (row.opened ? "\u25be" : "\u25b8") : "";
    row.li.classList.toggle("ecfnb-tree-leaf", !row.hasKids);
    row.li.classList.toggle("ecfnb-tree-open", row.hasKids && row.opened);
    row.ul.style.display = row.opened ? "" : "none";
  }
  function setSelected(id, value) {
    const row = rows.get(id);
    if (!row || !row.li) return;
    if (value) {
      if (selected !== null && selected !== id) setSelected(selected, false);
      selected = id;
    } else if (selected === id) {
      selected = null;
    }
    row.li.classList.toggle("ecfnb-tree-selected", !!value);
  }
  function apply(op) {
    const row = rows.get(op.id);
    if (op.op === "batch") { op.ops.forEach(apply); return; }
    if (op.op === "snapshot") { setChildren(root, op.children); return; }
    // marks and menu name no row (op.id is undefined): handled before the row check
    if (op.op === "marks") { setMarks(op.ids); return; }
    if (op.op === "menu") {
      const [x, y] = menuAt || [el.getBoundingClientRect().left + 20, el.getBoundingClientRect().top + 20];
      menu.open(Object.assign({ back: el }, op), x, y);
      return;
    }
    if (!row) return;
    if (op.op === "children") setChildren(row, op.children);
    else if (op.op === "label") row.anchor.innerHTML = op.html;
    else if (op.op === "opened") { row.opened = op.value; show(row); }
    else if (op.op === "selected") setSelected(op.id, op.value);
  }
  top.addEventListener("click", (event) => {
    const li = event.target.closest("li.ecfnb-tree-node");
    if (!li || !top.contains(li)) return;
    const id = Number(li.dataset.id);
    const row = rows.get(id);
    if (!row || li.classList.contains("ecfnb-tree-disabled")) return;
    if (event.target.closest(".ecfnb-tree-toggle") === row.toggle) {
      if (!row.hasKids) return;
      row.opened = !row.opened;
      show(row);
      model.send({ op: row.opened ? "open" : "close", id });
    } else if (event.target.closest(".ecfnb-tree-anchor") === row.anchor) {
      if (event.ctrlKey || event.metaKey) {
        if (marked.has(id)) marked.delete(id); else if (id !== selected) marked.add(id);
        setMarks([...marked]);
        sendMarks();
        return;
      }
      if (event.shiftKey && selected !== null) {
        const all = visible().map((li) => Number(li.dataset.id));
        const a = all.indexOf(selected), b = all.indexOf(id);
        if (a >= 0 && b >= 0) {
          setMarks(all.slice(Math.min(a, b), Math.max(a, b) + 1).filter((i) => i !== selected));
          sendMarks();
          return;
        }
      }
      if (marked.size) { setMarks([]); sendMarks(); }
      choose(id);
    }
  });
  top.addEventListener("contextmenu", (event) => {
    const li = event.target.closest("li.ecfnb-tree-node");
    if (!li || !top.contains(li) || li.classList.contains("ecfnb-tree-disabled")) return;
    event.preventDefault();
    event.stopPropagation();  // JupyterLab opens its own menu on the document otherwise
    const id = Number(li.dataset.id);
    if (id !== selected && !marked.has(id)) {
      if (marked.size) { setMarks([]); sendMarks(); }
      choose(id);
    }
    askMenu(id, event.clientX, event.clientY);
  });
  el.addEventListener("keydown", (event) => {
    event.stopPropagation();  // the notebook's command mode must not act on the cell
    const all = visible();
    const at = all.findIndex((li) => Number(li.dataset.id) === selected);
    const row = rows.get(selected);
    const key = event.key;
    if (key === "ArrowDown" || key === "ArrowUp") {
      const next = all[at < 0 ? 0 : Math.max(0, Math.min(all.length - 1, at + (key === "ArrowDown" ? 1 : -1)))];
      if (next) {
        if (event.shiftKey && selected !== null) { marked.add(selected); setMarks([...marked]); sendMarks(); }
        choose(Number(next.dataset.id));
      }
    } else if (key === "ArrowRight" && row) {
      if (row.hasKids && !row.opened) { row.opened = true; show(row); model.send({ op: "open", id: selected }); }
      else if (row.opened && row.ul.firstElementChild) choose(Number(row.ul.firstElementChild.dataset.id));
    } else if (key === "ArrowLeft" && row) {
      if (row.hasKids && row.opened) { row.opened = false; show(row); model.send({ op: "close", id: selected }); }
      else {
        const parent = row.li.parentElement.closest("li.ecfnb-tree-node");
        if (parent) choose(Number(parent.dataset.id));
      }
    } else if (key === "Enter" && selected !== null) {
      model.send({ op: "enter", id: selected });
    } else if ((key === "m" || key === "ContextMenu" || (key === "F10" && event.shiftKey)) && row) {
      const box = row.anchor.getBoundingClientRect();
      askMenu(selected, box.left + 10, box.bottom);
    } else if (key === "Escape") {
      menu.close();
      if (marked.size) { setMarks([]); sendMarks(); }
    } else {
      return;
    }
    event.preventDefault();
  });
  model.on("msg:custom", apply);
  model.send({ op: "hello" });
}
export default { render };
