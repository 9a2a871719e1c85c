"""/chat-widget.js is served without its comment lines and indentation (the source keeps them): the
served script is valid, complete, smaller, and its caching headers describe exactly what is served."""
from __future__ import annotations

import subprocess

from callcenter.handlers.pages import compact_script
from callcenter.paths import resource_dir

from ..helpers import require_program
from ._support import gen_test

SOURCE = resource_dir("static") / "chat-widget.js"


def _code_lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip() and not line.strip().startswith("//")]


@gen_test
async def test_the_served_widget_is_the_compacted_source(api, services, tmp_path):
    resp = await api.get("/chat-widget.js")
    assert resp.status == 200
    served = resp.body
    assert served == compact_script(str(SOURCE))
    source = SOURCE.read_text(encoding="utf-8")
    assert len(served) < len(source.encode())
    assert served.startswith(b"/*! callcenter chat widget")  # the header stays
    assert b"\n//" not in served and b"\n " not in served
    # Every line of code is there, in order (only whole comment lines and indentation went).
    code = [line for line in _code_lines(source) if not line.startswith(("/*", "*")) or line.startswith("/*!")]
    assert [line for line in served.decode().split("\n") if line and not line.startswith(("*", "/*"))] == \
        [line for line in code if not line.startswith(("*", "/*"))]
    # A conditional request for the same bytes is a 304; HEAD says the served length.
    etag = resp.headers["Etag"]
    again = await api.get("/chat-widget.js", headers={"If-None-Match": etag})
    assert again.status == 304
    head = await api.request("HEAD", "/chat-widget.js")
    assert int(head.headers["Content-Length"]) == len(served)
    # And it parses.
    node = require_program("node")
    path = tmp_path / "served.js"
    path.write_bytes(served)
    subprocess.run([node, "--check", str(path)], check=True, timeout=60)


def test_only_whole_comment_lines_go(tmp_path):
    script = tmp_path / "a.js"
    script.write_text('/*! header\n * kept\n */\n(function () {\n  // a comment\n  /* a block\n     of two */\n'
                      '  var url = "http://example.com/x"; // trailing stays\n  /* one line */\n\n  go(url);\n})();\n')
    assert compact_script(str(script)).decode() == ('/*! header\n* kept\n*/\n(function () {\n'
                                                    'var url = "http://example.com/x"; // trailing stays\n'
                                                    'go(url);\n})();\n')
    # Where a line's start could be text or code follows a comment, the script is served as it is.
    for unsafe in ('var t = `a\n  // b`;\n', '/* c */ go();\n', 'var s = "a\\\n  // b";\n'):
        script.write_text(unsafe)
        assert compact_script(str(script)).decode() == unsafe, unsafe
