#!/usr/bin/env bash
# Regenerates this tiny LJSpeech-style data set (used by recipes/smoke.toml and the tests).
# Needs espeak-ng and sox (Debian: apt-get install espeak-ng sox). Output: 22.05 kHz mono 16-bit WAV.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p wavs
voices=(en-us en-gb)
i=0
while IFS='|' read -r id text _; do
  voice=${voices[$((i % 2))]}
  espeak-ng -v "$voice" -s 175 -w "wavs/$id.raw.wav" "$text"
  sox "wavs/$id.raw.wav" -r 22050 -c 1 -b 16 "wavs/$id.wav" silence 1 0.02 1% reverse silence 1 0.02 1% reverse
  rm "wavs/$id.raw.wav"
  i=$((i + 1))
done < metadata.csv
