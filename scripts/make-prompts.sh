#!/usr/bin/env bash
# Speaks the demo unit's prompts with espeak-ng and makes them 8 kHz 16-bit
# mono WAV with sox; music on hold is synthesised by sox. Writes only what is
# missing (pass --force to remake everything).
set -euo pipefail
cd "$(dirname "$0")/.."
out=units/prompts/demo
mkdir -p "$out"
force=0; [ "${1:-}" = "--force" ] && force=1

speak() { # name text
  local name=$1 text=$2 file="$out/$1.wav"
  [ $force = 0 ] && [ -s "$file" ] && return 0
  local raw; raw=$(mktemp --suffix=.wav)
  espeak-ng -v ca -s 150 -w "$raw" "$text"
  sox -q "$raw" -r 8000 -c 1 -b 16 -e signed-integer "$file" norm -3
  rm -f "$raw"
}

speak welcome "Benvinguts al Servei d'Informació de la Universitat."
speak menu "Per a informació general, premeu u. Per deixar un missatge, premeu dos. Per parlar amb la recepció, premeu tres. Per tornar a escoltar aquestes opcions, premeu zero."
speak invalid "Aquesta opció no és vàlida."
speak queue_intro "Tots els nostres agents estan ocupats. Us atendrem de seguida. Per deixar un missatge, premeu asterisc."
speak voicemail_greeting "Deixeu el vostre missatge després del senyal. Quan acabeu, premeu coixinet o pengeu."
speak thanks "Gràcies. Hem rebut el vostre missatge."
speak closed "Ara som fora de l'horari d'atenció. L'horari és de dilluns a dijous, de vuit a vuit, i divendres de vuit a tres."
speak holiday "Avui és festiu. El servei està tancat."
speak transfer "Us passem la trucada."
speak unavailable "La recepció no està disponible en aquest moment."

moh="$out/moh.wav"
if [ $force = 1 ] || [ ! -s "$moh" ]; then
  # A slow plucked arpeggio, about ten seconds, looped by the node.
  tmp=$(mktemp -d)
  i=0
  for note in C4 E4 G4 C5 A4 F4 D4 G4 E4 C4 G3 C4; do
    sox -q -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/$(printf %02d $i).wav" synth 0.8 pluck "$note" fade 0 0.8 0.3 vol 0.5
    i=$((i + 1))
  done
  sox -q "$tmp"/*.wav "$moh"
  rm -rf "$tmp"
fi
echo "prompts in $out: $(ls "$out" | wc -l) files"
