#!/usr/bin/env bash
# The audio training split walloc's audio model trains on and benchmarks/audio_rd.py evaluates
# on: every file of ../shared/data/audio (sorted), every 6th one (from the 3rd) held out in val/,
# as symbolic links in runs/audio-split/{train,val}.  runs/ is git-ignored; rerun it anywhere.
set -euo pipefail
src=$(cd "${1:-../shared/data/audio}" && pwd)
dst=${2:-runs/audio-split}
rm -rf "$dst" && mkdir -p "$dst/train" "$dst/val"
i=0
while IFS= read -r f; do
    name=$(echo "${f#"$src"/}" | tr / _)
    if (( i % 6 == 2 )); then ln -s "$f" "$dst/val/$name"; else ln -s "$f" "$dst/train/$name"; fi
    i=$((i + 1))
done < <(find "$src" -type f \( -name '*.wav' -o -name '*.flac' \) | LC_ALL=C sort)
echo "$(ls "$dst/train" | wc -l) training and $(ls "$dst/val" | wc -l) held-out files in $dst"
