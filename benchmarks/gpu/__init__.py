"""The measurements of benchmarks/gpu_check.sh (issue 14): a harness (harness.py, device.py) and one module per
step (steps/). Run through gpu_check.sh, which sets the paths; by hand (after the script has unpacked the corpus):

    python benchmarks/gpu --device cuda --model M --scifact S --work /tmp/gpu-check-work --results r.jsonl \\
        --gpu-log g.csv index --replicas 40

Every step also runs on the CPU at tiny sizes (tests/benchmarks/test_gpu_check.py), so the script works the day a
GPU is there.
"""
