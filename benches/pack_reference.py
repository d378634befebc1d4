#!/usr/bin/env python3
"""What the reference's data/utils/pack_waveform.py does, for the benchmark: read each file of a wav.csv
with soundfile, average the channels, librosa.resample to the target rate, store float16 in one HDF5
file, one dataset per audio_id; decoding in a pool of --jobs processes, writing in the main process.

Usage: pack_reference.py WAV_CSV OUT.h5 --sample-rate SR --jobs N [--res-type soxr_hq|kaiser_best]
"""
import argparse
import csv
from multiprocessing import Pool

import h5py
import librosa
import numpy as np
import soundfile as sf

ARGS = None


def load(row):
    audio_id, fname = row
    try:
        y, sr = sf.read(fname, dtype="float32")
        if y.ndim > 1:
            y = y.mean(1)
        y = librosa.resample(y, orig_sr=sr, target_sr=ARGS.sample_rate, res_type=ARGS.res_type)
        return audio_id, y.astype(np.float16)
    except Exception as e:  # the reference logs and goes on
        print(f"{fname}: {e}")
        return None, None


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("wav_csv")
    ap.add_argument("output")
    ap.add_argument("--sample-rate", type=int, required=True)
    ap.add_argument("--jobs", type=int, default=2)
    # soxr_hq: librosa's default since 0.10; kaiser_best (resampy): its default when the reference's
    # pack_waveform.py was written, which called librosa.core.resample(y, sr, target) positionally.
    ap.add_argument("--res-type", default="soxr_hq")
    ARGS = ap.parse_args()
    with open(ARGS.wav_csv, newline="") as f:
        rows = [(r["audio_id"], r["file_name"]) for r in csv.DictReader(f, delimiter="\t")]
    with h5py.File(ARGS.output, "w") as store, Pool(ARGS.jobs) as pool:
        for audio_id, waveform in pool.imap(load, rows, chunksize=1):
            if audio_id is not None:
                store[audio_id] = waveform


if __name__ == "__main__":
    main()
