"""The papers' published figures, for hfr_jax.report to print beside ours.

Each row is one line of one table, copied as printed (percent; `std` where the
table gives mean ± std, `None` where it gives no such figure):

  PCFH: Yu et al., IJCAI 2019 (pcfh_ijcai2019.txt), Tables 1-4.
  NULL: Tang and Chen, unsupervised HFR from unpaired NIR-VIS data
    (null_unsupervised_hfr.txt), Tables 1-3: rank-1 only, "the mean values", no std.

`dataset` is our TFDS builder's name, so a row goes beside runs on the same set.
PCFH's BUAA and Oulu rows (Tables 3, 4) are its CASIA fold-1 model tested on those sets,
as `configs/pcfh.py:casia_buaa` / `casia_oulu` run it; NULL trains on each set.
"""

import dataclasses

DATASETS = {
    'casia_nir_vis2': 'CASIA NIR-VIS 2.0',
    'oulu_casia_nir_vis': 'Oulu-CASIA NIR-VIS',
    'buaa_visnir': 'BUAA-VisNir',
    'cufsf': 'CUFSF',
    'synthetic_nir_vis': 'Synthetic NIR-VIS (rendered by tfds_builders/synthetic_nir_vis)',
}


@dataclasses.dataclass(frozen=True)
class Row:
  paper: str                 # 'PCFH' or 'NULL' (see the module docstring)
  table: str                 # 'Table 2'
  protocol: str              # what the table's caption or text says was measured
  dataset: str               # our builder's name
  method: str                # as the table names it
  rank1: float
  vr_1: float | None = None  # VR@FAR=1 %
  vr_01: float | None = None  # VR@FAR=0.1 %
  rank1_std: float | None = None
  vr_1_std: float | None = None
  vr_01_std: float | None = None

  def stats(self) -> dict:
    """{our metric key: {'mean', 'std', 'n'}} as fractions, like hfr_jax.report's summaries."""
    keys = (('rank1', self.rank1, self.rank1_std), ('vr_at_far_1e-2', self.vr_1, self.vr_1_std),
            ('vr_at_far_1e-3', self.vr_01, self.vr_01_std))
    return {key: {'mean': value / 100, 'std': None if std is None else std / 100, 'n': None}
            for key, value, std in keys if value is not None}


def _rows(paper, table, protocol, dataset, lines):
  return [Row(paper, table, protocol, dataset, *line) for line in lines]


def _folds(paper, table, protocol, dataset, lines):
  """Lines of (method, (rank1, std), (vr_1, std), (vr_01, std))."""
  return [Row(paper, table, protocol, dataset, method, r[0], v1[0], v01[0], r[1], v1[1], v01[1])
          for method, r, v1, v01 in lines]


