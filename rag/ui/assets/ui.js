// The web UI's page script: everything here works on the DOM Gradio renders, by delegation,
// so it needs no changes when messages are added or re-rendered.
(() => {
  const LIMIT = Number("__MAX_QUESTION_CHARS__");

  // Bring each new message into view. Gradio's own autoscroll is off because it scrolls back
  // to the bottom whenever a marker link jumps to its source.
  let rows = 0;
  const follow = () => {
    const chat = document.querySelector("#chat .bubble-wrap");
    const count = chat ? chat.querySelectorAll(".message-row").length : 0;
    if (chat && count > rows) chat.scrollTo({ top: chat.scrollHeight });
    rows = count;
  };

  // Screen readers: a message's label is its visible text, not its HTML source.
  const visibleText = (el) => {
    const copy = el.cloneNode(true);
    copy.querySelectorAll(".copy-text, .sources, .why").forEach((n) => n.remove());
    return copy.textContent.replace(/\s+/g, " ").trim();
  };
  const fixLabels = () => {
    document.querySelectorAll("#chat [aria-label*=\"'s message: \"]").forEach((el) => {
      const label = el.getAttribute("aria-label");
      const role = label.slice(0, label.indexOf("'s message: "));
      const want = `${role}'s message: ${visibleText(el)}`;
      if (label !== want) el.setAttribute("aria-label", want);
    });
  };

  // The article view scrolls to the quote that was clicked.
  const showActive = () => {
    const mark = document.querySelector("#article-panel mark.active:not([data-shown])");
    if (mark) {
      mark.setAttribute("data-shown", "1");
      mark.scrollIntoView({ block: "center" });
    }
  };

  let pending = false;
  new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      follow();
      fixLabels();
      showActive();
      counter();
    });
  }).observe(document.documentElement, {
    childList: true,
    subtree: true,
    characterData: true,
    attributes: true,
    attributeFilter: ["aria-label"],
  });

  // The question's length, counted as it is typed; over the limit, Enter does not send.
  const box = () => document.querySelector("#question textarea");
  const counter = () => {
    const el = document.getElementById("q-counter");
    const q = box();
    if (!el || !q) return;
    const n = q.value.length;
    const text = n > LIMIT * 0.8 ? `${n.toLocaleString()} / ${LIMIT.toLocaleString()} characters` : "";
    const over = n > LIMIT;
    if (el.textContent !== (over ? `${text}: too long to send` : text)) {
      el.textContent = over ? `${text}: too long to send` : text;
    }
    el.classList.toggle("over", over);
    const send = document.getElementById("send");
    if (send) send.toggleAttribute("disabled", over);
  };
  document.addEventListener("input", (e) => {
    if (e.target.closest && e.target.closest("#question")) counter();
  }, true);
  document.addEventListener("keydown", (e) => {
    const q = e.target.closest && e.target.closest("#question textarea");
    if (q && e.key === "Enter" && !e.shiftKey && q.value.length > LIMIT) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);

  // Clear filters straight from a date box: pressing the button would blur the box, whose
  // check re-renders the chips and the button under the pointer, and the click was lost.
  // The box keeps the focus instead; its check runs when it is left, on the cleared value.
  document.addEventListener("mousedown", (e) => {
    if (e.target.closest && e.target.closest("#clear-filters")) e.preventDefault();
  }, true);

  // Copy gives the answer as plain text with its numbered sources, never HTML.
  const write = async (text) => {
    try {
      await navigator.clipboard.writeText(text);
    } catch (err) {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
  };
  document.addEventListener("click", (e) => {
    const button = e.target.closest && e.target.closest("#chat button");
    if (!button) return;
    const label = button.getAttribute("aria-label") || button.getAttribute("title") || "";
    if (!/^cop(y|ied) message/i.test(label)) return;
    const row = button.closest(".message-row, .message-wrap > div, [class*='message']");
    const msg = row && (row.querySelector(".copy-text") ? row : row.parentElement);
    const copy = msg && msg.querySelector(".copy-text");
    const bubble = row && row.querySelector("[data-testid='user'], [data-testid='bot']");
    const text = copy ? copy.textContent : bubble ? visibleText(bubble) : "";
    if (!text) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    write(text);
    button.setAttribute("title", "Copied");
  }, true);

  // Marker previews: hover or focus shows the quote with its title, outlet and date; on a
  // touch screen the first tap shows it and a second tap jumps to the source.
  let tip = null;
  let tapped = null;
  const hide = () => { if (tip) { tip.remove(); tip = null; } };
  const show = (marker) => {
    hide();
    if (marker.title) {
      marker.dataset.preview = marker.title;
      marker.removeAttribute("title");
    }
    tip = document.createElement("div");
    tip.className = "marker-preview";
    tip.setAttribute("role", "tooltip");
    tip.textContent = marker.dataset.preview || "";
    document.body.append(tip);
    const r = marker.getBoundingClientRect();
    const top = r.bottom + 6 + tip.offsetHeight > innerHeight ? r.top - tip.offsetHeight - 6 : r.bottom + 6;
    tip.style.top = `${Math.max(4, top)}px`;
    tip.style.left = `${Math.max(4, Math.min(r.left, innerWidth - tip.offsetWidth - 4))}px`;
  };
  document.addEventListener("mouseover", (e) => {
    const m = e.target.closest && e.target.closest("a.marker");
    if (m) show(m);
  });
  document.addEventListener("mouseout", (e) => {
    if (e.target.closest && e.target.closest("a.marker")) hide();
  });
  document.addEventListener("focusin", (e) => {
    if (e.target.matches && e.target.matches("a.marker")) show(e.target);
  });
  document.addEventListener("focusout", hide);
  document.addEventListener("pointerdown", (e) => {
    const m = e.target.closest && e.target.closest("a.marker");
    if (e.pointerType === "touch" && m && tapped !== m) {
      tapped = m;
      m.dataset.hold = "1";
    }
  }, true);
  document.addEventListener("click", (e) => {
    const m = e.target.closest && e.target.closest("a.marker");
    if (m && m.dataset.hold) {
      delete m.dataset.hold;
      e.preventDefault();
      show(m);
      return;
    }
    tapped = null;
    // "read the article here": the article view, with its quotes highlighted.
    const read = e.target.closest && e.target.closest("a[href^='#read:']");
    if (read) {
      e.preventDefault();
      window.__ragRead = read.getAttribute("href").slice(6) + ":" + Date.now();
      const trigger = document.querySelector("#read-trigger");
      if (trigger) trigger.click();
    }
  }, true);

  // Sending empties the box at once, so nothing typed after Enter is ever erased; a
  // question that is not accepted comes back (unless something new was typed meanwhile).
  const setBox = (text) => {
    const q = box();
    if (!q) return;
    q.value = text;
    q.dispatchEvent(new Event("input", { bubbles: true }));
  };
  // Taken out of the box synchronously, in the key or click event itself, before Gradio
  // (whose event handling is asynchronous) reads it: a key typed right after stays.
  const take = () => {
    const q = box();
    if (!q) return;
    const text = q.value;
    if (!text.trim() || text.length > LIMIT) return;
    window.__ragTaken = text;
    window.__ragSent = text;
    setBox("");
  };
  document.addEventListener("keydown", (e) => {
    const q = e.target.closest && e.target.closest("#question textarea");
    if (q && e.key === "Enter" && !e.shiftKey && !e.isComposing) take();
  }, true);
  document.addEventListener("click", (e) => {
    if (e.target.closest && e.target.closest("#send")) take();
  }, true);
  window.ragSending = (text) => {
    const taken = window.__ragTaken;
    window.__ragTaken = undefined;
    if (taken !== undefined) return taken;
    window.__ragSent = text;
    return text;
  };
  window.ragRefill = () => {
    const q = box();
    if (q && !q.value && window.__ragSent) setBox(window.__ragSent);
    return [];
  };

  // The library's checked rows, for "Ask only these" and "Delete".
  window.ragPicked = () =>
    [...document.querySelectorAll("#library-table input.pick:checked")].map((i) => i.value).join(",");
})();
