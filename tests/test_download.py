"""text8 download: served from a local HTTP server on 127.0.0.1, never the internet."""

import hashlib
import http.server
import io
import socket
import threading
import zipfile

import pytest

from fastw2v.download import fetch_text8
from fastw2v.errors import DownloadError


@pytest.fixture
def server(tmp_path):
    text = b" the quick brown fox jumps over the lazy dog" * 1000
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("text8", text)
    payload = buf.getvalue()
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield {"url": f"http://127.0.0.1:{httpd.server_port}/text8.zip", "zip_sha1": hashlib.sha1(payload).hexdigest(),
           "text_sha1": hashlib.sha1(text).hexdigest(), "text": text, "hits": hits}
    httpd.shutdown()


def test_download_verify_extract_once(tmp_path, server):
    path = fetch_text8(tmp_path, quiet=True, url=server["url"], zip_sha1=server["zip_sha1"],
                       text_sha1=server["text_sha1"])
    assert path.read_bytes() == server["text"]
    again = fetch_text8(tmp_path, quiet=True, url=server["url"], zip_sha1=server["zip_sha1"],
                        text_sha1=server["text_sha1"])
    assert again == path and len(server["hits"]) == 1  # cached: downloaded once
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_checksum_mismatch_keeps_nothing(tmp_path, server):
    with pytest.raises(DownloadError, match="SHA-1"):
        fetch_text8(tmp_path, quiet=True, url=server["url"], zip_sha1="0" * 40)
    assert not (tmp_path / "text8.zip").exists() and not (tmp_path / "text8").exists()


def test_offline_says_how_to_pass_a_local_file(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="--corpus"):
        fetch_text8(tmp_path, quiet=True, url=f"http://127.0.0.1:{port}/text8.zip", timeout=5)


def test_load_corpus_and_fit_download_text8_by_name(tmp_path, server, monkeypatch):
    """``load_corpus("text8")`` and ``Word2Vec().fit("text8")`` download it, as the CLI does."""
    import functools

    import fastw2v.download as download
    from fastw2v import Word2Vec, load_corpus

    monkeypatch.setattr(download, "fetch_text8", functools.partial(
        download.fetch_text8, url=server["url"], zip_sha1=server["zip_sha1"], text_sha1=server["text_sha1"]))
    monkeypatch.chdir(tmp_path)  # no file called text8 here
    cache = tmp_path / "cache"
    vocab, corpus = load_corpus("text8", min_count=1, cache_dir=cache)
    assert vocab.words[0] == "the" and corpus.raw_words == 9000
    model = Word2Vec(dim=4, epochs=1, min_count=1, threads=1).fit("text8", cache_dir=cache)
    assert len(model.vectors) == len(vocab) == 8
    assert len(server["hits"]) == 1  # downloaded once, then read from the cache
    (tmp_path / "text8").write_text("a local file wins " * 10)
    vocab, _ = load_corpus("text8", min_count=1, cache_dir=cache)
    assert vocab.words[0] == "a"
