#!/usr/bin/env python3
"""Training over several processes: the time each step spends exchanging with the other processes
(gathering the batch's embeddings, summing the gradients; waiting for the slowest included) against
the step's time, for the demo model and for CNN14 + BERT-medium's parameter count, with one process
(no exchange) beside it. Reads `step_s` and `exchange_s` from each run's log.jsonl.

    python3 benches/collective.py [--bin target/release/clap-tools] [--nprocs 2] [--iterations 12]

Needs nothing but the binary: the data is the demo corpus (`clap-tools demo --no-train`), the models
start from random weights (the work does not depend on them). On the CPU backend the processes share
the machine's cores, so a step of N processes also shows their competition for them.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BERT_MEDIUM = {  # prajjwal1/bert-medium's shape
    "architectures": ["BertModel"], "model_type": "bert", "vocab_size": 30522, "hidden_size": 512,
    "num_hidden_layers": 8, "num_attention_heads": 8, "intermediate_size": 2048, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512,
    "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
}

MODELS = {
    # configs/demo.toml's model
    "demo": """[model]\nshared_dim = 64\nmax_tokens = 30\n[model.audio]\nkind = "small_cnn"\n"""
            """channels = [16, 32, 64, 128]\ndim = 128\n[model.text]\nkind = "small"\ndir = "{text}"\ndim = 64\n""",
    # configs/cnn14_bertmedium.toml's model, random weights
    "cnn14_bertmedium": """[model]\nshared_dim = 1024\nmax_tokens = 30\n[model.audio]\nkind = "cnn14"\n"""
                        """[model.text]\nkind = "bert"\ndir = "{bert}"\npretrained = false\n""",
}


def config(work, data, model, batch, crop, iterations, run):
    text = MODELS[model].format(text=ROOT / "tests/fixtures/model/text/tokenizer", bert=work / "bert-medium")
    return f"""[data]
train_captions = ["{data}/tables/captions_train.parquet"]
train_waveforms = "{data}/packed/waveforms.parquet"
val_captions = ["{data}/tables/captions_val.parquet"]
val_waveforms = "{data}/packed/waveforms.parquet"
sample_rate = 32000
crop_seconds = {crop}
{text}
[optimizer]
lr = 1e-4
[schedule]
warmup_iterations = 1
total_iterations = {iterations}
[train]
batch_size = {batch}
val_interval = 100000
val_batch_size = 4
seed = 1
workers = 2
tensorboard = false
[checkpoint]
dir = "{run}"
every = 100000
keep = 1
"""


def run(binary, work, data, model, batch, crop, iterations, nprocs):
    name = f"{model}-{nprocs}"
    cfg = work / f"{name}.toml"
    cfg.write_text(config(work, data, model, batch, crop, iterations, work / name))
    cmd = [binary, "-q", "train", "--config", str(cfg)]
    if nprocs > 1:
        cmd = [binary, "-q", "launch", "--nprocs", str(nprocs), "--", "train", "--config", str(cfg)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    lines = [json.loads(l) for l in (work / name / "log.jsonl").read_text().splitlines()]
    steps = [l for l in lines if "step_s" in l][1:]  # the first step warms up
    step = statistics.median(l["step_s"] for l in steps)
    exchange = statistics.median(l["exchange_s"] for l in steps) if nprocs > 1 else 0.0
    return {"processes": nprocs, "step_s": step, "exchange_s": exchange, "exchange_share": exchange / step}


def parameters(binary, work, model):
    out = subprocess.run([binary, "-q", "train", "--config", str(work / f"{model}-1.toml"), "--dry-run"],
                         check=True, capture_output=True, text=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("model:"))
    return line.rsplit(";", 1)[1].replace("in all", "").strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "target/release/clap-tools"))
    ap.add_argument("--nprocs", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=12)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="clap-collective-"))
    data = work / "demo"
    subprocess.run([args.bin, "-q", "demo", "--out", str(data), "--clips", "60", "--no-train"], check=True,
                   stdout=subprocess.DEVNULL)
    (work / "bert-medium").mkdir()
    (work / "bert-medium/config.json").write_text(json.dumps(BERT_MEDIUM))
    (work / "bert-medium/vocab.txt").write_text((ROOT / "tests/fixtures/model/text/tokenizer/vocab.txt").read_text())
    report = {}
    for model, batch, crop, iterations in [("demo", 32, 1.5, args.iterations),
                                           ("cnn14_bertmedium", 4, 2.0, max(4, args.iterations // 3))]:
        rows = [run(args.bin, work, data, model, batch, crop, iterations, n) for n in (1, args.nprocs)]
        report[model] = {"parameters": parameters(args.bin, work, model), "batch": batch, "runs": rows}
        for r in rows:
            print(f"{model} ({report[model]['parameters']}), batch {batch}, {r['processes']} process(es): "
                  f"step {r['step_s'] * 1000:.1f} ms, exchange {r['exchange_s'] * 1000:.1f} ms "
                  f"({100 * r['exchange_share']:.0f} %)", file=sys.stderr)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
