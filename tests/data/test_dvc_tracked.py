"""io.dvc_tracked: which folders DVC versions (so `dreamgym collect` refuses to write there without --force)."""

from dreamgym.data import io


def test_dvc_tracked_finds_dvc_files_and_stage_outputs(tmp_path):
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "data.dvc").write_text("outs:\n- path: data\n")
    (tmp_path / "dvc.yaml").write_text("stages:\n  s:\n    cmd: x\n    outs:\n      - artifacts/models\n"
                                       "    metrics:\n      - artifacts/m.json:\n          cache: false\n")
    assert io.dvc_tracked(tmp_path / "data" / "textcraft") == tmp_path / "data.dvc"
    assert io.dvc_tracked(tmp_path / "artifacts" / "models" / "babyai") == tmp_path / "dvc.yaml"
    assert io.dvc_tracked(tmp_path / "artifacts" / "collect" / "babyai") is None
    assert io.dvc_tracked(tmp_path / "database") is None
