"""``gpt2030 observe import --from epoch-notable-models``: Epoch AI's CSV into the ledger.

On excerpts of two real vintages (tests/data/epoch, see its README): the mapping to ledger
rows, a newer vintage adding only new facts and proposing changes, ``--apply-changes``
recording them with the old rows kept as removed rows, and refusals that change nothing.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from gpt2030.cli.main import main
from gpt2030.observations import FIELDS, Ledger

EPOCH = Path(__file__).parent / "data" / "epoch"
OLD = EPOCH / "notable_ai_models_2025-02-24.csv"
NEW = EPOCH / "notable_ai_models_2026-02-16.csv"
IMPORT = ["observe", "import", "--from", "epoch-notable-models"]


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home whose ledger has no rows yet."""
    (tmp_path / "observations").mkdir()
    (tmp_path / "observations" / "ledger.csv").write_text(",".join(FIELDS) + "\n")
    monkeypatch.setenv("GPT2030_HOME", str(tmp_path))
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def rows(home: Path, removed: bool = False) -> dict[str, dict[str, str]]:
    return {r["id"]: r for r in Ledger(home / "observations" / "ledger.csv").rows(removed)}


def test_mapping_of_an_old_vintage(empty_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *IMPORT, str(OLD), "--vintage", "2025-02-24")
    assert code == 0, out
    got = rows(empty_home)
    assert set(got) == {
        "training_compute:gpt-3-175b-davinci", "parameters:gpt-3-175b-davinci",
        "training_compute:megatron-turing-nlg-530b", "parameters:megatron-turing-nlg-530b",
        "training_compute:deepseek-v3", "parameters:deepseek-v3",
        "training_compute:fingpt-13b", "parameters:fingpt-13b"}
    # Transformer (2017) is before the model's years, AlphaFold 2 is not a language model;
    # this vintage's dataset sizes mix words and tokens, so none is imported.
    assert "4 language model(s) published from 2018-01-01 on, 2 line(s) out of scope" in out
    assert "dataset sizes are not imported" in out
    gpt3 = got["training_compute:gpt-3-175b-davinci"]
    assert (gpt3["kind"], gpt3["subject"], gpt3["metric"], gpt3["date"], gpt3["value"],
            gpt3["unit"], gpt3["status"], gpt3["confidence"]) == (
        "training_compute", "GPT-3 175B (davinci)", "", "2020-05-28", "3.14e+23", "FLOP",
        "official", "confident")  # the vintage's estimation method says "Reported"
    assert "https://epoch.ai/data/notable-ai-models" in gpt3["source"]
    assert "downloaded 2025-02-24" in gpt3["source"]
    assert "https://arxiv.org/abs/2005.14165" in gpt3["source"]
    assert gpt3["note"].startswith("Epoch: Table D.1")
    deepseek = got["training_compute:deepseek-v3"]
    assert (deepseek["status"], deepseek["value"]) == ("estimate", "4.56e+24")
    params = got["parameters:deepseek-v3"]
    assert (params["metric"], params["unit"], params["value"], params["status"]) == (
        "total", "parameters", "6.71e+11", "official")  # Epoch is confident
    assert got["parameters:fingpt-13b"]["status"] == "estimate"  # Epoch: likely
    assert got["parameters:fingpt-13b"]["confidence"] == "likely"
    assert got["training_compute:megatron-turing-nlg-530b"]["confidence"] == ""


def test_newer_vintage_adds_new_facts_and_proposes_changes(
        empty_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, *IMPORT, str(OLD), "--vintage", "2025-02-24")[0] == 0
    before = rows(empty_home)
    code, out, _ = run(capsys, *IMPORT, str(NEW), "--vintage", "2026-02-16")
    assert code == 0, out
    after = rows(empty_home)
    added = set(after) - set(before)
    assert added == {
        "training_compute:k-exaone", "parameters:k-exaone", "training_tokens:k-exaone:dataset-size",
        "training_compute:olmo-3", "parameters:olmo-3", "training_tokens:olmo-3:dataset-size",
        "training_tokens:deepseek-v3:dataset-size",
        "training_tokens:megatron-turing-nlg-530b:dataset-size",
        "training_tokens:gpt-3-175b-davinci:dataset-size"}
    assert all(after[i] == before[i] for i in before)  # nothing changed without asking
    tokens = after["training_tokens:olmo-3:dataset-size"]
    assert (tokens["metric"], tokens["unit"], tokens["value"]) == ("dataset_size", "tokens",
                                                                    "5.5e+12")
    assert "FinGPT-13B" not in {r["subject"] for r in after.values()
                                if r["kind"] == "training_tokens"}
    assert "1 value(s) not imported" in out and "76800 tokens is implausible" in out
    assert "4 proposed update(s), not recorded" in out
    for line in ("training_compute:megatron-turing-nlg-530b: value 1.17e+24 FLOP -> "
                 "8.586e+23 FLOP, confidence (none) -> confident",
                 "training_compute:deepseek-v3: value 4.56e+24 FLOP -> 3.408e+24 FLOP",
                 "parameters:gpt-3-175b-davinci: value 1.75e+11 parameters -> 1.746e+11 "
                 "parameters",
                 "parameters:megatron-turing-nlg-530b: confidence (none) -> confident"):
        assert line in out
    # The same file again: nothing new, the same proposals.
    code, out, _ = run(capsys, *IMPORT, str(NEW), "--vintage", "2026-02-16")
    assert code == 0 and "nothing new" in out and "4 proposed update(s)" in out
    assert rows(empty_home) == after


