// TreeView: the browser side of a forest of rows (tree_view.py), drawn from one message
// per change: a child list from one DocumentFragment, a label, an open or selected flag.
function render({ model, el }) {
  el.classList.add("ecfnb-tree-view");
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
      rows.delete(id);
    }
  }
  function setChildren(row, children) {
    forget(row.ul);
    const frag = document.createDocumentFragment();
    for (const child of children) frag.appendChild(build(child));
    row.ul.replaceChildren(frag);
    row.hasKids = children.length > 0;
    show(row);
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
      setSelected(id, true);
      model.send({ op: "select", id });
    }
  });
  model.on("msg:custom", apply);
  model.send({ op: "hello" });
}
export default { render };
