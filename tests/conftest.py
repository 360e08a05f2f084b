"""Shared fixtures: a tiny random BERT in sentence-transformers layout, data dirs, corpora."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

logger = logging.getLogger(__name__)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "corpora"
SCIFACT = SHARED / "scifact"
PDF_ZOO = SHARED / "pdf-zoo"
EPUB_ZOO = SHARED / "epub-zoo"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``torch`` skip, saying why, where the torch extra is not installed (the default install);
    where it is, they run like any other."""
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        return
    skip = pytest.mark.skip(reason="needs the torch extra, which is not installed: pip install '.[torch]'")
    for item in items:
        if "torch" in item.keywords:
            item.add_marker(skip)


def _bundled_model_dir() -> Path:
    """The default model's folder inside the package (fetched by hatch_build.py)."""
    return REPO / "desktop_search" / "default_model"


def build_tiny_model(folder: Path, pooling: str = "mean", max_tokens: int = 128, prompts: dict | None = None,
                     layers: int = 2, width: int = 32, tokenizer_from: Path | None = None) -> Path:
    """A randomly initialised BERT (2 layers, 32 wide unless told) with the real MiniLM tokenizer
    (from the bundled model package, or ``tokenizer_from``: the GPU machine has the model's folder only).

    Written with numpy alone, as transformers' ``BertModel(config).save_pretrained`` would (its config
    keys, its initialisation: N(0, 0.02) matrices and embeddings, zero biases, unit LayerNorms, a zero
    padding row), so the tests run where torch is not installed.
    benchmarks/bench_pipeline.py makes a 1-layer, 16-wide one: a forward that costs nothing, so the
    pipeline around the model is what it measures."""
    import shutil

    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    src = tokenizer_from or _bundled_model_dir()
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(src / name, folder / name)
    vocab, positions, ff = 30522, 512, 2 * width
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": vocab, "hidden_size": width,
        "num_hidden_layers": layers, "num_attention_heads": 2, "intermediate_size": ff, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": positions,
        "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
        "position_embedding_type": "absolute", "use_cache": True, "classifier_dropout": None,
    }

    def normal(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    def linear(prefix: str, out: int, into: int) -> None:
        tensors[prefix + ".weight"], tensors[prefix + ".bias"] = normal(out, into), np.zeros(out, np.float32)

    def norm(prefix: str) -> None:
        tensors[prefix + ".weight"], tensors[prefix + ".bias"] = np.ones(width, np.float32), np.zeros(width, np.float32)

    words = normal(vocab, width)
    words[0] = 0  # the padding row
    tensors = {"embeddings.word_embeddings.weight": words,
               "embeddings.position_embeddings.weight": normal(positions, width),
               "embeddings.token_type_embeddings.weight": normal(2, width)}
    norm("embeddings.LayerNorm")
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for part in ("query", "key", "value"):
            linear(p + "attention.self." + part, width, width)
        linear(p + "attention.output.dense", width, width)
        norm(p + "attention.output.LayerNorm")
        linear(p + "intermediate.dense", ff, width)
        linear(p + "output.dense", width, ff)
        norm(p + "output.LayerNorm")
    linear("pooler.dense", width, width)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": width,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": pooling == "max",
    }))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_tokens}))
    if prompts:
        (folder / "config_sentence_transformers.json").write_text(json.dumps({"prompts": prompts}))
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path to a tiny random BERT (dim 32, max 128 tokens, mean pooling)."""
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture(scope="session")
def english_only_model(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """The tiny model, saying (as a copied Hub model does) that it is all-MiniLM-L6-v2: English only."""
    import shutil

    folder = tmp_path_factory.mktemp("models") / "english-only"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    config["_name_or_path"] = "sentence-transformers/all-MiniLM-L6-v2"
    (folder / "config.json").write_text(json.dumps(config))
    return folder


MULTILINGUAL_REPO = "intfloat/multilingual-e5-small"


@pytest.fixture
def tiny_hub(tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch):
    """A stand-in Hub on 127.0.0.1 serving the tiny model as intfloat/multilingual-e5-small,
    with files a download must skip; HF_ENDPOINT points at it, HF_HUB_OFFLINE is set as the app sets it."""
    import shutil

    from tests.hub_server import HubServer

    repo = tmp_path / "hub" / "me5"
    shutil.copytree(tiny_model, repo)
    (repo / "onnx").mkdir()
    (repo / "onnx" / "model.onnx").write_bytes(b"\0" * 1000)
    (repo / "pytorch_model.bin").write_bytes(b"\0" * 1000)
    with HubServer({MULTILINGUAL_REPO: repo}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        yield server


@pytest.fixture
def data_dir(tmp_path: Path):
    """A fresh data dir; tests never touch the real user data dir."""
    from desktop_search.paths import resolve_data_dir

    return resolve_data_dir(tmp_path / "data")


@pytest.fixture(autouse=True)
def _no_real_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every default location at a temp dir, in case a test forgets --data-dir."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("DESKTOP_SEARCH_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))


@pytest.fixture(autouse=True)
def _keep_logging():
    """cli.main() reconfigures the root logger; put it back for the tests after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def make_pdf(path: Path, pages: list[str], title: str | None = None) -> Path:
    """Write a small text PDF with one string per page (pypdf only, no deps)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    for text in pages:
        page = writer.add_blank_page(width=612, height=792)
        font = DictionaryObject({
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        })
        page[NameObject("/Resources")] = DictionaryObject({
            NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})
        })
        lines = []
        y = 740
        for line in text.split("\n"):
            safe = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            lines.append(f"BT /F1 11 Tf 50 {y} Td ({safe}) Tj ET")
            y -= 14
        stream = DecodedStreamObject()
        stream.set_data("\n".join(lines).encode("latin-1", errors="replace"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    if title:
        writer.add_metadata({"/Title": title})
    with open(path, "wb") as fh:
        writer.write(fh)
    return path


def make_epub(path: Path, chapters: list[tuple[str, str]], title: str = "Test Book", author: str = "A. Author",
              language: str = "en") -> Path:
    """Write a small EPUB with ebooklib: (chapter title, body text) pairs."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("test-" + path.stem)
    book.set_title(title)
    book.set_language(language)
    book.add_author(author)
    items = []
    for i, (ctitle, body) in enumerate(chapters, 1):
        item = epub.EpubHtml(title=ctitle, file_name=f"chap_{i}.xhtml", lang=language)
        paras = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
        item.content = (f"<html><head><title>{ctitle}</title><style>p{{color:red}}</style></head>"
                        f"<body><h1>{ctitle}</h1>{paras}<script>var x = 'do not index me';</script></body></html>")
        book.add_item(item)
        items.append(item)
    book.toc = tuple(epub.Link(it.file_name, it.title, f"c{i}") for i, it in enumerate(items, 1))
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    epub.write_epub(str(path), book)
    return path


