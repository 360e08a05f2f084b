#!/usr/bin/env bash
# Everything issues 14 and 25 ask of a CUDA machine, in one call of the device tool (see benchmarks/README.md, "GPU"):
# install the project and the carried dependencies offline on top of the machine's CUDA torch, check that
# `desktop-search status` names the GPU, then measure (benchmarks/gpu/, one module per step): a cold index of replicated
# SciFact against the bare fp16 forward with the GPU's busy share and the stages' times; the pipeline around a free
# forward on all the cores (main-process CPU a passage); fp16 against fp32 nDCG@10 and top 10; query latency on the
# GPU against the CPU, with where the slowest queries' time goes; the out-of-memory fallback; a sweep of
# extraction workers and token budgets. Needs .gpu-carry/ from benchmarks/gpu_prepare.sh.
#
#   benchmarks/gpu_check.sh                      # on the device machine: figures in $OUT
#   benchmarks/gpu_check.sh --device cpu         # the same steps at small sizes, to test the script anywhere
#   benchmarks/gpu_check.sh --only sweep --budget 300   # a second call: install (skipped if still there) + named steps
#   options: --budget SECONDS (total, default 360; 600 on cpu)  --only STEP,...  --no-install  --out DIR
#   steps, in order: status index pipeline quality latency oom sweep (the sweep gets whatever time is left)
#
# Each step is timed, logged to $OUT/steps.log and bounded by what is left of the budget; a failed step does
# not stop the next. $OUT gets 7 files (the device tool returns 8 at most): summary.txt, results.jsonl,
# steps.tsv, steps.log, env.txt, status.json, gpu_util.csv.
set -u
cd "$(dirname "$0")/.."
DEVICE=cuda
BUDGET=
INSTALL=1
ONLY=status,index,pipeline,quality,latency,oom,sweep
OUT=${OUT:-/tmp/gpu-check-out}
while [ $# -gt 0 ]; do
    case $1 in
        --device) DEVICE=$2; shift 2 ;;
        --budget) BUDGET=$2; shift 2 ;;
        --no-install) INSTALL=0; shift ;;
        --only) ONLY=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
if [ "$DEVICE" = cpu ]; then
    BUDGET=${BUDGET:-600}
    INSTALL=0 # the CPU test runs in the development environment, which has everything
else
    BUDGET=${BUDGET:-360}
fi
START=$(date +%s)
CARRY=$PWD/.gpu-carry
WORK=${WORK:-/tmp/gpu-check-work}
MODEL=$WORK/model/all-MiniLM-L6-v2
PY=${PYTHON:-python3}
mkdir -p "$OUT"
rm -rf "$WORK"
mkdir -p "$WORK/scifact" "$WORK/model"
LOG=$OUT/steps.log
STEPS=$OUT/steps.tsv
RESULTS=$OUT/results.jsonl
: >"$LOG"
: >"$STEPS"
: >"$RESULTS"
echo "step,unix_time,gpu_busy_pct,gpu_memory_mib" >"$OUT/gpu_util.csv"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 TOKENIZERS_PARALLELISM=false
[ "$INSTALL" = 1 ] || export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
# The steps run as `bash -c` under timeout, so what they use is exported.
export DEVICE INSTALL OUT CARRY MODEL WORK PY RESULTS

check() {
    "$PY" benchmarks/gpu --device "$DEVICE" --model "$MODEL" --scifact "$WORK/scifact" \
        --work "$WORK" --results "$RESULTS" --gpu-log "$OUT/gpu_util.csv" "$@"
}

left() { echo $((BUDGET - ($(date +%s) - START))); }

# step NAME SECONDS CMD...: run CMD with at most SECONDS (less if the budget is nearly spent), log it, go on.
step() {
    local name=$1 want=$2 limit rc t0 t1
    shift 2
    case ",$ONLY,install," in *,"$name",*) ;; *) return ;; esac
    limit=$(($(left) - 20)) # 20 s kept for the summary
    [ "$want" -lt "$limit" ] && limit=$want
    if [ "$limit" -lt 10 ]; then
        echo "=== $name: SKIPPED, time budget spent" | tee -a "$LOG"
        printf '%s\tskipped\t0\n' "$name" >>"$STEPS"
        return
    fi
    echo "=== $name (at most ${limit} s) $(date -u +%H:%M:%S)" | tee -a "$LOG"
    t0=$(date +%s%N)
    timeout -k 10 "$limit" bash -c '"$@"' "$name" "$@" 2>&1 | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    t1=$(($(date +%s%N) - t0))
    [ "$rc" = 124 ] && echo "=== $name: TIMED OUT after ${limit} s" | tee -a "$LOG"
    printf '%s\t%s\t%d.%d\n' "$name" "$rc" $((t1 / 1000000000)) $((t1 / 100000000 % 10)) | tee -a "$STEPS"
}

