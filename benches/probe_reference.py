#!/usr/bin/env python3
"""What a Python pipeline in the reference's stack does to get a clips table: list the audio files of a
folder (as data/utils/prepare_wav_csv.py does), read each header with soundfile.info in a process pool,
and write the table as Parquet.

Usage: probe_reference.py AUDIO_DIR OUT.parquet --jobs N
"""
import argparse
from multiprocessing import Pool
from pathlib import Path

import polars as pl
import soundfile as sf

EXTENSIONS = {".wav", ".flac"}


def probe(path):
    try:
        info = sf.info(str(path))
        return dict(audio_id=path.name, file_name=str(path.absolute()), sample_rate=info.samplerate,
                    channels=info.channels, frames=info.frames, duration=info.duration,
                    bytes=path.stat().st_size, probe_error=None)
    except Exception as e:  # the reference logs and goes on
        return dict(audio_id=path.name, file_name=str(path.absolute()), sample_rate=None, channels=None,
                    frames=None, duration=None, bytes=path.stat().st_size, probe_error=str(e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("audio_dir")
    ap.add_argument("output")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    files = sorted(p for p in Path(args.audio_dir).iterdir() if p.suffix.lower() in EXTENSIONS)
    with Pool(args.jobs) as pool:
        rows = pool.map(probe, files, chunksize=64)
    pl.DataFrame(rows).write_parquet(args.output)


if __name__ == "__main__":
    main()
