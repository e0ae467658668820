// HtmlView: HTML the kernel sets (escaped in Python, tree_html), where an element with
// data-ecfnb-op="name" (and data-ecfnb-arg="value") is a link: a click sends
// {op: "click", name, arg} to the kernel (select a node, sort a column, next page).
// The listener is on the container, so one listener serves any number of links.
function render({ model, el }) {
  el.classList.add("ecfnb-html-view");
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
}
export default { render };
