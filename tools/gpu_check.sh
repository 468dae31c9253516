#!/usr/bin/env bash
# The first GPU run in one command. Two verbs:
#
#   tools/gpu_check.sh prepare   here, beside ../shared: packs into .gpu-check/ (git-ignored) what the
#                                GPU lab lacks: the model fixtures, the World vocabulary, and the
#                                header-only C++ dependencies (nlohmann/json, spdlog + fmt, Catch2)
#   tools/gpu_check.sh run [OUT] anywhere with PyTorch in python3: builds the CUDA variant against that
#                                PyTorch, then runs, each timed, into OUT/gpu_check.json (default
#                                .gpu-check/out):
#     1. wkv6_cuda_selftest: the kernels against a float64 reference, strong decay element by element
#     2. vrwkv_tests [cuda]: wkv6(), wkv7() and wkv7_chunked() with autograd on CUDA against the CPU kernels, RWKV-7 on
#        CUDA against the float64 reference, the model fixtures (.gpu-check/shared or ../shared, and
#        VRWKV_MODEL_FIXTURE when set) on CUDA in float32
#     3. 50 steps of `visualrwkv train` (configs/tiny, synthetic pictures) on the GPU through NCCL at
#        world size 1, in float32 and in bf16: the loss must fall; 2 ranks over NCCL where 2 GPUs exist
#     4. bench_train_step at the original's settings (SPEC section 10): the trainer's own step (StepRunner)
#     5. bench_eval with 1B6 shapes (random weights): batched recurrent decoding at batch 1 and 32
#        against the original's re-run of the whole sequence per token, 128 new tokens
#     6. bench_wkv7 at issue 16's shape (B 4, T 2048, 12 heads of 64, bf16): one layer's WKV7 forward +
#        backward on CUDA, the per-step kernel and the chunked formulation side by side, against a
#        per-step torch-op loop (the goal: at most 1.0 ms)
#     7. bench_train_step for VisualRWKV-7 at the 0.1B recipe (configs/v7-0b1: T 2048, K 1024, stage 1
#        batch 32, stage 2 batch 16, the three full-size towers), last and at most 4 minutes
# On a machine without a GPU it builds, runs what needs none and names each step it skipped.
# Exit status: 0 when every step that ran passed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pack="$root/.gpu-check"
cd "$root"

prepare() {
  local shared="${VRWKV_SHARED_DIR:-$root/../shared}"
  [[ -d "$shared/fixtures/model_dev" ]] || { echo "prepare: $shared/fixtures/model_dev not found" >&2; exit 1; }
  rm -rf "$pack" && mkdir -p "$pack/shared/fixtures" "$pack/shared/data" "$pack/deps/include" "$pack/deps/lib"
  cp -r "$shared/fixtures/model_dev" "$pack/shared/fixtures/"
  cp "$shared/data/rwkv_vocab_v20230424.txt" "$pack/shared/data/"
  # Header-only copies (spdlog and fmt are compiled header-only there, see cmake/dependencies.cmake);
  # Catch2 with its CMake package, which is relocatable.
  for dir in nlohmann spdlog fmt catch2; do
    [[ -d "/usr/include/$dir" ]] || { echo "prepare: /usr/include/$dir not found (make deps)" >&2; exit 1; }
    cp -r "/usr/include/$dir" "$pack/deps/include/"
  done
  cp /usr/lib/libCatch2WithMain.a "$pack/deps/lib/" 2>/dev/null || true
  mkdir -p "$pack/deps/lib/cmake" && cp -r /usr/lib/cmake/Catch2 "$pack/deps/lib/cmake/"
  du -sh "$pack"
  echo "prepared $pack: carry it with the checkout (device tool: carry [\".gpu-check\"])"
}

# ---------------------------------------------------------------------------------------------
# run: every step appends one record to $results; the JSON is written at the end.
out="" results="" failed=0
record() {  # name status seconds details(json or "") [figures json]
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" "${5:-{\}}" >> "$results"
  printf '%-28s %-8s %6ss  %s\n' "$1" "$2" "$3" "${4:-}"
  [[ "$2" == fail ]] && failed=1
  return 0
}

timed() {  # name log command...: runs, records pass/fail with the time
  local name="$1" log="$2"; shift 2
  local start=$SECONDS
  if "$@" > "$log" 2>&1; then
    record "$name" pass $((SECONDS - start)) "log $(basename "$log")"
  else
    record "$name" fail $((SECONDS - start)) "log $(basename "$log"), last line: $(tail -n 1 "$log" | tr '\t' ' ')"
  fi
}

# LLaVA-format samples about synthetic pictures: one colour fact each, as much as 50 steps need.
write_train_data() {
  python3 - "$1" <<'PY'
import json, sys
colours = ["red", "green", "blue", "yellow"]
samples = [{"id": f"s{i}", "image": f"p/{i}.jpg",
            "conversations": [{"from": "human", "value": "<image>\nWhat colour is sample %d?" % (i % 4)},
                              {"from": "gpt", "value": "It is %s." % colours[i % 4]}]} for i in range(256)]
json.dump(samples, open(sys.argv[1], "w"))
PY
}

