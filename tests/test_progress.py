"""Progress bars: tqdm on a terminal, plain lines in a log, nothing when quiet."""

import io
import time

from fastw2v.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_log_output_is_plain_lines_with_rate_eta_and_fields():
    out = io.StringIO()
    bar = Progress(1000, desc="training", stream=out, log_interval=0.0)
    bar.set(100, epoch="1/5", loss=0.4123456, **{"pairs/s": "3.20M"})
    time.sleep(0.01)
    bar.set(600, loss=0.39)
    bar.close()
    text = out.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and len(lines) == 3  # two updates and the closing line
    assert lines[0].startswith("training:  10% 100/1.00k")
    assert "words/s" in lines[1] and "<" in lines[1]  # rate, elapsed<remaining
    assert "epoch=1/5" in lines[1] and "loss=0.39" in lines[1] and "pairs/s=3.20M" in lines[1]


def test_log_output_waits_for_the_interval_and_short_work_prints_nothing():
    out = io.StringIO()
    bar = Progress(1000, stream=out, log_interval=60.0)
    for _ in range(100):
        bar.update(10)
    bar.close()
    assert out.getvalue() == ""


def test_terminal_output_is_a_redrawn_tqdm_bar():
    out = _Terminal()
    bar = Progress(1000, desc="training", stream=out, interval=0.0)
    bar.set(300, loss=0.5)
    bar.set(1000, loss=0.25)
    bar.close()
    text = out.getvalue()
    assert "\r" in text and "100%|" in text and "1.00k/1.00k" in text and "loss=0.25" in text
    assert text.endswith("\n")


def test_quiet_prints_nothing_anywhere():
    for stream in (io.StringIO(), _Terminal()):
        bar = Progress(10, stream=stream, quiet=True, log_interval=0.0, interval=0.0)
        bar.set(10, loss=1.0)
        bar.close()
        assert stream.getvalue() == ""


def test_a_log_gets_no_tqdm_output_outside_notebooks(capsys):
    bar = Progress(1000, desc="counting")  # stderr, which pytest captures: not a terminal
    bar.update(10)
    bar.close()
    assert capsys.readouterr().err == ""  # too short for a log line, and no tqdm bar