def scifact_slice(
    n_queries: int, n_files: int, split: str = "train", seed: int = 0,
) -> tuple[list[dict], dict[str, set[str]], list[Path]]:
    """The first ``n_queries`` queries of a split, their judged documents and filler.

    Returns (queries, qrels: query id -> judged doc ids, files). Every judged
    document of the chosen queries is among the files; the rest, up to
    ``n_files``, is a seeded sample of the other documents.
    """
    import random

    docmap: dict[str, str] = json.loads((SCIFACT / "docmap.json").read_text(encoding="utf-8"))
    qrels: dict[str, set[str]] = {}
    for line in (SCIFACT / f"qrels-{split}.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, doc_id, score = line.split("\t")
        if int(score) > 0 and doc_id in docmap:
            qrels.setdefault(qid, set()).add(doc_id)
    queries: list[dict] = []
    for line in (SCIFACT / f"queries-{split}.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        if str(q["id"]) in qrels:
            queries.append({"id": str(q["id"]), "text": q["text"]})
        if len(queries) == n_queries:
            break
    chosen = sorted({d for q in queries for d in qrels[q["id"]]})
    rest = sorted(set(docmap) - set(chosen))
    filler = random.Random(seed).sample(rest, max(0, n_files - len(chosen)))
    files = [SCIFACT / docmap[d] for d in chosen + sorted(filler)]
    return queries, {q["id"]: qrels[q["id"]] for q in queries}, files


def scifact_doc_id(path: str | Path) -> str:
    """A SciFact file's corpus id: the number before the first space of its name."""
    return Path(path).name.split(" ", 1)[0]
