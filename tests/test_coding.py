"""ICD-10-CM coding: the code set, context traits, the default coder, the classifier path, the outputs."""

import json

import openpyxl
import pytest

from benchmarks.random_models import build
from casenotes.coding import icd10
from casenotes.clinical_text import mention_traits as traits
from casenotes.pipeline import RunOptions, run
from tests.conftest import SHARED_DATA


def _traits(text, words):
    start = text.index(words)
    return traits(text, start, start + len(words))


@pytest.mark.parametrize("text, words, expected", [
    ("No evidence of pneumonia on CXR.", "pneumonia", ["NEGATION"]),
    ("Patient denies chest pain but reports dyspnea.", "chest pain", ["NEGATION"]),
    ("Patient denies chest pain but reports dyspnea.", "dyspnea", []),
    ("Admitted to r/o MI.", "MI", ["HYPOTHETICAL"]),
    ("Possible sepsis, cultures sent.", "sepsis", ["HYPOTHETICAL"]),
    ("Her mother had breast cancer.", "breast cancer", ["FAMILY"]),
    ("History of hypertension, on lisinopril.", "hypertension", ["HISTORY"]),
    ("PMH: diabetes, CAD.\nHPI: chest pain since this morning.", "diabetes", ["HISTORY"]),
    ("PMH: diabetes, CAD.\nHPI: chest pain since this morning.", "chest pain", []),
    ("Pulmonary embolism was ruled out.", "Pulmonary embolism", ["NEGATION"]),
    ("Acute appendicitis confirmed at surgery.", "appendicitis", []),
    # the cue table's other rows: pseudo-cues, backward cues with shapes, terminators, cues as words only
    ("No change in chest pain since yesterday.", "chest pain", []),
    ("Gram negative bacteremia on blood cultures.", "bacteremia", []),
    ("Cholecystitis 3 years ago, treated conservatively.", "Cholecystitis", ["HISTORY"]),
    ("Appendicitis in 1998.", "Appendicitis", ["HISTORY"]),
    ("Stroke is unlikely.", "Stroke", ["NEGATION"]),
    ("No fever; cough productive since Monday.", "cough", []),
    ("Nonspecific abdominal pain.", "abdominal pain", []),
    ("Pneumonia?", "Pneumonia", ["HYPOTHETICAL"]),
])
def test_context_traits(text, words, expected):
    assert _traits(text, words) == expected


def test_the_context_cue_table_is_well_formed():
    """Every row of context_cues.tsv names a known trait and direction (the loader refuses others)."""
    from importlib import resources

    from casenotes.clinical_text import TRAITS, context_cues

    rows = [line.split("\t") for line in resources.files("casenotes").joinpath("context_cues.tsv")
            .read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]
    assert all(len(r) == 3 and r[2] == r[2].strip().lower() and r[2] for r in rows)
    assert {r[0] for r in rows} <= set(TRAITS) | {"-"}
    cues = context_cues()
    assert set(cues.forward) == set(TRAITS) and {"NEGATION", "HYPOTHETICAL", "HISTORY"} <= set(cues.backward)


def test_code_set_knowledge():
    assert icd10.is_billable("I21.4") and not icd10.is_billable("I21") and not icd10.is_billable("XYZ")
    assert icd10.default_leaf("J18") == "J18.9" and icd10.default_leaf("E11") == "E11.9"
    assert icd10.default_leaf("S72.00").endswith("A")  # injuries: initial encounter
    assert icd10.excludes1_conflict("J18.9", "J84.9")  # J18 Excludes1: interstitial pneumonia NOS (J84.9)
    assert not icd10.excludes1_conflict("I10", "E11.9")


@pytest.fixture(scope="module")
def coder():
    from casenotes.coding.default_coder import DefaultCoder

    c = DefaultCoder()
    c.load()  # builds the index once per machine (cached in CASENOTES_CACHE), then loads it
    return c


@pytest.mark.slow
def test_default_coder_codes_active_problems_with_evidence(coder):
    text = ("67 yo M with NSTEMI and type 2 diabetes. No evidence of pneumonia. Mother had breast cancer. "
            "Possible sepsis. Crohn's disease, stable.")
    [found] = coder.code([text])
    active = {s.code: s for s in found if s.active}
    assert {"I21.4", "E11.9", "K50.90"} <= set(active)
    ev = active["I21.4"].evidence[0]
    assert text[ev.start : ev.end] == ev.text == "NSTEMI"
    inactive = {s.code: s.traits for s in found if not s.active}
    assert "NEGATION" in inactive.get("J18.9", [])
    assert all(c not in active for c in ("J18.9", "A41.9")) and not any(c.startswith("C50") for c in active)
    assert all(icd10.is_billable(s.code) and 0 <= s.score <= 1 for s in found)
    assert [s.score for s in found if s.active] == sorted((s.score for s in found if s.active), reverse=True)