def test_apply_changes_keeps_the_old_rows_as_removed(
        empty_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, *IMPORT, str(OLD), "--vintage", "2025-02-24")[0] == 0
    code, out, _ = run(capsys, *IMPORT, str(NEW), "--vintage", "2026-02-16", "--apply-changes")
    assert code == 0, out
    assert "recorded 4 update(s)" in out
    everything = rows(empty_home, removed=True)
    old = everything["training_compute:deepseek-v3"]
    assert old["value"] == "4.56e+24" and old["removed_on"]
    assert "superseded by training_compute:deepseek-v3:2026-02-16" in old["removed_reason"]
    assert "4.56e+24 FLOP -> 3.408e+24 FLOP" in old["removed_reason"]
    live = rows(empty_home)
    assert "training_compute:deepseek-v3" not in live
    new = live["training_compute:deepseek-v3:2026-02-16"]
    assert (new["value"], new["date"], new["subject"]) == ("3.408e+24", "2024-12-24",
                                                          "DeepSeek-V3")
    assert live["training_compute:megatron-turing-nlg-530b:2026-02-16"]["confidence"] == \
        "confident"
    assert run(capsys, "observe", "validate")[0] == 0
    code, out, _ = run(capsys, *IMPORT, str(NEW), "--vintage", "2026-02-16")
    assert code == 0 and "nothing new" in out and "proposed" not in out


def _bytes(home: Path) -> bytes:
    return (home / "observations" / "ledger.csv").read_bytes()


def test_a_bad_line_refuses_the_whole_file(empty_home: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, *IMPORT, str(OLD), "--vintage", "2025-02-24")[0] == 0
    before = _bytes(empty_home)
    text = NEW.read_text(encoding="utf-8-sig")
    reader = list(csv.DictReader(io.StringIO(text)))
    reader[0]["Training compute (FLOP)"] = "1.52e24 FLOP"  # K-EXAONE: not a number
    reader[1]["Publication date"] = "2025-11-31"  # Olmo 3: no such day
    out_buf = io.StringIO()
    writer = csv.DictWriter(out_buf, fieldnames=list(reader[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(reader)
    bad = tmp_path / "bad.csv"
    bad.write_text(out_buf.getvalue(), encoding="utf-8")
    code, _, err = run(capsys, *IMPORT, str(bad), "--apply-changes")
    assert code == 2
    assert f"{bad}:2: Training compute (FLOP): '1.52e24 FLOP' is not a number" in err
    assert f"{bad}:3: Publication date: '2025-11-31' is not a real date" in err
    assert "nothing was imported" in err
    assert _bytes(empty_home) == before


@pytest.mark.parametrize("content, message", [
    ((",".join(FIELDS) + "\n").encode(), "not Epoch AI's Notable AI Models CSV"),
    (b"Model,Domain\n\xff\xfe,x\n", "not UTF-8"),
])
def test_not_this_file_is_refused(empty_home: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str], content: bytes,
                                  message: str) -> None:
    before = _bytes(empty_home)
    path = tmp_path / "other.csv"
    path.write_bytes(content)
    code, _, err = run(capsys, *IMPORT, str(path))
    assert code == 2 and message in err
    assert _bytes(empty_home) == before


def test_dry_run_and_bad_options_write_nothing(empty_home: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    before = _bytes(empty_home)
    code, out, _ = run(capsys, *IMPORT, str(NEW), "--dry-run")
    assert code == 0 and "would add training_compute:k-exaone" in out
    for argv, message in (([str(NEW), "--vintage", "2026-02"], "give a day"),
                          ([str(NEW), "--since", "2026-13-01"], "not a real date"),
                          ([str(NEW), "--dry-run", "--apply-changes"], "writes nothing"),
                          ([str(EPOCH / "missing.csv")], "no such file")):
        code, _, err = run(capsys, *IMPORT, *argv)
        assert code == 2 and message in err, (argv, err)
    assert _bytes(empty_home) == before


def test_facts_held_elsewhere_or_withdrawn_are_left_alone() -> None:
    from gpt2030.observations.epoch import Fact, plan_import

    def row(**fields: str) -> dict[str, str]:
        return {**dict.fromkeys(FIELDS, ""), "kind": "training_compute", "metric": "",
                "unit": "FLOP", "date": "2024-12-24", "confidence": "confident", **fields}

    ledger = [row(id="training_compute:deepseek-v3", subject="DeepSeek-V3", value="3e24",
                  source="the DeepSeek-V3 paper"),
              row(id="training_compute:olmo-3", subject="Olmo 3", value="1e24",
                  source="https://epoch.ai/data/notable-ai-models", removed_on="2026-01-01",
                  removed_reason="a duplicate")]
    facts = [Fact(2, row(id="training_compute:deepseek-v3", subject="DeepSeek-V3",
                         value="3.408e+24", source="https://epoch.ai/data/notable-ai-models")),
             Fact(3, row(id="training_compute:olmo-3", subject="Olmo 3", value="1.1e+24")),
             Fact(4, row(id="training_compute:x", subject="X", value="1e24"))]
    plan = plan_import(ledger, facts)
    assert [(f.line, old) for f, old in plan.elsewhere] == [(2, "training_compute:deepseek-v3")]
    assert [(f.line, why) for f, why in plan.withdrawn] == [(3, "a duplicate")]
    assert [f.row["id"] for f in plan.new] == ["training_compute:x"]
    assert not plan.changes and not plan.unchanged
