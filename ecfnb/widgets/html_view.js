// HtmlView: HTML the kernel sets (escaped in Python, tree_html), where an element with
// data-ecfnb-op="name" (and data-ecfnb-arg="value") is a link: a click sends
// {op: "click", name, arg} to the kernel (select a node, sort a column, next page).
// The listener is on the container, so one listener serves any number of links.
// A right-click on an element with data-ecf-path (a table row) asks the kernel for the
// node menu ({op: "menu", path}); the kernel answers with the entries (menu.js).
function render({ model, el }) {
  el.classList.add("ecfnb-html-view");
  el.setAttribute("data-lm-suppress-shortcuts", "true");
  const menu = ecfnbMenu(model);
  let menuAt = [0, 0];
  model.on("msg:custom", (op) => {
    if (op.op === "menu") menu.open(Object.assign({ back: null }, op), menuAt[0], menuAt[1]);
  });
  const box = document.createElement("div");
  box.className = "ecfnb-html-body";
  el.appendChild(box);
  function draw() { box.innerHTML = model.get("html"); }
  model.on("change:html", draw);
  draw();
  box.addEventListener("click", (event) => {
    const link = event.target.closest("[data-ecfnb-op]");
    if (!link || !box.contains(link)) return;
    event.preventDefault();
    model.send({ op: "click", name: link.dataset.ecfnbOp, arg: link.dataset.ecfnbArg || "" });
  });
  box.addEventListener("contextmenu", (event) => {
    const row = event.target.closest("[data-ecf-path]");
    if (!row || !box.contains(row)) return;
    event.preventDefault();
    event.stopPropagation();  // JupyterLab opens its own menu on the document otherwise
    menuAt = [event.clientX, event.clientY];
    model.send({ op: "menu", path: row.dataset.ecfPath });
  });
}
export default { render };