@pytest.mark.slow
def test_the_mentioned_convention_codes_negated_and_suspected_findings_too_never_the_familys(coder):
    from casenotes.coding.default_coder import DefaultCoder

    text = ("67 yo M with NSTEMI and type 2 diabetes. No evidence of pneumonia. Mother had breast cancer. "
            "Possible sepsis.")
    mentioned = DefaultCoder(convention="mentioned")
    mentioned.index = coder.index  # the same loaded index
    [found] = mentioned.code([text])
    active = {s.code: s for s in found if s.active}
    assert {"I21.4", "E11.9", "J18.9", "A41.9"} <= set(active)
    assert "NEGATION" in active["J18.9"].traits and active["J18.9"].score >= 0.5  # listed, its trait shown
    assert not any(c.startswith("C50") for c in active)  # the mother's cancer is not the patient's
    [default] = coder.code([text])
    assert "J18.9" not in {s.code for s in default if s.active}
    with pytest.raises(ValueError, match="convention"):
        DefaultCoder(convention="everything")


def test_a_trained_coder_folder_says_which_convention_it_learned(tmp_path):
    from casenotes.coding.step import learned_convention

    (tmp_path / "config.json").write_text('{"casenotes_convention": "mentioned"}', encoding="utf-8")
    assert learned_convention(tmp_path) == "mentioned"
    (tmp_path / "config.json").write_text('{"casenotes_convention": "whatever"}', encoding="utf-8")
    assert learned_convention(tmp_path) == "active"
    assert learned_convention(tmp_path / "missing") == "active"
    (tmp_path / "coder.json").write_text('{"members": ["ranker"], "convention": "mentioned"}', encoding="utf-8")
    assert learned_convention(tmp_path) == "mentioned"  # the manifest of a coder without a classifier


@pytest.mark.slow
def test_excludes1_pairs_are_flagged(coder):
    [found] = coder.code(["Community acquired pneumonia. CT also suggests interstitial pneumonia."])
    codes = {s.code: s for s in found}
    assert "J18.9" in codes and "J84.9" in codes["J18.9"].excludes1_with


@pytest.mark.slow
def test_index_is_cached_not_rebuilt(monkeypatch):
    from casenotes import embeddings
    from casenotes.coding import index

    index.load_or_build()  # built by the fixture or an earlier run
    monkeypatch.setattr(embeddings, "embed", lambda *a, **k: pytest.fail("the index was rebuilt"))
    loaded = index.load_or_build()
    assert len(loaded.entries) > 59_000 and loaded.vectors.shape[1] == 384


