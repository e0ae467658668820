// Notifier: desktop notifications (the browser's Notification API) for the watch panel,
// so an operator in another tab or window is told of an abort. Permission is asked once
// (remembered in localStorage; a button asks again); the kernel sends {op: "notify"}.
const ASKED = "ecfnb-notifications-asked";
function render({ model, el }) {
  el.classList.add("ecfnb-notifier");
  const text = document.createElement("span");
  const button = document.createElement("button");
  button.className = "ecfnb-notify-enable jupyter-button";
  button.textContent = "enable desktop notifications";
  el.append(text, button);
  const supported = typeof Notification !== "undefined";
  function show() {
    const state = supported ? Notification.permission : "unsupported";
    text.textContent = state === "granted" ? "desktop notifications on"
      : state === "denied" ? "desktop notifications blocked by the browser"
      : state === "unsupported" ? "" : "desktop notifications off";
    text.dataset.permission = state;
    button.style.display = state === "default" ? "" : "none";
    model.set("permission", state);
    model.save_changes();
  }
  async function ask() {
    if (!supported) return;
    try { localStorage.setItem(ASKED, "1"); } catch (e) { /* private mode */ }
    try { await Notification.requestPermission(); } catch (e) { /* old API */ }
    show();
  }
  button.addEventListener("click", ask);
  let asked = false;
  try { asked = localStorage.getItem(ASKED) === "1"; } catch (e) { asked = true; }
  if (supported && Notification.permission === "default" && !asked) ask(); else show();
  model.on("msg:custom", (msg) => {
    if (msg.op !== "notify" || !supported || Notification.permission !== "granted") return;
    try {
      new Notification(msg.title, { body: msg.body, tag: msg.tag });
    } catch (e) {
      // Chrome on Android and some contexts want a service worker: nothing to do.
    }
  });
}
export default { render };
