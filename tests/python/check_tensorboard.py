"""Our TensorBoard event files, read by TensorBoard's own reader: a tiny training run, resumed once
from a middle checkpoint with more steps, must show every scalar's steps exactly once, with the
values metrics.jsonl holds (as float32, the type of simple_value).

usage: check_tensorboard.py BINARY CONFIG VOCAB WORK_DIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys

try:
    from tensorboard.backend.event_processing import event_accumulator, event_file_loader
    from tensorboard.compat.proto import event_pb2
except ImportError as e:
    sys.exit(f"FAIL: cannot import tensorboard ({e}); `make deps` (its deps-python step) installs it into "
             f"/opt/visualrwkv/python, which this test puts on PYTHONPATH (now: {os.environ.get('PYTHONPATH')!r})")

binary, config, vocab, work = sys.argv[1:5]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
data = os.path.join(work, "data.json")
colours = ["red", "green", "blue", "white"]
with open(data, "w") as f:
    json.dump([{"id": str(i), "conversations": [
        {"from": "human", "value": f"Name colour {i % 4}."},
        {"from": "gpt", "value": f"It is {colours[i % 4]}."}]} for i in range(16)], f)
out = os.path.join(work, "run")


def train(steps, *extra):
    cmd = [binary, "train", config, "--set", f"data.file={data}", "--set", f"checkpoint.output_dir={out}",
           "--set", f"tokenizer.path={vocab}", "--set", "data.num_workers=1", "--set", "log.every_steps=1",
           "--set", "checkpoint.every_steps=3", "--set", "checkpoint.keep_last=3", "--set", f"train.steps={steps}",
           *extra]
    run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if run.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {run.returncode}:\n{run.stdout}")


# Six steps (checkpoints at 3 and 6), then back to step 3 and on to 9: steps 4-6 are logged twice
# by the trainer, and the first run's must be gone.
train(6)
train(9, "--resume", os.path.join(out, "checkpoints", "step_00000003"))

with open(os.path.join(out, "metrics.jsonl")) as f:
    metrics = [json.loads(line) for line in f]
steps = [m["step"] for m in metrics]
if steps != list(range(1, 10)):
    sys.exit(f"FAIL: metrics.jsonl's steps are {steps}, not 1..9")

folder = os.path.join(out, "tensorboard")
files = sorted(os.path.join(folder, n) for n in os.listdir(folder) if "tfevents" in n)
counts, versions = {}, []
for path in files:
    # The raw records, each checked against its CRCs by TensorBoard's record reader.
    for record in event_file_loader.RawEventFileLoader(path).Load():
        event = event_pb2.Event.FromString(record)
        if event.HasField("file_version"):
            versions.append(event.file_version)
        for value in event.summary.value:
            if not value.HasField("simple_value"):
                sys.exit(f"FAIL: {path}: {value.tag} at step {event.step} has no simple_value")
            counts.setdefault(value.tag, []).append(event.step)
if not versions or any(v != "brain.Event:2" for v in versions):
    sys.exit(f"FAIL: the files' versions are {versions}")
expected_tags = {"train/loss", "train/lr", "train/grad_norm", "perf/tokens_per_s", "perf/samples_per_s",
                 "perf/memory_bytes", "time/elapsed_s", "time/eta_s", "data/skipped/seen", "data/skipped/skipped"}
missing = expected_tags - set(counts)
if missing:
    sys.exit(f"FAIL: no scalars for {sorted(missing)} (found {sorted(counts)})")
for tag, tag_steps in sorted(counts.items()):
    if sorted(tag_steps) != list(range(1, 10)):
        sys.exit(f"FAIL: {tag}'s steps in the event files are {sorted(tag_steps)}, not 1..9 once each")

# What TensorBoard shows: the accumulator over the folder.
acc = event_accumulator.EventAccumulator(folder, size_guidance={event_accumulator.SCALARS: 0})
acc.Reload()
f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
for key, tag in [("loss", "train/loss"), ("lr", "train/lr"), ("grad_norm", "train/grad_norm")]:
    shown = [(s.step, s.value) for s in acc.Scalars(tag)]
    want = [(m["step"], f32(m[key])) for m in metrics]
    if shown != want:
        sys.exit(f"FAIL: TensorBoard shows {tag} as {shown}, metrics.jsonl has {want}")
print(f"ok: {len(files)} event file(s), {len(counts)} tags, steps 1..9 once each, values equal metrics.jsonl")
