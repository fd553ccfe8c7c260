// MathJax (vendored in javascripts/mathjax/, loaded after this file) for pymdownx.arithmatex in
// generic mode: $...$, \(...\) inline; $$...$$, \[...\] display.
window.MathJax = {
  tex: { inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true, processEnvironments: true },
  options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex" },
};
// MathJax's start typesets the first page; a page the theme shows later (instant navigation) is
// typeset after it. Not output.clearCache(): clearing the character cache after a typeset left
// every equation blank (Chromium, MathJax 3.2.2).
document$.subscribe(() => {
  const startup = window.MathJax.startup;
  if (!startup || !startup.promise) return; // MathJax not loaded yet: its start typesets the page
  startup.promise = startup.promise.then(() => MathJax.typesetPromise());
});