train_run() {  # name precision world extra...
  local name="$1" precision="$2" world="$3"; shift 3
  local dir="$out/$name" start=$SECONDS port=$((29400 + RANDOM % 500))
  mkdir -p "$dir"
  local cmd=("$build/app/visualrwkv" train configs/tiny/stage2.json --set "data.file=$out/train_data.json"
             --set data.image.synthetic=true --set "tokenizer.path=$shared/data/rwkv_vocab_v20230424.txt"
             --set "checkpoint.output_dir=$dir/run" --set train.steps=50 --set log.every_steps=1
             --set "train.precision=$precision" --set "train.device=$device" --set checkpoint.every_steps=50 "$@")
  local rc=0 pids=()
  for ((r = 0; r < world; r++)); do
    if [[ "$device" == cuda ]]; then
      # torchrun's variables: even one rank gets its NCCL process group.
      RANK=$r LOCAL_RANK=$r WORLD_SIZE=$world MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "${cmd[@]}" > "$dir/rank$r.log" 2>&1 &
    else
      "${cmd[@]}" > "$dir/rank$r.log" 2>&1 &
    fi
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  local verdict
  verdict=$(python3 - "$dir/run" "$rc" <<'PY'
import json, sys
run, rc = sys.argv[1], int(sys.argv[2])
try:
    losses = [json.loads(l)["loss"] for l in open(run + "/metrics.jsonl")]
    summary = json.load(open(run + "/summary.json"))
except Exception as e:
    print("fail\tno metrics (%s)\t{}" % e); sys.exit()
first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
ok = rc == 0 and len(losses) == 50 and last < 0.8 * first
fig = {"loss_first5": first, "loss_last5": last, "tokens_per_s": summary.get("tokens_per_s")}
print("%s\tloss %.3f -> %.3f over %d steps, exit %d\t%s" % ("pass" if ok else "fail", first, last, len(losses), rc, json.dumps(fig)))
PY
)
  IFS=$'\t' read -r status detail figures <<< "$verdict"
  record "$name" "$status" $((SECONDS - start)) "$detail" "$figures"
}