env_info() {
    date -u
    uname -a
    nproc
    free -g
    nvidia-smi 2>&1 || echo "(no nvidia-smi)"
    "$PY" -c 'import sys, torch; print(sys.version); print("torch", torch.__version__, "CUDA", torch.version.cuda)'
}

install() {
    set -e
    # Python's tarfile reads the xz archive whether or not the machine has xz.
    "$PY" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter="data")' \
        "$CARRY/scifact/library.tar.xz" "$WORK/scifact"
    tar -xzf "$CARRY/model.tar.gz" -C "$WORK/model"
    cp "$CARRY"/scifact/*.jsonl "$CARRY"/scifact/*.tsv "$WORK/scifact/"
    echo "library: $(find "$WORK/scifact/library" -type f | wc -l) files"
    if [ "$INSTALL" = 0 ]; then
        echo "no install (--no-install or --device cpu): using $PY and PYTHONPATH=$PWD"
    else
        local pip=("$PY" -m pip install -q --no-index --no-deps --no-cache-dir --disable-pip-version-check)
        if "$PY" -c 'import desktop_search, hnswlib' 2>/dev/null; then
            echo "already installed (a warm machine): reinstalling the project only"
        else
            "${pip[@]}" "$CARRY"/wheels/*.whl
            "${pip[@]}" --no-build-isolation "$CARRY"/wheels/hnswlib-*.tar.gz # no wheels exist: builds here
        fi
        "${pip[@]}" --no-build-isolation --force-reinstall . # hatchling from the carried wheels; no PySide6
        (cd /tmp && "$PY" -c 'import desktop_search, hnswlib, pypdfium2, pypdf, ebooklib, sqlalchemy, platformdirs
print("installed", desktop_search.__file__)')
    fi
    check env # the versions, into results.jsonl
}

status() {
    local cli
    cli=$(dirname "$("$PY" -c 'import sys; print(sys.executable)')")/desktop-search
    [ -x "$cli" ] && [ "$INSTALL" = 1 ] || cli="$PY -m desktop_search"
    echo "\$ $cli --data-dir $WORK/status-data --model $MODEL status"
    $cli --data-dir "$WORK/status-data" --model "$MODEL" status || return 1
    $cli --data-dir "$WORK/status-data" --model "$MODEL" status --json >"$OUT/status.json" || return 1
    check status "$OUT/status.json"
}
export -f check install status

if [ "$DEVICE" = cpu ]; then
    # Small sizes, and small batches so that the stop after --seconds comes soon on a slow CPU.
    INDEX=(--replicas 1 --seconds 10 --bare-cap 200 --batch-chunks 32)
    PIPELINE=(--replicas 1 --files 300)
    QUALITY=(--queries 10 --distractors 30)
    LATENCY=(--queries 30)
    OOM=(--budget 4096 --passages 16 --cpu-cap-tokens 1024)
    SWEEP=(--replicas 1 --workers 1 2 --budgets 4096 --seconds 6 --min-seconds 4 --batch-chunks 32)
else
    INDEX=(--replicas 40 --seconds 65)
    PIPELINE=(--replicas 2)
    QUALITY=()
    LATENCY=()
    OOM=()
    SWEEP=(--replicas 6 --workers 8 16 --budgets 16384 131072 --seconds 12)
fi

echo "GPU check on $DEVICE, budget $BUDGET s, steps $ONLY, output in $OUT" | tee -a "$LOG"
env_info >"$OUT/env.txt" 2>&1
tail -1 "$OUT/env.txt"
step install 180 install
step status 60 status
step index 170 check index "${INDEX[@]}"
step pipeline 90 check pipeline "${PIPELINE[@]}"
step quality 150 check quality "${QUALITY[@]}"
step latency 60 check latency "${LATENCY[@]}"
step oom 60 check oom "${OOM[@]}"
step sweep $(($(left) - 25)) check sweep "${SWEEP[@]}" --time-limit $(($(left) - 35))
check summary --steps "$STEPS" --write "$OUT/summary.txt" 2>&1 | tee -a "$LOG"
echo "done in $(($(date +%s) - START)) s; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