ROWS = (
    # PCFH Table 1: CASIA NIR-VIS 2.0, "(1-fold)" (Sec. 4.3: "the 1-fold").
    *_rows('PCFH', 'Table 1', 'View 2 fold 1', 'casia_nir_vis2', [
        ('Pixel2Pixel', 22.13, 39.22, 14.45),
        ('CycleGAN', 87.23, 93.92, 79.41),
        ('Light CNN', 96.84, 99.10, 94.68),
        ('PCFH w/o AWM', 96.89, 99.07, 94.96),
        ('PCFH w/o MIC', 97.66, 99.22, 96.49),
        ('PCFH', 98.50, 99.58, 97.32)]),
    # PCFH Table 2: CASIA NIR-VIS 2.0, "(10-fold)", mean ± std.
    *_folds('PCFH', 'Table 2', 'View 2, 10 folds, mean ± std', 'casia_nir_vis2', [
        ('VGG', (62.1, 1.88), (71.0, 1.25), (39.7, 2.85)),
        ('TRIVET', (95.7, 0.52), (98.1, 0.31), (91.0, 1.26)),
        ('Light CNN', (96.7, 0.23), (98.5, 0.64), (94.8, 0.43)),
        ('IDR-128', (97.3, 0.43), (98.9, 0.29), (95.7, 0.73)),
        ('ADFL', (98.2, 0.34), (99.1, 0.15), (97.2, 0.48)),
        ('PCFH', (98.80, 0.26), (99.57, 0.08), (97.68, 0.26))]),
    # PCFH Table 3 (its text calls it "Table 2"; its 92.44 is the table's 92.4).
    *_rows('PCFH', 'Table 3', 'CASIA fold-1 model, BUAA test set', 'buaa_visnir', [
        ('KDSR', 83.0, 86.8, 69.5),
        ('TRIVET', 93.9, 93.0, 80.9),
        ('IDR', 94.3, 93.4, 84.7),
        ('ADFL', 95.2, 95.3, 88.0),
        ('Light CNN', 96.5, 95.4, 86.7),
        ('PCFH w/o AWM', 97.4, 97.2, 89.6),
        ('PCFH w/o MIC', 98.2, 97.6, 91.3),
        ('PCFH', 98.4, 97.9, 92.4)]),
    # PCFH Table 4.
    *_rows('PCFH', 'Table 4', 'CASIA fold-1 model, Oulu-CASIA test set', 'oulu_casia_nir_vis', [
        ('KDSR', 66.9, 56.1, 31.9),
        ('TRIVET', 92.2, 67.9, 33.6),
        ('IDR', 94.3, 73.4, 46.2),
        ('ADFL', 95.5, 83.0, 60.7),
        ('Light CNN', 96.9, 93.7, 79.4),
        ('PCFH w/o AWM', 100.0, 96.63, 80.22),
        ('PCFH w/o MIC', 100.0, 97.63, 85.99),
        ('PCFH', 100.0, 97.7, 86.6)]),
    # NULL Table 1: CASIA NIR-VIS 2.0 View 2, mean rank-1 (Sec. 4.3). "pairwise" rows are
    # supervised methods; NULL's own settings and k-means train on shuffled, unpaired images.
    *_rows('NULL', 'Table 1', 'View 2, mean rank-1', 'casia_nir_vis2', [
        ('H2(LBP3) (pairwise)', 73.80),
        ('ADFL (pairwise)', 98.15),
        ('PACH (pairwise)', 98.90),
        ('DVR (pairwise)', 99.30),
        ('k-means', 24.61),
        ('NULL base', 69.41),
        ('NULL base+VAE', 75.70),
        ('NULL base+LGAN', 79.82),
        ('NULL base+VAE+LGAN', 84.23)]),
    # NULL Table 2 (its text gives H2(LBP3) 80 %, the table 70.80).
    *_rows('NULL', 'Table 2', 'mean rank-1', 'oulu_casia_nir_vis', [
        ('H2(LBP3) (pairwise)', 70.80),
        ('ADFL (pairwise)', 95.50),
        ('ADCANs (pairwise)', 99.80),
        ('PACH (pairwise)', 100.0),
        ('NULL base', 65.25),
        ('NULL base+VAE', 71.06),
        ('NULL base+LGAN', 76.07),
        ('NULL base+VAE+LGAN', 80.59)]),
    # NULL Table 3: CUFSF (sketch probes, photo gallery).
    *_rows('NULL', 'Table 3', 'mean rank-1', 'cufsf', [
        ('CDL (pairwise)', 85.35),
        ('RM (pairwise)', 91.34),
        ('RNC-10 (pairwise)', 99.44),
        ('NULL base', 65.92),
        ('NULL base+VAE', 71.45),
        ('NULL base+LGAN', 75.91),
        ('NULL base+VAE+LGAN', 80.03)]),
)


def rows(dataset: str) -> list[Row]:
  """The published rows measured on `dataset` (our builder's name), in the papers' order."""
  return [row for row in ROWS if row.dataset == dataset]
