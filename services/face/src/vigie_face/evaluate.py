"""`vigie face evaluate DATASET`: an ISO/IEC 19795-1 style accuracy and bias report.

DATASET is a folder of identities (`<identity>/<image>`). Every image (at most
`max_per_identity` per identity, plus every image a pairs file names) goes through the service's
own detector and embedder; the face nearest the image centre is used (`largest` to pick the
largest). Images without a face are failures to acquire (FTA), reported, and scored as
non-matches where a pairs protocol needs them.

Comparisons:
- genuine: every pair of images of one identity (within the cap);
- impostor: every pair of identities, one representative image each (the first acquired);
- a pairs file in LFW's format (View 2: folds of same / different pairs) also gives the LFW
  10-fold accuracy.
Figures: score distributions, FMR/FNMR at the thresholds of FMR 1e-2..1e-5, EER, a DET curve,
and with group labels the NIST IR 8280 per-group FMR/FNMR at one threshold fixed on a
reference group, with bootstrap intervals over identities. Names never appear in the output or
the logs: only counts and group labels.
"""

from __future__ import annotations

import html
import json
import math
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import cv2
import numpy as np
import numpy.typing as npt

from vigie_face.adapters.engine import Face, FaceEngine
from vigie_face.domain import evaluation as ev

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
FMR_TARGETS = (1e-2, 1e-3, 1e-4, 1e-5)
MAX_SIDE = 1280


