// TextView: a <pre> the kernel fills with "set" and grows with "append" messages, so a
// job output that is being written reaches the browser a few lines at a time instead of
// whole at every change. The lines are escaped HTML made in Python (tree_html).
function render({ model, el }) {
  const pre = document.createElement("pre");
  pre.className = model.get("pre_class") || "ecfnb-text-output";
  el.appendChild(pre);
  function atBottom() {
    return pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
  }
  model.on("msg:custom", (msg) => {
    if (msg.op === "set") {
      pre.innerHTML = msg.html;
      if (msg.bottom) pre.scrollTop = pre.scrollHeight;
    } else if (msg.op === "append") {
      const follow = atBottom();
      pre.insertAdjacentHTML("beforeend", msg.html);
      if (follow) pre.scrollTop = pre.scrollHeight;
    }
  });
  model.send({ op: "hello" });
}
export default { render };
