"""Per-file outcome of every PDF-zoo file through the extraction pool, saved or compared.

    PYTHONPATH=$PWD python benchmarks/zoo_outcomes.py --save /tmp/before.json
    PYTHONPATH=$PWD python benchmarks/zoo_outcomes.py --compare /tmp/before.json [--no-ocr] [--show-ocr]

An outcome is "indexed" (with pages, passages of text and characters), "partly
read" (with the warning) or "failed" (with the reason). --compare prints every
file whose outcome changed, and says which changes are worse: a file that was
indexed and now fails, or that lost pages of text.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _common import REPO, machine_note
from desktop_search.ingest.extract.ocr import OcrOptions
from desktop_search.ingest.pool import ExtractorPool
from tests.conftest import PDF_ZOO


def outcomes(timeout_s: float, ocr: OcrOptions | None) -> dict[str, dict[str, object]]:
    """Extract every zoo PDF in the worker pool (timeouts and memory limits as in an index run)."""
    files = sorted(str(p) for p in PDF_ZOO.rglob("*") if p.is_file())
    out: dict[str, dict[str, object]] = {}
    for r in ExtractorPool(timeout_s=timeout_s, ocr=ocr).imap_unordered(files):
        key = str(Path(r.path).relative_to(PDF_ZOO))
        if r.document is None:
            out[key] = {"outcome": "failed", "reason": r.error, "seconds": round(r.seconds, 2)}
            continue
        d = r.document
        out[key] = {
            "outcome": "partly read" if d.warning else "indexed", "warning": d.warning, "pages": d.pages,
            "text_pages": len(d.segments), "chars": sum(len(s.text) for s in d.segments),
            "ocr_pages": d.ocr_pages, "seconds": round(r.seconds, 2),
            "ocr_text": " | ".join(s.text for s in d.segments if s.ocr)[:600] or None,
        }
    return dict(sorted(out.items()))


def _rank(o: dict[str, object]) -> int:
    return {"failed": 0, "partly read": 1, "indexed": 2}[str(o["outcome"])]


def _pages(o: dict[str, object]) -> int:
    pages = o.get("text_pages")
    return pages if isinstance(pages, int) else 0


def compare(before: dict[str, dict[str, object]], after: dict[str, dict[str, object]]) -> int:
    worse = 0
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if b is None or a is None:
            print(f"{key}: only {'after' if b is None else 'before'}")
            continue
        same_kind = (b["outcome"], b.get("reason"), b.get("warning")) == (a["outcome"], a.get("reason"), a.get("warning"))
        if same_kind and b.get("text_pages") == a.get("text_pages"):
            continue
        lost = _rank(a) < _rank(b) or _pages(a) < _pages(b)
        worse += lost
        tag = "WORSE" if lost else "better/changed"
        desc = lambda o: (f"{o['outcome']}: {o.get('reason') or o.get('warning') or ''} "  # noqa: E731 - a one-line formatter local to the report
                          f"[{o.get('text_pages', 0)}/{o.get('pages', 0)} pages with text, {o.get('chars', 0)} chars, "
                          f"{o.get('ocr_pages', 0)} by OCR]")
        print(f"{tag}: {key}\n   before {desc(b)}\n   after  {desc(a)}")
    counts = lambda d: {k: sum(1 for o in d.values() if o["outcome"] == k) for k in ("indexed", "partly read", "failed")}  # noqa: E731 - a one-line counter local to the report
    print(f"before {counts(before)}\nafter  {counts(after)}\nfiles worse: {worse}")
    return worse


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--save", type=Path)
    ap.add_argument("--compare", type=Path)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--no-ocr", action="store_true")
    ap.add_argument("--ocr-languages", default="eng")
    ap.add_argument("--show-ocr", action="store_true", help="print what OCR read from each file")
    args = ap.parse_args()
    print(machine_note())
    t0 = time.monotonic()
    now = outcomes(args.timeout, None if args.no_ocr else OcrOptions(languages=args.ocr_languages))
    print(f"{len(now)} zoo files in {time.monotonic() - t0:.1f} s ({REPO})")
    if args.show_ocr:
        for key, o in now.items():
            if o.get("ocr_pages") or "OCR" in str(o.get("reason")):
                print(f"OCR {key}: {o.get('ocr_pages', 0)} pages: {o.get('ocr_text') or o.get('reason')}")
    if args.save:
        args.save.write_text(json.dumps(now, indent=1, ensure_ascii=False))
    if args.compare:
        return 1 if compare(json.loads(args.compare.read_text()), now) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
