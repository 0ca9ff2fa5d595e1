"""The headless-Chromium helper itself: it runs scripts and returns the resulting DOM."""

from browser import render, require_chromium, visible_text

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>t</title></head>
<body><div id="static">static text</div><div id="out"></div>
<script>
  setTimeout(function () {
    document.getElementById("out").textContent = "written by " + "script";
  }, 100);
</script></body></html>
"""


def test_render_returns_the_dom_after_scripts_and_a_screenshot(tmp_path):
    require_chromium()
    page = tmp_path / "page.html"
    page.write_text(PAGE)
    shot = tmp_path / "page.png"
    dom = render(page, screenshot=shot, budget_ms=2000)
    assert "static text" in dom
    assert '<div id="out">written by script</div>' in dom  # the script ran
    assert shot.read_bytes().startswith(b"\x89PNG")
    text = visible_text(dom)
    assert text.startswith("t static text written by script") and "setTimeout" not in text
