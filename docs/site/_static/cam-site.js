// The course website on a phone (issue 22), with cam-site.css: a display equation too wide for the
// column says that it scrolls, and a picture shown smaller than it is opens full size on a tap.
"use strict";

(() => {
  const SHRUNK = 1.25; // a picture shown at less than 1 / SHRUNK of its own width gets the link

  function markWideFormulas() {
    // MathJax's display container is the box that scrolls (cam-site.css)
    for (const box of document.querySelectorAll('.bd-article mjx-container[display="true"]')) {
      const wide = box.scrollWidth > box.clientWidth + 1;
      const block = box.closest("div.math") || box; // the hint goes under the equation's block
      const next = block.nextElementSibling;
      const hinted = next !== null && next.classList.contains("cam-scroll-hint");
      if (wide && !hinted) {
        const hint = document.createElement("p");
        hint.className = "cam-scroll-hint";
        hint.textContent = "\u21c6 The formula is wider than the page: scroll it sideways.";
        block.after(hint);
      } else if (!wide && hinted) {
        next.remove();
      }
    }
  }

  function linkShrunkPictures() {
    for (const img of document.querySelectorAll(".bd-article img")) {
      const src = img.getAttribute("src") || "";
      if (img.closest("a") || src.startsWith("data:") || img.naturalWidth === 0) continue;
      if (img.naturalWidth > img.clientWidth * SHRUNK) {
        const link = document.createElement("a");
        link.className = "cam-full-size";
        link.href = img.src;
        link.title = "Open the picture full size";
        img.replaceWith(link);
        link.append(img);
      }
    }
  }

  async function whenTypeset() {
    const startup = window.MathJax && window.MathJax.startup;
    if (startup && startup.promise) await startup.promise;
    markWideFormulas();
  }

  window.addEventListener("load", () => {
    linkShrunkPictures();
    whenTypeset();
  });
  window.addEventListener("resize", () => {
    markWideFormulas();
    linkShrunkPictures();
  });
})();
