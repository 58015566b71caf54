// Checks run on a kiosk screen in Chromium: touch targets, text size, line spacing and
// contrast (WCAG relative luminance). Returns a list of problems, empty when all is well.
(args) => {
  const { minTouch, minKey, minFont, minLine } = args;
  const problems = [];
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none" && !el.closest("[hidden]");
  };
  const parse = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(",").map(Number); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }; };
  const lum = ({ r, g, b }) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0.5) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  for (const el of document.querySelectorAll("a, button, input, .tile")) {
    if (!visible(el) || el.closest("svg")) continue;
    const r = el.getBoundingClientRect();
    const min = el.classList.contains("key") ? minKey : minTouch;
    if (r.height < min - 0.5 || r.width < Math.min(min, 60) - 0.5)
      problems.push(`touch target ${el.tagName}.${el.className} "${(el.textContent || el.value || "").trim().slice(0, 20)}" is ${r.width.toFixed(0)}x${r.height.toFixed(0)}, needs ${min}`);
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.textContent.trim()) continue;
    const el = node.parentElement;
    if (!el || seen.has(el) || !visible(el) || el.closest(".sr, svg, script, style")) continue;
    seen.add(el);
    const s = getComputedStyle(el);
    const size = parseFloat(s.fontSize);
    if (size < minFont - 0.1) problems.push(`text "${node.textContent.trim().slice(0, 20)}" is ${size}px, needs ${minFont}`);
    const lh = s.lineHeight === "normal" ? 1.2 : parseFloat(s.lineHeight) / size;
    if (lh < minLine - 0.01) problems.push(`line spacing of "${node.textContent.trim().slice(0, 20)}" is ${lh.toFixed(2)}`);
    const fg = parse(s.color), bg = background(el);
    const ratio = (Math.max(lum(fg), lum(bg)) + 0.05) / (Math.min(lum(fg), lum(bg)) + 0.05);
    if (ratio < 4.5) problems.push(`contrast of "${node.textContent.trim().slice(0, 20)}" is ${ratio.toFixed(2)}`);
  }
  return problems;
}