@pytest.mark.slow
def test_coding_through_the_pipeline(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("mrn,note\n1,Admitted with NSTEMI. History of hypertension. No pneumonia.\n2,\n"
                    "3,Type 2 diabetes mellitus and COPD exacerbation.\n", encoding="utf-8")
    [result] = run([path], RunOptions(output_dir=tmp_path / "out", jsonl=True, code=True, device="cpu"))
    assert result.status == "done", result.error
    wb = openpyxl.load_workbook(result.outputs["workbook"])
    results = wb["Results"]
    headers = [c.value for c in results[1]]
    column = headers.index("ICD-10-CM codes")
    listed = [row[column].value or "" for row in results.iter_rows(min_row=2)]
    assert "I21.4" in listed[0] and listed[1] == "" and "E11.9" in listed[2]
    codes_sheet = wb["Codes"]
    assert [c.value for c in codes_sheet[1]][:5] == ["Row", "ID", "Code", "Description", "Confidence"]
    assert all(icd10.is_billable(r[2].value) for r in codes_sheet.iter_rows(min_row=2))
    rows = [json.loads(line) for line in result.outputs["jsonl"].read_text().splitlines()]
    first = rows[0]["codes"][0]
    assert set(first) >= {"code", "description", "score", "evidence", "traits"}
    assert set(first["evidence"][0]) == {"start", "end", "text"}
    note = rows[0]["deidentified_text"]
    assert all(note[e["start"] : e["end"]] == e["text"] for c in rows[0]["codes"] for e in c["evidence"])
    info = {r[0].value: r[1].value for r in wb["Run info"].iter_rows()}
    assert "ICD-10-CM April 2026" in info["code: Code set"]


@pytest.mark.slow
def test_fine_tuned_classifier_folder(tmp_path):
    folder = build(tmp_path / "coder", "tiny-classifier", labels=["I10", "E11.9", "J18.9", "NOT.A.CODE"])
    path = tmp_path / "notes.csv"
    path.write_text("mrn,note\n1,Hypertension and type 2 diabetes.\n2,Cough and fever.\n", encoding="utf-8")
    [result] = run([path], RunOptions(output_dir=tmp_path / "out", jsonl=True, coder=folder, device="cpu"))
    assert result.status == "done", result.error
    rows = [json.loads(line) for line in result.outputs["jsonl"].read_text().splitlines()]
    codes = [c["code"] for r in rows for c in r["codes"]]
    assert codes and all(icd10.is_billable(c) for c in codes)  # the invalid label is never output
    info = {r[0].value: r[1].value for r in openpyxl.load_workbook(result.outputs["workbook"])["Run info"].iter_rows()}
    assert "fine-tuned classifier, 3 codes" in info["code: Coder"]


CODIESP = SHARED_DATA / "coding" / "codiesp_en_train_diagnoses.jsonl"


@pytest.mark.slow
@pytest.mark.skipif(not CODIESP.exists(), reason="shared development data not present")
def test_map_floor_on_codiesp(coder):
    """Floor under today's MAP of 0.255 on the first 200 CodiEsp dev cases (the issue's bar is 0.25)."""
    from casenotes.metrics import score_codes

    rows = [json.loads(line) for line in CODIESP.read_text(encoding="utf-8").splitlines()][:200]
    found = coder.code([r["text_en"] for r in rows])
    score = score_codes([set(r["icd10cm_codes"]) for r in rows], [[s.code for s in f if s.active] for f in found])
    assert score.map >= 0.22, score.as_dict()
    assert all(icd10.is_billable(s.code) for f in found for s in f)


def test_classifier_scores_put_the_trained_cut_at_the_threshold():
    from casenotes.coding.classifier import calibrated

    assert calibrated(0.1, 0.1) == 0.5 and calibrated(0.05, 0.1) == 0.25 and calibrated(1.0, 0.1) == 1.0
    values = [calibrated(p / 100, 0.2) for p in range(101)]
    assert values == sorted(values)  # order, and so ranking, is kept


@pytest.mark.slow
def test_review_of_systems_lists_and_procedure_sections_are_not_coded(coder):
    text = ("REVIEW OF SYSTEMS: Negative for tremors, headaches, dizzy spells, numbness, tingling, abdominal pain, "
            "nausea or vomiting, heartburn, fevers, chills, weight loss, wheezing, cough, chest pain.,"
            "ANESTHESIA: General endotracheal anesthesia.,ASSESSMENT: Acute appendicitis.")
    [found] = coder.code([text])
    active = {s.code for s in found if s.active}
    assert not active & {"R11.0", "R11.2", "R05.9", "R07.9", "R50.9", "R06.2"}
    assert not any(c.startswith(("R20", "T88")) for c in active)  # "anesthesia" here is not a diagnosis
    assert any(c.startswith("K35") for c in active)


def test_one_code_per_mention(coder):
    """A mention the code set names gets that code, not its neighbours by meaning ("in remission",
    "other complications"); a clause matched by meaning alone proposes one code."""
    [hodgkin] = coder.code(["Assessment: Hodgkin lymphoma. Plan: chemotherapy."])
    assert [s.code for s in hodgkin if s.code.startswith("C8")] == ["C81.90"]
    assert len([s for s in hodgkin if any(m.text == "chemotherapy" for m in s.evidence)]) <= 1
    [both] = coder.code(["Patient with type 2 diabetes and hypertension, here for chest pain."])
    assert sorted(s.code for s in both if s.active) == ["E11.9", "I10", "R07.9"]


@pytest.mark.slow
def test_a_malignancy_is_coded_at_its_site_and_no_more_specific_than_said(coder):
    """The code set names carcinomas "malignant neoplasm of SITE": a note's "prostatic adenocarcinoma"
    or "adenocarcinoma of the colon" gets the site's code, not a carcinoid, an in-situ or a
    primary-site-unknown code; "breast cancer" gets the breast's unspecified code, not a quadrant the
    note never names; an in-situ carcinoma stays in situ; "ex-smoker" is a history, not dependence."""
    texts = ["Prostatic adenocarcinoma.", "Adenocarcinoma of the colon.", "Breast cancer.", "Renal cell carcinoma.",
             "Carcinoma in situ of the cervix.", "Ex-smoker."]
    found = [[s.code for s in note if s.active][:1] for note in coder.code(texts)]
    assert found[:4] == [["C61"], ["C18.9"], ["C50.919"], ["C64.9"]], found
    assert found[4] and found[4][0].startswith("D06"), found
    assert found[5] == ["Z87.891"], found
