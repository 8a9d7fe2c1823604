"""The README's code runs as written (on a real photo saved where the README expects it)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from cam_utils import sample_image

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_snippet_runs(tmp_path, monkeypatch, capsys):
    snippets = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(snippets) == 1, "the README should have exactly one Python example"
    monkeypatch.chdir(tmp_path)
    sample_image("cat").save("my_photo.jpg")

    exec(compile(snippets[0], "README.md", "exec"), {})

    printed = capsys.readouterr().out
    top3 = eval(printed.strip())  # [(index, name, probability), ...]
    assert len(top3) == 3 and 281 <= top3[0][0] <= 285  # a cat class
    written = Image.open("my_photo_gradcam.png")
    assert written.mode == "RGB" and written.size == (224, 224)
    assert np.asarray(written).std() > 10  # a real picture, not a blank
