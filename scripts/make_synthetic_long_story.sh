#!/usr/bin/env bash
# Makes assets/synthetic_long_story_female.ogg: a ~5-minute story read by espeak-ng, for the page's
# examples and the browser test's timing. Synthetic speech, written for this project; it carries no
# truth label. Needs espeak-ng and sox (Debian packages). The voice (en-us+f2, pitch 55) has a median F0 near
# 200 Hz, in the female range (espeak's en-gb+f3, used before, sat near 107 Hz: a male-range voice).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
paragraphs=(
"Last autumn my brother and I decided to walk the old canal path from the town where we grew up to the coast. It is about forty kilometres, and we gave ourselves three days, which everybody told us was far too long. We packed light: one tent, two sleeping bags, a small stove, a bag of oats, some cheese, dried apricots and far too much coffee."
"On the first morning it rained. Not a heavy rain, just the kind of grey drizzle that gets into everything. We left the house at seven, crossed the railway bridge and joined the towpath behind the brewery. The water was very still. A heron stood on the far bank and did not move at all while we walked past, as if it had decided we were not worth the effort."
"By lunchtime we had reached the second lock. There is a small café there, run by a woman who used to teach my brother mathematics. She recognised him at once and asked whether he had ever finished his homework. He said he was still working on it. She gave us two bowls of soup and refused to take any money, which was kind, because we had both forgotten our wallets in the other bag."
"In the afternoon the rain stopped and the sun came out over the fields. We counted seven boats moored along the bank. One of them had a cat sitting on the roof, and the cat followed us for almost a kilometre, walking along the edge of the path and stopping whenever we stopped. Eventually it lost interest and went back."
"We camped that night in a field next to an old pumping station. The farmer had said it was fine, as long as we closed the gate. I cooked the oats with too much water, so dinner was more of a soup than a porridge. My brother said it was the best meal he had eaten all year, but I think he was just very tired."
"The second day was the longest. The path left the canal for a while and climbed over a low ridge covered in gorse. From the top you could see the estuary for the first time, a thin silver line far away to the west. We sat on a stone wall and ate the rest of the cheese and argued about whether the line was water or just a road shining in the sun."
"Coming down the other side, my brother twisted his ankle on a loose stone. It was not serious, but it slowed us down a great deal. We had to stop every half hour so that he could rest it. A man walking his dog lent us a walking stick and told us to leave it at the pub in the next village, which we did, although we arrived well after dark and the landlord was already closing."
"The landlord let us sleep in the barn behind the pub. It smelled of hay and diesel. In the middle of the night something knocked over a bucket, and we both lay awake listening for a long time. In the morning we found out it had been a goat, which belonged to nobody in particular and lived in the barn by its own choice."
"On the last day the weather was perfect. The ankle was better, the path was flat, and the wind came from behind us. We walked through the salt marshes, where the path is only a raised bank of earth with water on both sides. There were thousands of birds, mostly geese, and every so often a whole field of them would rise into the air at once with a noise like applause."
"We reached the sea a little after three in the afternoon. The tide was out, so we walked across the wet sand until we could finally put our feet into the water. It was colder than either of us had expected. My brother said that we should do the walk again next year, but in the other direction, starting from the sea and walking home."
"We took the bus back. It took fifty minutes. Our mother met us at the station and asked how it had been. We told her about the heron, the soup, the cat, the ridge, the ankle, the goat and the geese. She listened to all of it and then asked whether we had remembered to close the farmer's gate. Neither of us could say for certain that we had."
"I still think about that walk quite often. Nothing very much happened on it, and yet it is one of the clearest memories I have. Perhaps that is because we were walking slowly enough to notice things, or perhaps it is simply because it was the last long trip the two of us took together before he moved abroad for work."
"That is more or less the whole story. If I had to change one thing, I would bring a better map, and I would definitely bring less coffee and more cheese. And I would make sure, this time, that somebody closes the gate."
)
parts=()
for i in "${!paragraphs[@]}"; do
  espeak-ng -v en-us+f2 -s 150 -p 55 -w "$work/p$i.wav" "${paragraphs[$i]}"
  sox "$work/p$i.wav" "$work/q$i.wav" rate 16000 pad 0 1.2
  parts+=("$work/q$i.wav")
done
sox "${parts[@]}" -c 1 -C 3 assets/synthetic_long_story_female.ogg norm -3
soxi assets/synthetic_long_story_female.ogg