run() {
  out="${1:-$pack/out}"
  mkdir -p "$out"
  results="$out/results.tsv"
  : > "$results"
  build="${GPU_CHECK_BUILD:-$root/build-gpu}"  # another build folder of the CUDA variant may be reused
  shared="$pack/shared"
  [[ -d "$shared" ]] || shared="${VRWKV_SHARED_DIR:-$root/../shared}"

  # PyTorch: python3's, or (on the CPU machines) the one `make deps` installed (TORCH2_DIR, which
  # `make gpu-check` passes). Its folder is the
  # prefix, so that its lib/ is searched before any other libtorch on the machine.
  local torch_prefix find_torch='import os, torch; print(os.path.dirname(torch.__file__))'
  torch_prefix=$(python3 -c "$find_torch" 2>/dev/null)
  if [[ -z "$torch_prefix" && -n "${TORCH2_DIR:-}" && -d "${TORCH2_DIR:-}" ]]; then
    export PYTHONPATH=$TORCH2_DIR${PYTHONPATH:+:$PYTHONPATH}
    torch_prefix=$(python3 -c "$find_torch")
  fi
  [[ -n "$torch_prefix" ]] || { echo "gpu_check: python3 cannot import torch" >&2; exit 1; }
  local gpus
  gpus=$(python3 -c 'import torch; print(torch.cuda.device_count())')
  device=cpu
  [[ "$gpus" -ge 1 ]] && device=cuda
  python3 - "$out/machine.json" <<'PY'
import json, platform, sys, torch
info = {"torch": torch.__version__, "cuda": torch.version.cuda, "gpus": torch.cuda.device_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "host": platform.node()}
json.dump(info, open(sys.argv[1], "w"))
print("machine:", info)
PY

  # 0. Build: only sm_90 where the GPU is a Hopper (the lab), else the default list.
  local archs="80;90" generator=() spm=ON
  if [[ "$device" == cuda ]]; then
    archs=$(python3 -c 'import torch; m, n = torch.cuda.get_device_capability(0); print(f"{m}{n}")')
  fi
  # Ninja for a new build folder (a folder keeps the generator it was made with).
  [[ ! -f "$build/CMakeCache.txt" ]] && command -v ninja > /dev/null && generator=(-G Ninja)
  [[ -f /usr/include/sentencepiece_processor.h ]] || spm=OFF
  local start=$SECONDS
  if cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
       -DCMAKE_PREFIX_PATH="$torch_prefix;$pack/deps" -DVRWKV_WITH_OPENCV=OFF -DVRWKV_WITH_SENTENCEPIECE=$spm \
       -DVRWKV_CUDA_ARCHITECTURES="$archs" -DVRWKV_SHARED_DIR="$shared" > "$out/build.log" 2>&1 &&
     cmake --build "$build" -j "$(nproc)" \
       --target visualrwkv vrwkv_tests wkv6_cuda_selftest bench_train_step bench_eval bench_wkv7 \
       >> "$out/build.log" 2>&1; then
    record build pass $((SECONDS - start)) "CUDA architectures $archs, sentencepiece $spm"
  else
    record build fail $((SECONDS - start)) "$(grep -m 3 -E 'error|Error' "$out/build.log" | tr '\t\n' '  ')"
    write_json; exit 1
  fi

  if [[ "$device" == cuda ]]; then
    timed wkv6_cuda_selftest "$out/selftest.log" "$build/lib/model/cuda/wkv6_cuda_selftest"
    timed cuda_tests "$out/cuda_tests.log" "$build/tests/vrwkv_tests" "[cuda]"
  else
    record wkv6_cuda_selftest skipped 0 "no GPU"
    record cuda_tests skipped 0 "no GPU"
  fi

  write_train_data "$out/train_data.json"
  if [[ "$device" == cuda ]]; then
    train_run train_nccl_fp32 fp32 1
    train_run train_nccl_bf16 bf16 1
    if [[ "$gpus" -ge 2 ]]; then train_run train_nccl_2ranks bf16 2 --set train.micro_batch_size=2
    else record train_nccl_2ranks skipped 0 "one GPU"; fi
  else
    # Without a GPU: the same run on the CPU, one process (this build has no Gloo).
    train_run train_cpu_fp32 fp32 1
    record train_nccl skipped 0 "no GPU"
  fi

  if [[ "$device" == cuda ]]; then
    local start=$SECONDS
    if "$build/bench/bench_train_step" --device cuda > "$out/bench.log" 2>&1; then
      record bench_train_step pass $((SECONDS - start)) "$(grep -E 'stage [12]' "$out/bench.log" | tr '\n' ';')"
    else
      record bench_train_step fail $((SECONDS - start)) "$(tail -n 1 "$out/bench.log")"
    fi
  else
    record bench_train_step skipped 0 "no GPU (the CPU figures: make bench)"
  fi
  if [[ "$device" == cuda ]]; then
    local start=$SECONDS
    if "$build/bench/bench_eval" --device cuda --model "$root/configs/model/1b6.json" --questions 64 \
         --rerun-questions 2 --batches 1,32 > "$out/bench_eval.log" 2>&1; then
      record bench_eval pass $((SECONDS - start)) "$(grep -E '^(rerun|recurrent)' "$out/bench_eval.log" | tr '\n' ';')"
    else
      record bench_eval fail $((SECONDS - start)) "$(tail -n 1 "$out/bench_eval.log")"
    fi
  else
    record bench_eval skipped 0 "no GPU (the CPU figures: make bench)"
  fi
  if [[ "$device" == cuda ]]; then
    local start=$SECONDS
    if "$build/bench/bench_wkv7" --device cuda --dtype bf16 --batch 4 --tokens 2048 --reps 10 \
         > "$out/bench_wkv7.log" 2>&1; then
      record bench_wkv7 pass $((SECONDS - start)) "$(grep -E 'kernel|chunked|loop|agreement' "$out/bench_wkv7.log" | tr '\n' ';')"
    else
      record bench_wkv7 fail $((SECONDS - start)) "$(tail -n 1 "$out/bench_wkv7.log")"
    fi
  else
    record bench_wkv7 skipped 0 "no GPU (the CPU figures: make bench)"
  fi
  if [[ "$device" == cuda ]]; then
    local start=$SECONDS
    if timeout 240 "$build/bench/bench_train_step" --device cuda --model "$root/configs/v7-0b1/stage1.json" \
         --ctx 2048 --stage1-batch 32 --stage2-batch 16 --steps 2 > "$out/bench_v7.log" 2>&1; then
      record bench_train_step_v7 pass $((SECONDS - start)) "$(grep -E 'stage [12]' "$out/bench_v7.log" | tr '\n' ';')"
    else
      record bench_train_step_v7 fail $((SECONDS - start)) "$(tail -n 1 "$out/bench_v7.log")"
    fi
  else
    record bench_train_step_v7 skipped 0 "no GPU (the CPU figures: make bench)"
  fi
  write_json
  exit $failed
}

write_json() {
  python3 - "$results" "$out/machine.json" "$out/gpu_check.json" <<'PY'
import json, sys
steps = []
for line in open(sys.argv[1]):
    name, status, seconds, details, figures = line.rstrip("\n").split("\t")
    steps.append({"name": name, "status": status, "seconds": int(seconds), "details": details,
                  "figures": json.loads(figures or "{}")})
report = {"machine": json.load(open(sys.argv[2])), "steps": steps,
          "passed": all(s["status"] != "fail" for s in steps),
          "skipped": [s["name"] for s in steps if s["status"] == "skipped"]}
json.dump(report, open(sys.argv[3], "w"), indent=1)
print("wrote", sys.argv[3], "- passed" if report["passed"] else "- FAILED", "; skipped:", report["skipped"])
PY
}

case "${1:-}" in
  prepare) prepare ;;
  run) shift; run "$@" ;;
  *) echo "usage: tools/gpu_check.sh prepare | run [OUT]" >&2; exit 2 ;;
esac
