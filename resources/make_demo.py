"""Builds resources/demo_case_notes.xlsx: notes written for casenotes, every identifier made up."""

from pathlib import Path

from openpyxl import Workbook

ROWS = [
    ("100234", "E-55120", "2024-07-22", "Margaret Ellison",
     "Nursing progress note 7/22. Mrs. Ellison is a 93 yo woman admitted from Brookfield Memorial Hospital with NSTEMI. "
     "Daughter Clara Ellison at bedside, phone 617-555-0143. Seen by Dr. Okafor; plan cardiac cath on Jan 3rd. "
     "BP 120/80, HR 88, GCS 15. Continue heparin gtt, aspirin 81 mg, monitor for 2 days. Full code."),
    ("100234", "E-55120", "2024-07-23", "Margaret Ellison",
     "Pt resting comfortably. No chest pain. Troponin trending down. Dr. Okafor aware. Clara called for update. "
     "POD 1 from cath, groin site CDI. Plan transfer to step-down in 2 weeks if stable. Parkinson disease meds given on time."),
    ("200871", "E-61007", "2024-08-02", "Robert Quinlan",
     "PT IS A 67 YO MALE WITH COPD AND CHF ADMITTED VIA ED. LIVES AT 42 HARBOR VIEW RD, SPRINGFIELD, MA 01105. "
     "WIFE JOAN QUINLAN AWARE OF PLAN. SSN 123-45-6789 ON OUTSIDE RECORDS, MRN 200871. PAGER 48213. "
     "ON BIPAP 10/5, SATS 94%. NEB Q4H. CABG X3 IN 2019. DNR/DNI DISCUSSED."),
    ("200871", "E-61007", "2024-08-03", "Robert Quinlan",
     "resp: weaned to nc 2l, rr 18-22. son mike visited, wants updates at mike.quinlan@example.com. "
     "insurance member id HPX-4471-2290. crohn's disease hx, on budesonide. cxr 8/3 improved."),
    ("305512", "E-70321", "2024-09-14", "Aisha Rahman",
     "Ms. Rahman, 45F, s/p fall at home on Sept 12, 2024. Hx of Cushing syndrome. CT head neg. "
     "Vehicle plate 7XKD221 noted by EMS, VIN 1HGCM82633A004352. Pain 4/10, given acetaminophen 650 mg. "
     "Discharge planning with social work; patient portal https://portal.brookfieldhealth.org/rahman."),
    ("305512", "E-70321", "2024-09-15", "Aisha Rahman", ""),
    ("410098", "E-80444", "2024-10-01", "Walter Brandt",
     "Walter Brandt is a 101 year old man from St. Agnes Nursing Home. Pacemaker serial PM-88213-X. "
     "Fax results to 410-555-0199. Account #77120034. Hodgkin lymphoma in remission. A-fib, rate controlled on diltiazem."),
    ("410098", "E-80444", "2024-10-02", "Walter Brandt",
     "=HYPERLINK(\"http://10.2.3.4\") copied from EHR by mistake. Remote monitoring from 192.168.10.45. "
     "Dr. L. Fitzgerald NP notified re K 5.6. Recheck BMP in AM."),
    ("512230", "E-90012", "2024-11-05", "Nguyen Thi Lan",
     "Patient seen in clinic 11/5/2024 with interpreter. Lives in Quincy with daughter Hoa. "
     "DL S123-4567-8901 on file. Type 2 diabetes, A1c 8.2%, started metformin 500 mg BID. Return in 3 months."),
]


def main() -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "Notes"
    ws.append(["MRN", "Encounter", "Note date", "Patient name", "Note text"])
    for row in ROWS:
        ws.append(list(row))
        ws.cell(ws.max_row, 5).data_type = "s"
    out = Path(__file__).with_name("demo_case_notes.xlsx")
    wb.save(out)
    print(out)


if __name__ == "__main__":
    main()
