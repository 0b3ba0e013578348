from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from deceptio.training.data import load_dataset, load_manifest, manifest_from_folder, turn_masks
from deceptio.errors import DataError


def _write_manifest(tmp_path, rows, header="path,label,speaker,gender,turns"):
    (tmp_path / "m.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    return tmp_path / "m.csv"


def test_manifest_parses_labels_speakers_and_turns(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros(1600), 16000)
    sf.write(tmp_path / "b.wav", np.zeros(1600), 16000)
    (tmp_path / "a.csv").write_text("start,end,speaker,role,gender\n0.0,0.5,1,subject,F\n")
    clips = load_manifest(_write_manifest(tmp_path, ["a.wav,deceptive,S1,F,a.csv", "b.wav,truthful,S2,M,"]))
    assert [(c.id, c.label, c.speaker, c.gender) for c in clips] == [("a", 1, "S1", "F"), ("b", 0, "S2", "M")]
    assert clips[0].turns == tmp_path / "a.csv" and clips[1].turns is None


@pytest.mark.parametrize(
    "rows, message",
    [
        (["a.wav,maybe,S1,F,"], "neither deceptive nor truthful"),
        (["missing.wav,deceptive,S1,F,"], "does not exist"),
        ([], "lists no clips"),
    ],
)
def test_bad_manifests_are_refused_with_the_line(tmp_path, rows, message):
    sf.write(tmp_path / "a.wav", np.zeros(1600), 16000)
    with pytest.raises(DataError, match=message):
        load_manifest(_write_manifest(tmp_path, rows))


def test_manifest_without_label_column(tmp_path):
    with pytest.raises(DataError, match="label"):
        load_manifest(_write_manifest(tmp_path, ["a.wav"], header="path"))


def test_turn_masks_keep_subject_and_other_apart(tmp_path):
    turns = tmp_path / "t.csv"
    turns.write_text("start,end,speaker,role,gender\n0.0,1.0,1,subject,F\n1.0,2.0,TM,other,M\n2.5,3.0,1,subject,F\n")
    subject, other = turn_masks(turns, 401, hop_length=160, sample_rate=16000)
    assert subject[:100].all() and subject[250:300].all() and not subject[110:240].any()
    assert other[110:190].all() and not (subject & other).any()


def test_clip_without_subject_turns_is_all_subject(tmp_path):
    turns = tmp_path / "t.csv"
    turns.write_text("start,end,speaker,role,gender\n0.0,1.0,TM,other,M\n")
    subject, other = turn_masks(turns, 200, hop_length=160, sample_rate=16000)
    assert subject.all() and not other.any()


def test_folder_dataset(tmp_path):
    for label, speaker in (("deceptive", "p1"), ("truthful", "p2")):
        (tmp_path / label / speaker).mkdir(parents=True)
        sf.write(tmp_path / label / speaker / f"{label}.wav", np.zeros(1600), 16000)
    clips = load_dataset(tmp_path)
    assert sorted((c.label, c.speaker) for c in clips) == [(0, "p2"), (1, "p1")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError):
        manifest_from_folder(tmp_path / "empty")


def test_shared_corpus_manifest(corpus):
    clips = load_manifest(corpus / "manifest.csv")
    assert len(clips) == 121 and sum(c.label for c in clips) == 61
    assert len({c.speaker for c in clips}) >= 56
