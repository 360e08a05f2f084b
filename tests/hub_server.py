"""A stand-in for the Hugging Face Hub on 127.0.0.1: serves model folders in the Hub's layout.

Enough of the Hub's API for ``huggingface_hub.snapshot_download`` and
``verify_repo_checksums``: ``/api/models/{repo}/revision/{rev}``,
``/api/models/{repo}/tree/{rev}`` and ``/{repo}/resolve/{rev}/{file}``
(HEAD and GET, with ``ETag``, ``X-Repo-Commit`` and byte ranges).
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

logger = logging.getLogger(__name__)

LFS_SUFFIXES = (".safetensors", ".bin")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubServer:
    """``repos`` maps a repo id to a model folder; ``gets`` counts file downloads by path."""

    def __init__(self, repos: dict[str, Path]) -> None:
        self.repos = repos
        self.sha = hashlib.sha1(b"commit").hexdigest()
        self.gets: Counter[str] = Counter()
        self.corrupt: set[str] = set()  # files served with a flipped byte
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: object) -> None:
                logger.debug(fmt, *args)

            def do_HEAD(self) -> None:  # http.server's naming
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _json(self, obj: object) -> None:
                data = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _serve(self, body: bool) -> None:
                path = unquote(urlparse(self.path).path)
                for repo, folder in server.repos.items():
                    if path == f"/api/models/{repo}" or path.startswith(f"/api/models/{repo}/revision/"):
                        return self._json({"id": repo, "sha": server.sha,
                                           "siblings": [{"rfilename": f} for f in server.files(repo)]})
                    if path.startswith(f"/api/models/{repo}/tree/"):
                        return self._json(server.tree(repo))
                    prefix = f"/{repo}/resolve/"
                    if path.startswith(prefix):
                        name = path[len(prefix):].split("/", 1)[1]
                        file = folder / name
                        if not file.is_file():
                            break
                        data = file.read_bytes()
                        etag = server.etag(name, data)
                        if name in server.corrupt:
                            data = bytes([data[0] ^ 1]) + data[1:]
                        start = 0
                        rng = self.headers.get("Range")
                        if rng and rng.startswith("bytes="):
                            start = int(rng[6:].split("-")[0] or 0)
                        self.send_response(206 if start else 200)
                        self.send_header("ETag", f'"{etag}"')
                        self.send_header("X-Repo-Commit", server.sha)
                        self.send_header("Content-Length", str(len(data) - start))
                        if start:
                            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                        self.end_headers()
                        if body:
                            server.gets[name] += 1
                            self.wfile.write(data[start:])
                        return None
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def files(self, repo: str) -> list[str]:
        root = self.repos[repo]
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    @staticmethod
    def etag(name: str, data: bytes) -> str:
        return hashlib.sha256(data).hexdigest() if name.endswith(LFS_SUFFIXES) else git_blob_sha1(data)

    def tree(self, repo: str) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for name in self.files(repo):
            data = (self.repos[repo] / name).read_bytes()
            item: dict[str, object] = {"type": "file", "path": name, "size": len(data), "oid": git_blob_sha1(data)}
            if name.endswith(LFS_SUFFIXES):
                item["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            out.append(item)
        return out

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