class Progress:
    """A one-line progress bar on a terminal, a line per 10 % otherwise."""

    def __init__(self, total: int, label: str, out: TextIO = sys.stderr) -> None:
        self.total, self.label, self.out = max(total, 1), label, out
        self.done = 0
        self.started = self._last = time.monotonic()
        self._tty = out.isatty()
        self._decile = -1

    def step(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        fraction = self.done / self.total
        if self._tty and (now - self._last >= 0.5 or self.done == self.total):
            self._last = now
            rate = self.done / max(now - self.started, 1e-9)
            eta = (self.total - self.done) / max(rate, 1e-9)
            bar = "#" * int(30 * fraction)
            self.out.write(f"\r{self.label} [{bar:<30}] {self.done}/{self.total} "
                           f"{rate:.1f}/s ETA {eta:.0f}s ")
            self.out.flush()
        elif not self._tty and int(fraction * 10) > self._decile:
            self._decile = int(fraction * 10)
            self.out.write(f"{self.label}: {self.done}/{self.total} ({fraction:.0%})\n")
            self.out.flush()

    def close(self) -> None:
        if self._tty:
            self.out.write("\n")
        self.out.write(f"{self.label}: {self.done} in {time.monotonic() - self.started:.1f} s\n")


# ------------------------------------------------------------------------------ dataset
@dataclass
class Dataset:
    root: Path
    identities: list[str]
    images: list[Path]  # sorted by identity, then name
    owner: npt.NDArray[np.int64]  # identity index of each image
    skipped_beyond_cap: int = 0


def scan(root: Path, max_per_identity: int, must: set[Path] | None = None,
         only: bool = False) -> Dataset:
    """Images per identity (at most max_per_identity, plus those in `must`; with `only`, just
    those in `must`)."""
    must = must or set()
    identities = sorted(p.name for p in root.iterdir() if p.is_dir())
    images: list[Path] = []
    owner: list[int] = []
    skipped = 0
    for k, identity in enumerate(identities):
        files = sorted(p for p in (root / identity).iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if only:
            files = [p for p in files if p in must]
        kept = files[:max_per_identity] if max_per_identity else files
        extra = [p for p in files[len(kept):] if p in must]
        skipped += len(files) - len(kept) - len(extra)
        for p in kept + extra:
            images.append(p)
            owner.append(k)
    return Dataset(root, identities, images, np.asarray(owner, np.int64), skipped)


def read_pairs(path: Path, root: Path) -> tuple[list[tuple[Path, Path, bool, int]], set[Path]]:
    """LFW pairs format: a header `folds n`, then per fold n same-identity lines
    `name i j` and n different-identity lines `name1 i name2 j`."""
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    header = lines[0]
    folds, per = (int(header[0]), int(header[1])) if len(header) == 2 else (1, int(header[0]))
    pairs: list[tuple[Path, Path, bool, int]] = []

    def image(name: str, number: str) -> Path:
        return root / name / f"{name}_{int(number):04d}.jpg"

    for n, parts in enumerate(lines[1:]):
        fold = min(n // (2 * per), folds - 1)
        if len(parts) == 3:
            pairs.append((image(parts[0], parts[1]), image(parts[0], parts[2]), True, fold))
        elif len(parts) == 4:
            pairs.append((image(parts[0], parts[1]), image(parts[2], parts[3]), False, fold))
        else:
            raise ValueError(f"{path}: line {n + 2} is not a pair")
    return pairs, {p for a, b, _, _ in pairs for p in (a, b)}


# ---------------------------------------------------------------------------- embedding
def choose(faces: list[Face], width: int, height: int, how: str) -> Face | None:
    if not faces:
        return None
    if how == "largest":
        return max(faces, key=lambda f: f.w * f.h)
    cx, cy = width / 2, height / 2
    return min(faces, key=lambda f: (f.x + f.w / 2 - cx) ** 2 + (f.y + f.h / 2 - cy) ** 2)


def embed_one(engine: FaceEngine, path: Path, how: str) -> npt.NDArray[np.float32] | None:
    read = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if read is None:
        return None
    image = np.ascontiguousarray(read, dtype=np.uint8)
    height, width = image.shape[:2]
    if max(height, width) > MAX_SIDE:
        scale = MAX_SIDE / max(height, width)
        image = np.ascontiguousarray(cv2.resize(image, (round(width * scale),
                                                        round(height * scale))), dtype=np.uint8)
        height, width = image.shape[:2]
    face = choose(engine.detect(image), width, height, how)
    if face is None:
        return None
    vector: npt.NDArray[np.float32] = engine.embed(image, [face])[0]
    return vector


def embed_all(images: Sequence[Path], factory: Callable[[], FaceEngine], workers: int,
              how: str, progress: Progress) -> tuple[npt.NDArray[np.float32],
                                                     npt.NDArray[np.bool_]]:
    """Embeddings (n x dim; zero rows where acquisition failed) and the acquired mask."""
    engines: dict[int, FaceEngine] = {}
    import threading

    def work(index: int) -> tuple[int, npt.NDArray[np.float32] | None]:
        tid = threading.get_ident()
        if tid not in engines:
            engines[tid] = factory()
        return index, embed_one(engines[tid], images[index], how)

    first = factory()
    out = np.zeros((len(images), first.dim), np.float32)
    acquired = np.zeros(len(images), bool)
    cv2.setNumThreads(1)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for index, vector in pool.map(work, range(len(images)), chunksize=16):
            if vector is not None:
                out[index], acquired[index] = vector, True
            progress.step()
    progress.close()
    return out, acquired


# ------------------------------------------------------------------------------- groups
def load_groups(lists: Iterable[str], jsons: Iterable[str],
                identities: Sequence[str]) -> tuple[dict[str, dict[int, str]],
                                                    dict[str, int]]:
    """attribute -> {identity index: label}, and per attribute how many labelled identities
    were left out as ambiguous (several labels)."""
    index = {name: k for k, name in enumerate(identities)}
    seen: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for spec in lists:
        key, _, path = spec.partition("=")
        attribute, _, value = key.partition(":")
        if not (attribute and value and path):
            raise ValueError(f"--group-list {spec!r}: expected ATTRIBUTE:VALUE=FILE")
        for line in Path(path).read_text().splitlines():
            name = line.strip()
            if not name:
                continue
            stem = Path(name).stem
            identity = stem.rsplit("_", 1)[0] if Path(name).suffix else name
            if identity in index:
                seen[attribute][index[identity]].add(value)
    for spec in jsons:
        attribute, _, path = spec.partition("=")
        if not (attribute and path):
            raise ValueError(f"--group-json {spec!r}: expected ATTRIBUTE=FILE")
        for name, label in json.loads(Path(path).read_text()).items():
            labels = label if isinstance(label, list) else str(label).split(",")
            if name in index:
                seen[attribute][index[name]].update(x.strip() for x in labels if x.strip())
    groups: dict[str, dict[int, str]] = {}
    ambiguous: dict[str, int] = {}
    for attribute, per in seen.items():
        groups[attribute] = {k: next(iter(v)) for k, v in per.items() if len(v) == 1}
        ambiguous[attribute] = sum(1 for v in per.values() if len(v) > 1)
    return groups, ambiguous


# ------------------------------------------------------------------------------ scoring
@dataclass
class Comparisons:
    genuine: npt.NDArray[np.float32]
    genuine_owner: npt.NDArray[np.int64]  # identity index
    representative: dict[int, int]  # identity -> image index


def comparisons(vectors: npt.NDArray[np.float32], acquired: npt.NDArray[np.bool_],
                owner: npt.NDArray[np.int64], in_cap: npt.NDArray[np.bool_]) -> Comparisons:
    by_identity: dict[int, list[int]] = defaultdict(list)
    for i in np.flatnonzero(acquired & in_cap):
        by_identity[int(owner[i])].append(int(i))
    genuine: list[npt.NDArray[np.float32]] = []
    owners: list[npt.NDArray[np.int64]] = []
    for identity, rows in by_identity.items():
        if len(rows) >= 2:
            m = vectors[rows] @ vectors[rows].T
            upper = m[np.triu_indices(len(rows), k=1)]
            genuine.append(upper.astype(np.float32))
            owners.append(np.full(len(upper), identity, np.int64))
    representative = {identity: rows[0] for identity, rows in by_identity.items()}
    return Comparisons(np.concatenate(genuine) if genuine else np.zeros(0, np.float32),
                       np.concatenate(owners) if owners else np.zeros(0, np.int64),
                       representative)


def group_scores(name: str, members: Sequence[int], comp: Comparisons,
                 vectors: npt.NDArray[np.float32]) -> ev.GroupScores:
    members = [m for m in members if m in comp.representative]
    local = {identity: k for k, identity in enumerate(members)}
    keep = np.isin(comp.genuine_owner, np.asarray(members, np.int64))
    owners = np.asarray([local[int(o)] for o in comp.genuine_owner[keep]], np.int64)
    reps = vectors[[comp.representative[m] for m in members]]
    return ev.GroupScores(name, comp.genuine[keep], owners, (reps @ reps.T).astype(np.float32))


# ------------------------------------------------------------------------------- report
@dataclass
class Report:
    meta: dict[str, Any]
    sections: list[tuple[str, str]] = field(default_factory=list)  # (title, markdown)
    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (caption, file name)
    results: dict[str, Any] = field(default_factory=dict)


def fmt_rate(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    if x == 0:
        return "0"
    return f"{x:.2e}" if x < 1e-2 else f"{x:.4f}"


def md_table(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def html_table(rows: list[list[str]]) -> str:
    head, *body = rows
    out = ["<table><thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head)
           + "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body]
    return "".join(out) + "</tbody></table>"


def plot_det(curves: dict[str, tuple[Any, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import norm  # probit axes, as ISO/IEC 19795-1 draws DET curves

    fig, ax = plt.subplots(figsize=(6, 5))
    ticks = [1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]
    for label, (fmr, fnmr) in curves.items():
        keep = (fmr > 0) & (fnmr > 0) & (fmr < 1) & (fnmr < 1)
        ax.plot(norm.ppf(fmr[keep]), norm.ppf(fnmr[keep]), label=label)
    ax.set_xticks(norm.ppf(ticks), [f"{t:g}" for t in ticks])
    ax.set_yticks(norm.ppf(ticks), [f"{t:g}" for t in ticks])
    ax.set_xlim(norm.ppf(5e-6), norm.ppf(0.5))
    ax.set_ylim(norm.ppf(5e-5), norm.ppf(0.5))
    ax.set_xlabel("false match rate (FMR)")
    ax.set_ylabel("false non-match rate (FNMR)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title("DET curve")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scores(genuine: Any, impostor: Any, thresholds: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    bins = [float(b) for b in np.linspace(-0.4, 1.0, 141)]
    ax.hist(impostor, bins=bins, density=True, alpha=0.6, label=f"impostor ({len(impostor):,})")
    ax.hist(genuine, bins=bins, density=True, alpha=0.6, label=f"genuine ({len(genuine):,})")
    for label, t in thresholds.items():
        ax.axvline(t, linestyle="--", linewidth=0.8, color="k")
        ax.text(t, ax.get_ylim()[1] * 0.9, label, rotation=90, fontsize=7)
    ax.set_yscale("log")
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("density (log)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_markdown(report: Report) -> str:
    out = [f"# Face recognition evaluation: {report.meta['model_id']}", ""]
    out += [f"- {k}: {v}" for k, v in report.meta.items()]
    for title, body in report.sections:
        out += ["", f"## {title}", "", body]
    for caption, name in report.figures:
        out += ["", f"![{caption}]({name})"]
    return "\n".join(out) + "\n"


def render_html(report: Report) -> str:
    import re

    body = []
    for title, text in report.sections:
        body.append(f"<h2>{html.escape(title)}</h2>")
        for block in text.split("\n\n"):
            if block.startswith("|"):
                rows = [[c.strip() for c in ln.strip("|").split("|")]
                        for ln in block.splitlines() if not re.match(r"^\|(-+\|)+$", ln)]
                body.append(html_table(rows))
            else:
                body.append(f"<p>{html.escape(block)}</p>")
    figures = "".join(f"<figure><img src='{html.escape(n)}'><figcaption>{html.escape(c)}"
                      "</figcaption></figure>" for c, n in report.figures)
    meta = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>"
                   for k, v in report.meta.items())
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Face evaluation</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:"
            "collapse}td,th{border:1px solid #999;padding:2px 6px;text-align:right}</style>"
            f"</head><body><h1>Face recognition evaluation: {html.escape(report.meta['model_id'])}"
            f"</h1><ul>{meta}</ul>{''.join(body)}{figures}</body></html>")


# ---------------------------------------------------------------------------------- run
@dataclass
class Options:
    dataset: Path
    out: Path
    pairs: Path | None = None
    group_lists: list[str] = field(default_factory=list)
    group_jsons: list[str] = field(default_factory=list)
    reference: dict[str, str] = field(default_factory=dict)  # attribute -> reference value
    target_fmr: float = 1e-3
    max_per_identity: int = 10
    workers: int = 2
    bootstrap: int = 1000
    seed: int = 0
    face: str = "centre"
    formats: tuple[str, ...] = ("md", "html")
    pairs_only: bool = False


def evaluate(options: Options, factory: Callable[[], FaceEngine],
             log: TextIO = sys.stderr) -> Report:
    started = time.monotonic()
    pairs, must = (read_pairs(options.pairs, options.dataset) if options.pairs
                   else ([], set()))
    data = scan(options.dataset, options.max_per_identity, must, options.pairs_only)
    if not data.images:
        raise ValueError(f"{options.dataset}: no identity folder with images")
    engine = factory()
    log.write(f"{len(data.identities)} identities, {len(data.images)} images "
              f"({data.skipped_beyond_cap} beyond the cap of {options.max_per_identity}); "
              f"model {engine.model_id}\n")
    vectors, acquired = embed_all(data.images, factory, options.workers, options.face,
                                  Progress(len(data.images), "embedding", log))
    index = {p: k for k, p in enumerate(data.images)}
    # images beyond the cap that only the pairs file needed do not enter the large-scale sets
    per_identity = Counter[int]()
    in_cap = np.zeros(len(data.images), bool)
    for k, o in enumerate(data.owner):
        per_identity[int(o)] += 1
        in_cap[k] = not options.max_per_identity or per_identity[int(o)] <= options.max_per_identity
    comp = comparisons(vectors, acquired, data.owner, in_cap)
    everyone = group_scores("all", sorted(comp.representative), comp, vectors)
    impostor = everyone.impostor_scores()
    genuine = comp.genuine
    fta = 1 - float(acquired.mean())
    report = Report(meta={
        "model_id": engine.model_id, "dataset": options.dataset.name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "identities": len(data.identities), "images": len(data.images),
        "failure_to_acquire": f"{fta:.4f} ({int((~acquired).sum())} images)",
        "genuine_comparisons": f"{len(genuine):,}", "impostor_comparisons": f"{len(impostor):,}",
        "face_choice": options.face, "max_images_per_identity": options.max_per_identity,
    })
    results: dict[str, Any] = {"model_id": engine.model_id, "template_model_id":
                               engine.template_model_id, "fta": fta,
                               "genuine": len(genuine), "impostor": len(impostor)}
    # FMR / FNMR at thresholds
    rows = [["target FMR", "threshold", "FMR", "FNMR", "resolvable"]]
    calibration = {}
    thresholds = {}
    for target in FMR_TARGETS:
        t = ev.threshold_at_fmr(impostor, target)
        fmr, fnmr = ev.fmr_fnmr(genuine, impostor, [t])
        ok = ev.resolvable(target, len(impostor))
        rows.append([f"{target:g}", f"{t:.4f}", fmt_rate(float(fmr[0])), fmt_rate(float(fnmr[0])),
                     "yes" if ok else "no (too few impostor comparisons)"])
        if ok:
            calibration[target] = round(t, 4)
            thresholds[f"FMR {target:g}"] = t
    rate, at = ev.eer(genuine, impostor)
    rows.append(["EER", f"{at:.4f}", fmt_rate(rate), fmt_rate(rate), ""])
    results["calibration"] = calibration
    results["eer"] = {"rate": rate, "threshold": at}
    quantiles = [["scores", "n", "1 %", "5 %", "50 %", "95 %", "99 %"]]
    for name, s in (("genuine", genuine), ("impostor", impostor)):
        q = np.quantile(s, [0.01, 0.05, 0.5, 0.95, 0.99])
        quantiles.append([name, f"{len(s):,}", *(f"{v:.3f}" for v in q)])
    report.sections.append(("Score distributions", md_table(quantiles)))
    report.sections.append(("FMR and FNMR at thresholds (all identities)", md_table(rows)))
    curves = {"all": ev.det_points(genuine, impostor, 600)}
    # pairs protocol
    if pairs:
        scores, same, folds = [], [], []
        missing = 0
        for a, b, is_same, fold in pairs:
            ia, ib = index.get(a), index.get(b)
            if ia is None or ib is None or not (acquired[ia] and acquired[ib]):
                missing += 1
                scores.append(-1.0)
            else:
                scores.append(float(vectors[ia] @ vectors[ib]))
            same.append(is_same)
            folds.append(fold)
        acc = ev.fold_accuracy(scores, same, folds)
        s, y = np.asarray(scores), np.asarray(same)
        pair_rows = [["pairs", "folds", "accuracy (mean +- sd)", "pairs with an FTA image",
                      "mean threshold"],
                     [f"{len(pairs):,}", str(len(set(folds))), f"{acc.mean:.4f} +- {acc.std:.4f}",
                      str(missing), f"{np.mean(acc.thresholds):.4f}"]]
        title = f"Pairs protocol ({Path(options.pairs or '').name})"
        report.sections.append((title, md_table(pair_rows)
                                + "\n\nA pair with an image where no face was found scores -1 "
                                "(a failure to acquire counts as a non-match)."))
        results["pairs"] = {"accuracy": acc.mean, "std": acc.std, "fta_pairs": missing,
                            "fmr_fnmr_at_fold_threshold": [
                                float(np.mean(s[~y] >= np.mean(acc.thresholds))),
                                float(np.mean(s[y] < np.mean(acc.thresholds)))]}
    # groups
    groups, ambiguous = load_groups(options.group_lists, options.group_jsons, data.identities)
    results["groups"] = {}
    for attribute, labels in sorted(groups.items()):
        members: dict[str, list[int]] = defaultdict(list)
        for identity, label in labels.items():
            members[label].append(identity)
        scored = [group_scores(label, ids, comp, vectors) for label, ids in sorted(members.items())]
        scored = [g for g in scored if g.identities >= 2]
        if not scored:
            continue
        reference = options.reference.get(attribute) or max(scored,
                                                             key=lambda g: g.identities).name
        threshold, rates = ev.differentials(scored, reference, options.target_fmr,
                                            options.bootstrap, options.seed)
        table = [["group", "identities", "genuine", "impostor", "FMR [95 % CI]", "FMR ratio",
                  "FNMR [95 % CI]", "FNMR ratio"]]
        for r in rates:
            table.append([r.name + (" (reference)" if r.name == reference else ""),
                          f"{r.identities:,}", f"{r.genuine_pairs:,}", f"{r.impostor_pairs:,}",
                          f"{fmt_rate(r.fmr.value)} [{fmt_rate(r.fmr.low)}, "
                          f"{fmt_rate(r.fmr.high)}]",
                          "n/a" if math.isnan(r.fmr_ratio) else f"{r.fmr_ratio:.2f}",
                          f"{fmt_rate(r.fnmr.value)} [{fmt_rate(r.fnmr.low)}, "
                          f"{fmt_rate(r.fnmr.high)}]",
                          "n/a" if math.isnan(r.fnmr_ratio) else f"{r.fnmr_ratio:.2f}"])
            if r.genuine_pairs:
                g = next(s for s in scored if s.name == r.name)
                curves[f"{attribute}={r.name}"] = ev.det_points(g.genuine, g.impostor_scores(),
                                                                400)
        thin = [r.name for r in rates if not ev.resolvable(options.target_fmr, r.impostor_pairs)]
        note = (f"Threshold {threshold:.4f}: FMR {options.target_fmr:g} on the reference group "
                f"'{reference}' (NIST IR 8280). FMR from impostor pairs inside each group; "
                f"intervals: {options.bootstrap} bootstrap resamples of identities. "
                f"{ambiguous.get(attribute, 0)} identities with several labels left out; "
                f"{len(data.identities) - len(labels) - ambiguous.get(attribute, 0)} unlabelled."
                + (f" Too few impostor pairs to show an FMR of {options.target_fmr:g} (fewer "
                   f"than {10 / options.target_fmr:,.0f}): {', '.join(thin)}." if thin else ""))
        report.sections.append((f"Per group: {attribute}", md_table(table) + "\n\n" + note))
        results["groups"][attribute] = {"threshold": threshold, "reference": reference,
                                        "rates": [{"group": r.name, "identities": r.identities,
                                                   "genuine": r.genuine_pairs,
                                                   "impostor": r.impostor_pairs,
                                                   "fmr": vars(r.fmr), "fnmr": vars(r.fnmr),
                                                   "fmr_ratio": r.fmr_ratio,
                                                   "fnmr_ratio": r.fnmr_ratio} for r in rates]}
    options.out.mkdir(parents=True, exist_ok=True)
    plot_det(curves, options.out / "det.png")
    plot_scores(genuine, impostor, thresholds, options.out / "scores.png")
    report.figures += [("DET curve", "det.png"), ("Score distributions", "scores.png")]
    report.meta["elapsed_s"] = round(time.monotonic() - started, 1)
    report.results = results
    if "md" in options.formats:
        (options.out / "report.md").write_text(render_markdown(report))
    if "html" in options.formats:
        (options.out / "report.html").write_text(render_html(report))
    (options.out / "results.json").write_text(json.dumps(
        {"meta": report.meta, **results}, indent=2, default=float))
    os.sync()
    return report
