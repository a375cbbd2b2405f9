#!/usr/bin/env bash
# Regenerates these clips: a second voice (espeak-ng's en-us with the female variant f3) for the
# speaker-similarity test, which checks that clips of the smoke voice score above these.
# Needs espeak-ng and sox (Debian: apt-get install espeak-ng sox). Output: 16 kHz mono 16-bit FLAC
# with a .txt transcript beside each (the "folder of pairs" dataset format).
set -euo pipefail
cd "$(dirname "$0")"
texts=(
  "The weather is lovely today."
  "Numbers like forty two are easy to say."
  "Where did you put the keys?"
  "Reading aloud takes a little practice."
)
for i in "${!texts[@]}"; do
  id=$(printf "other_%03d" $((i + 1)))
  espeak-ng -v en-us+f3 -s 165 -w "$id.raw.wav" "${texts[$i]}"
  sox "$id.raw.wav" -r 16000 -c 1 -b 16 "$id.flac" silence 1 0.02 1% reverse silence 1 0.02 1% reverse
  rm "$id.raw.wav"
  printf '%s\n' "${texts[$i]}" > "$id.txt"
done
